"""What runs the models: the analysis inputs, attention capture through the hook points and
head ablations (torch). The causal interventions are :mod:`.causal`, shipped as an artifact."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from physdocs.analysis.hooks import LayerRecorder, zero_head
from physdocs.analysis.records import (
    DECODER_COMPONENTS,
    ENCODER_COMPONENTS,
    ROLE_TYPES,
    AnalysisError,
    _about,
)
from physdocs.analysis.schema import AnalysisConfig, component
from physdocs.benchmark import Equation
from physdocs.constants import DEFAULT_SEED
from physdocs.decoding.diffusion import (
    corrupt,
    mask_share,
)
from physdocs.grammar import MASK_ID, PAD_ID, TOKEN_TO_ID, token_type
from physdocs.models import PhysDiffuserPlus, SystemConfig
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint


@dataclass
class _Inputs:
    equations: list[Equation]
    obs: torch.Tensor  # [E, 50, 160] what the model reads: each column scaled as at inference
    canvas: torch.Tensor  # [E, max_len] BOS ... EOS PAD ...
    lengths: list[int]  # real tokens per equation (BOS..EOS)
    support: list  # per equation: the observations the model reads (original units)
    test: list  # per equation: held-out points for scoring a derivation
    scalings: list  # per equation: the power-of-two scaling applied before encoding


#: Observations per equation (the evaluation's support size) and held-out points for scoring.
N_POINTS, N_TEST = 50, 200


def _inputs(equations: list[Equation], seed: int, max_len: int) -> _Inputs:
    """The evaluation's support points of each equation, scaled and encoded as ``derive`` does."""
    from physdocs.decoding.scaling import choose_scaling
    from physdocs.observations import encode_observations
    from physdocs.points import equation_points

    obs, canvas, lengths = [], torch.full((len(equations), max_len), PAD_ID, dtype=torch.long), []
    supports, tests, scalings = [], [], []
    for i, eq in enumerate(equations):
        with _about(eq):
            try:
                support, test = equation_points(eq, seed, N_POINTS, N_TEST)
            except ValueError as exc:
                raise AnalysisError(f"equation {eq.id} ({eq.name}): {exc}") from exc
            scaling = choose_scaling(support.x, support.y, [v.name for v in eq.variables], eq.output)
            obs.append(torch.from_numpy(encode_observations(*scaling.apply(support.x, support.y))))
            ids = [TOKEN_TO_ID[t] for t in eq.tokens]
            canvas[i, : len(ids)] = torch.tensor(ids)
            lengths.append(len(ids))
            supports.append(support)
            tests.append(test)
            scalings.append(scaling)
    return _Inputs(equations, torch.stack(obs), canvas, lengths, supports, tests, scalings)


def _load_models(cfg: AnalysisConfig) -> tuple[PhysDiffuserPlus, PhysDiffuserPlus, dict, str]:
    path = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
    ckpt = load_checkpoint(path)
    torch.manual_seed(cfg.seed)
    control = PhysDiffuserPlus(ckpt.config).eval()
    return ckpt.model.eval(), control, ckpt.meta, str(path)


#: How the maps are captured; every page that shows a map says so.
CAPTURE_NOTE = (
    "Diffuser maps are captured where the model works: on the true canvas at the noise levels "
    "of training (teacher-forced denoising; a seeded share t of the equation's positions masked, "
    "BOS, EOS and the padding after it given as when decoding, for each t in {levels}), averaged "
    "over those levels. The AR decoder is teacher-forced on the true tokens. Trajectories are the "
    "model's own argmax decoding: its length head places EOS, and every step goes to the equation."
)


def masked_canvas(canvas: torch.Tensor, t: float, generator: torch.Generator) -> torch.Tensor:
    """The canvas with ``ceil(t * n)`` of its ``n`` equation positions masked, as in training."""
    return mask_share(canvas, torch.full((canvas.shape[0],), float(t)), generator)


def _is_pattern(name: str) -> bool:
    return name.endswith("hook_pattern")


@torch.no_grad()
def capture(model: PhysDiffuserPlus, inp: _Inputs, noise_levels=(0.25, 0.5, 0.75), seed: int = DEFAULT_SEED
            ) -> dict[str, np.ndarray]:
    """All attention patterns, batched over equations: component -> [E, layer, H, q, k].

    The diffuser's maps are the mean over ``noise_levels`` of teacher-forced denoising passes
    (:func:`masked_canvas`); the encoder and the AR decoder do not depend on the noise.
    """
    E, L = inp.canvas.shape
    n_ar = max(inp.lengths)
    ar_tokens = inp.canvas[:, :n_ar]
    gen = torch.Generator().manual_seed(seed)
    out: dict[str, np.ndarray] = {}
    levels = tuple(noise_levels) or (0.0,)
    for k, level in enumerate(levels):
        canvas = masked_canvas(inp.canvas, level, gen) if level > 0 else inp.canvas
        _, cache = model.run_with_cache(inp.obs, canvas, torch.full((E,), float(level)), ar_tokens,
                                        names_filter=_is_pattern)
        for name, pattern in DECODER_COMPONENTS.items():
            if k and not name.startswith("diffuser"):
                continue
            maps = np.stack([cache[pattern.format(layer=i)].numpy() for i in range(model.cfg.diffuser.n_layers)], 1)
            out[name] = maps / len(levels) + out.get(name, 0.0) if name.startswith("diffuser") else maps
        if k == 0:
            out.update({name: cache[hook].numpy()[:, None] for name, hook in ENCODER_COMPONENTS.items()})
    return out


@torch.no_grad()
def decoder_head_importance(model: PhysDiffuserPlus, inp: _Inputs) -> list[list[float]]:
    """AR decoder: loss increase when one causal self-attention head's pattern is zeroed (Michel et al. 2019).

    The memory is encoded once; an ablation in layer ``l`` re-runs the decoder from layer ``l``
    (:meth:`~physdocs.models.decoders.AutoregressiveDecoder.forward_from`).
    """
    import torch.nn.functional as F

    n_ar = max(inp.lengths)
    ar_in, ar_out = inp.canvas[:, : n_ar - 1], inp.canvas[:, 1:n_ar]
    mem = model.encode(inp.obs)
    self_mask = ar_in != PAD_ID

    def loss(logits: torch.Tensor) -> float:
        return float(F.cross_entropy(logits.flatten(0, 1), ar_out.flatten(), ignore_index=PAD_ID))

    resid = LayerRecorder(model, "ar_decoder")
    with resid.recording():
        base = loss(model.ar_decoder(ar_in, mem.keys, memory_mask=mem.mask)[0])
    grid = []
    for layer in range(model.cfg.ar.n_layers):
        row = []
        for head in range(model.cfg.ar.n_heads):
            with model.hooks([(component("decoder.self").hook_name(layer), zero_head(head))]):
                logits = model.ar_decoder.forward_from(layer, resid[layer], mem.keys, memory_mask=mem.mask,
                                                       self_mask=self_mask)
            row.append(round(loss(logits) - base, 5))
        grid.append(row)
    return grid


@torch.no_grad()
def diffuser_head_ablation(model: PhysDiffuserPlus, inp: _Inputs, seed: int) -> tuple[list[list[float]], np.ndarray]:
    """Zero each diffuser self-attention head once; two measures come from the same passes.

    The diffuser denoises the true canvas at training noise (masks from ``seed``).

    * importance ``[layer][head]``: the increase of the cross-entropy on the masked real
      tokens (Michel et al. 2019; the PAD tail is left out, as the AR decoder's loss leaves it);
    * roles: for every masked real token, the cross-entropy with the head removed minus
      without, summed per equation and type: ``[E, layer, head, type]`` sums and ``[E, type]``
      counts, as one array ``[E, layer + 1, head, type]`` whose extra layer holds the counts
      (in its first head).
    """
    import torch.nn.functional as F

    noised = corrupt(inp.canvas, torch.Generator().manual_seed(seed))
    noisy, t = noised.noisy, noised.t
    mem = model.encode(inp.obs)
    E, L = inp.canvas.shape
    masked = noisy == MASK_ID
    real = torch.arange(L)[None, :] < torch.tensor(inp.lengths)[:, None]
    target = masked & real  # (E, L)
    type_of = torch.tensor([[ROLE_TYPES.index(token_type(tok)) for tok in eq.tokens] + [0] * (L - len(eq.tokens))
                            for eq in inp.equations])  # (E, L)

    def ce(logits: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(logits.transpose(1, 2), inp.canvas, reduction="none")  # (E, L)

    def per_type(x: torch.Tensor) -> np.ndarray:
        out = np.zeros((E, len(ROLE_TYPES)))
        for k in range(len(ROLE_TYPES)):
            out[:, k] = (x * (target & (type_of == k))).sum(1).numpy()
        return out

    def loss(x: torch.Tensor) -> float:  # mean over masked real tokens (PAD excluded, as for the AR decoder)
        return float(x[target].mean()) if target.any() else 0.0

    resid = LayerRecorder(model, "diffuser")
    with resid.recording():
        base = ce(model.diffuser(noisy, mem.keys, t, memory_mask=mem.mask)[0])
    n_layers, n_heads = model.cfg.diffuser.n_layers, model.cfg.diffuser.n_heads
    roles = np.zeros((E, n_layers + 1, n_heads, len(ROLE_TYPES)))
    roles[:, n_layers, 0] = per_type(torch.ones_like(base))
    grid = []
    for layer in range(n_layers):
        row = []
        for head in range(n_heads):
            with model.hooks([(component("diffuser.self").hook_name(layer), zero_head(head))]):
                ablated = ce(model.diffuser.forward_from(layer, resid[layer], mem.keys, memory_mask=mem.mask,
                                                         self_mask=noisy != PAD_ID))
            roles[:, layer, head] = per_type(ablated - base)
            row.append(round(loss(ablated) - loss(base), 5))
        grid.append(row)
    return grid, roles


def single_slot_check(inp: _Inputs, seed: int) -> dict:
    """The seed's one-position memory: every cross-attention weight is exactly 1 (decision 1)."""
    torch.manual_seed(seed)
    model = PhysDiffuserPlus(SystemConfig(memory="pooled")).eval()
    maps = capture(model, inp)
    cross = np.concatenate([maps["diffuser.cross"].ravel(), maps["decoder.cross"].ravel()])
    n_maps = maps["diffuser.cross"].shape[0] * 2 * model.cfg.diffuser.n_layers
    return {"max_abs_deviation_from_one": float(np.abs(cross - 1.0).max()), "n_maps": int(n_maps),
            "n_keys": int(maps["diffuser.cross"].shape[-1])}
