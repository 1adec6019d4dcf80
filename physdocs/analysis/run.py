"""One analysis run: trained model and random-initialised control over the benchmark.

``run_analysis(cfg) -> (results, arrays)``: ``results`` is plain JSON-able data (entropy,
token-type attention, trajectories, head importance, tested claims); ``arrays`` holds the
captured attention maps, ``"{model}/{eq_id}/{component}" -> [head, query, key]``, trimmed to
real positions. Plots and pages consume these; nothing here draws or renders.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from physdocs.analysis import findings as F
from physdocs.analysis import metrics as M
from physdocs.analysis import schema as S
from physdocs.analysis.schema import MODELS, AnalysisConfig
from physdocs.analysis.split import split_rows
from physdocs.analysis.stats import bootstrap_ci
from physdocs.benchmark import TIERS, Equation, load_benchmark
from physdocs.constants import DEFAULT_SEED
from physdocs.decoding.diffusion import (
    DiffusionConfig,
    corrupt,
    diffusion_decode,
    mask_share,
    trajectory_stats,
)
from physdocs.errors import InputError
from physdocs.grammar import ARITY, MASK_ID, PAD_ID, TOKEN_TO_ID, token_type
from physdocs.models import PhysDiffuserPlus, SystemConfig
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint, metrics_log, sha256

ENCODER_COMPONENTS = {c.id: c.hook for c in S.COMPONENTS if c.kind == "encoder"}
DECODER_COMPONENTS = {c.id: c.hook for c in S.COMPONENTS if c.kind != "encoder"}
COMPONENTS = S.COMPONENT_IDS

SEED_ENTROPY_BY_TIER = {"trivial": 1.778, "simple": 2.255, "moderate": 2.327, "complex": 2.826, "multi_step": 2.909}


class AnalysisError(InputError, RuntimeError):
    """An equation or input the analysis cannot process; names the item and the fix."""


# ----------------------------------------------------------------- inputs


@dataclass
class _Inputs:
    equations: list[Equation]
    obs: torch.Tensor  # [E, 50, 160] what the model reads: each column scaled as at inference
    canvas: torch.Tensor  # [E, max_len] BOS ... EOS PAD ...
    lengths: list[int]  # real tokens per equation (BOS..EOS)
    support: list  # per equation: the observations the model reads (original units)
    test: list  # per equation: held-out points for scoring a derivation
    scalings: list  # per equation: the power-of-two scaling applied before encoding


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


#: Observations per equation (the evaluation's support size) and held-out points for scoring.
N_POINTS, N_TEST = 50, 200


@contextmanager
def _about(eq: Equation) -> Iterator[None]:
    """Per-equation work: an unexpected exception becomes an :class:`AnalysisError` naming ``eq``."""
    try:
        yield
    except AnalysisError:
        raise
    except Exception as exc:
        raise AnalysisError(
            f"equation {eq.id} ({eq.name}): the analysis failed ({type(exc).__name__}: {exc}). "
            "Fix: leave it out (PHYSDOCS_EQUATIONS or the config's equation_ids) and report the error "
            "with its traceback (`mkdocs build --verbose` prints it)"
        ) from exc


def _load_models(cfg: AnalysisConfig) -> tuple[PhysDiffuserPlus, PhysDiffuserPlus, dict, str]:
    path = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
    ckpt = load_checkpoint(path)
    torch.manual_seed(cfg.seed)
    control = PhysDiffuserPlus(ckpt.config).eval()
    return ckpt.model.eval(), control, ckpt.meta, str(path)


# ----------------------------------------------------------------- capture


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


def _trim(component: str, a: np.ndarray, n: int) -> np.ndarray:
    """[layer, H, q, k] -> real query rows (and real token keys for self-attention)."""
    if component.startswith("encoder"):
        return a
    if component.endswith("self"):
        return a[:, :, :n, :n]
    return a[:, :, :n, :]


# ----------------------------------------------------------------- per-equation metrics


def visible_rows(component: str, a: np.ndarray, n: int) -> np.ndarray:
    """The rows a statistic reads, over keys that exist, each summing to 1.

    Decoder rows are the ``n`` real tokens (BOS .. EOS). Self-attention keys are those same
    tokens: the diffuser's PAD tail is cut off and each row renormalised (its PAD mass is
    reported apart, :func:`pad_mass`); the AR decoder's causal rows already sum to 1 over
    their prefix. Cross-attention keys are all memory slots; encoder maps are whole.
    """
    if component.startswith("encoder"):
        return a
    if component.endswith("self"):
        return M.restrict_keys(a[..., :n, :], n)[0]
    return a[..., :n, :]


def pad_mass(a: np.ndarray, n: int) -> float:
    """Mean mass the diffuser's real-token rows put on the PAD tail (keys ``>= n``)."""
    return float(M.restrict_keys(a[..., :n, :], n)[1].mean())


def _entropies(component: str, a: np.ndarray, n: int) -> tuple[float, float, list[list[float]]]:
    """Entropy of each row over the keys that exist (see :func:`visible_rows`)."""
    causal = component == "decoder.self"
    rows = visible_rows(component, a, n)
    nats = float(np.nanmean(M.row_entropy(rows, causal=causal)))
    norm_rows = M.normalised_row_entropy(rows, causal=causal)  # [layer, H, q]
    head = np.nanmean(norm_rows, axis=-1)  # [layer, H]
    return nats, float(np.nanmean(norm_rows)), head.round(5).tolist()


def _uniform_entropy(component: str, a: np.ndarray, n: int) -> float:
    """Entropy of uniform attention over the same visible keys (causal rows: the prefix)."""
    causal = component == "decoder.self"
    rows = visible_rows(component, a, n)
    u = M.uniform_attention(rows.shape[-2], rows.shape[-1], causal=causal)
    return float(np.nanmean(M.row_entropy(u, causal=causal)))


def _received(component: str, a: np.ndarray, n: int, tokens: list[str]) -> dict[str, dict[str, float]]:
    """Share of self-attention each token type receives (sums to 1), its uniform baseline, their ratio."""
    mean_map = visible_rows(component, a, n).mean(axis=(0, 1))  # [q, k]
    types = [token_type(t) for t in tokens]
    got = M.attention_received_by_type(mean_map, types)
    base = M.causal_uniform_share(types) if component == "decoder.self" else M.uniform_share(types)
    return {
        "received": {k: round(v, 5) for k, v in got.items()},
        "uniform": {k: round(v, 5) for k, v in base.items()},
        "ratio": {k: round(v, 5) for k, v in M.received_ratio(got, base).items()},
    }


def _equation_record(eq: Equation, maps: dict[str, np.ndarray], n: int, traj) -> dict:
    entropy, head_entropy, received = {}, {}, {}
    for comp, a in maps.items():
        nats, norm, head = _entropies(comp, a, n)
        entropy[comp] = {"nats": round(nats, 5), "normalised": round(norm, 5)}
        head_entropy[comp] = head
        if comp in ("diffuser.self", "decoder.self"):
            received[comp] = _received(comp, a, n, eq.tokens)
    cross = maps["diffuser.cross"][:, :, :n, :]
    tokens = traj.trajectory_tokens
    recorded = traj.trajectory()
    return {
        "entropy": entropy,
        "head_entropy": head_entropy,
        "received_by_type": received,
        "pad_mass": {"mean": round(pad_mass(maps["diffuser.self"], n), 5),
                     "last_layer": round(pad_mass(maps["diffuser.self"][-1:], n), 5)},
        "cross_z_mass": round(float(cross[..., -1].mean()), 5),
        "cross_obs_concentration": round(M.observation_selectivity(cross[..., :-1]), 5),
        "inducing_specialisation": round(M.inducing_specialisation(maps["encoder.isab1.mab1"][0]), 5),
        "inducing_coverage": round(M.argmax_coverage(maps["encoder.isab1.mab1"][0]), 5),
        "trajectory": {
            "tokens": recorded["tokens"],
            "confidence": recorded["confidence"],
            "final": traj.tokens,
            # over the equation's positions: BOS, EOS and the PAD after it are given, never decoded
            "flicker_rate": _none_if_nan(M.flicker_rate(tokens[:, 1:max(traj.eos_position, 2)], MASK_ID)),
            **trajectory_stats(tokens).to_json(),
            "confidence_drop_rate": _none_if_nan(M.confidence_drop_rate(traj.confidence)),
            "resolution_steps": M.resolution_steps(tokens, MASK_ID).tolist(),
        },
    }


def _none_if_nan(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 5)


# ----------------------------------------------------------------- head importance


def _zero_head(head: int):
    """A hook that zeroes one head's attention pattern ``[B, H, q, k]``."""

    def ablate(x, point):
        x = x.clone()
        x[:, head] = 0
        return x

    return ablate


class _Residuals(dict):
    """``{layer: residual stream entering it}`` of one decoder, recorded during a pass."""

    def __init__(self, model: PhysDiffuserPlus, part: str):
        super().__init__()
        self.model, self.part = model, part

    def recording(self):
        def save(x: torch.Tensor, point) -> None:
            self[int(point.name.split(".")[2])] = x

        return self.model.hooks([(lambda n: n.startswith(f"{self.part}.layers.") and n.endswith("hook_resid_pre"),
                                  save)])


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

    resid = _Residuals(model, "ar_decoder")
    with resid.recording():
        base = loss(model.ar_decoder(ar_in, mem.keys, memory_mask=mem.mask)[0])
    grid = []
    for layer in range(model.cfg.ar.n_layers):
        row = []
        for head in range(model.cfg.ar.n_heads):
            with model.hooks([(DECODER_COMPONENTS["decoder.self"].format(layer=layer), _zero_head(head))]):
                logits = model.ar_decoder.forward_from(layer, resid[layer], mem.keys, memory_mask=mem.mask,
                                                       self_mask=self_mask)
            row.append(round(loss(logits) - base, 5))
        grid.append(row)
    return grid


ROLE_TYPES = S.TOKEN_TYPES


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

    resid = _Residuals(model, "diffuser")
    with resid.recording():
        base = ce(model.diffuser(noisy, mem.keys, t, memory_mask=mem.mask)[0])
    n_layers, n_heads = model.cfg.diffuser.n_layers, model.cfg.diffuser.n_heads
    roles = np.zeros((E, n_layers + 1, n_heads, len(ROLE_TYPES)))
    roles[:, n_layers, 0] = per_type(torch.ones_like(base))
    grid = []
    for layer in range(n_layers):
        row = []
        for head in range(n_heads):
            with model.hooks([(DECODER_COMPONENTS["diffuser.self"].format(layer=layer), _zero_head(head))]):
                ablated = ce(model.diffuser.forward_from(layer, resid[layer], mem.keys, memory_mask=mem.mask,
                                                         self_mask=noisy != PAD_ID))
            roles[:, layer, head] = per_type(ablated - base)
            row.append(round(loss(ablated) - loss(base), 5))
        grid.append(row)
    return grid, roles


# ----------------------------------------------------------------- tiers and claims


def _tier_tables(records: list[dict], equations: list[Equation], uniform: list[dict], n_boot: int, rng) -> dict:
    entropy_rows, type_rows = [], []
    for tier in TIERS:
        idx = [i for i, e in enumerate(equations) if e.tier == tier]
        if not idx:
            continue
        for comp in COMPONENTS:
            for model in MODELS:
                nats = [records[i][model]["entropy"][comp]["nats"] for i in idx]
                norm = [records[i][model]["entropy"][comp]["normalised"] for i in idx]
                n_est, n_lo, n_hi = bootstrap_ci(nats, n_boot=n_boot, rng=rng)
                z_est, z_lo, z_hi = bootstrap_ci(norm, n_boot=n_boot, rng=rng)
                entropy_rows.append({
                    "tier": tier, "model": model, "component": comp, "n": len(idx),
                    "nats": round(n_est, 4), "normalised": round(z_est, 4),
                    "nats_ci": [round(n_lo, 4), round(n_hi, 4)], "normalised_ci": [round(z_lo, 4), round(z_hi, 4)],
                })
            u = float(np.mean([uniform[i][comp] for i in idx]))
            entropy_rows.append({
                "tier": tier, "model": "uniform", "component": comp, "n": len(idx), "nats": round(u, 4),
                "normalised": 1.0, "nats_ci": [round(u, 4), round(u, 4)], "normalised_ci": [1.0, 1.0],
            })
            if comp not in ("diffuser.self", "decoder.self"):
                continue
            # Received and uniform are mean shares over the tier's equations (each sums to 1
            # over the types, absent types counting 0); ratio = received / uniform.
            for model in MODELS:
                for typ in ("binary", "unary", "variable", "constant", "special"):
                    got = [records[i][model]["received_by_type"][comp]["received"].get(typ, 0.0) for i in idx]
                    base = [records[i][model]["received_by_type"][comp]["uniform"].get(typ, 0.0) for i in idx]
                    if not any(base):
                        continue
                    type_rows.append({
                        "tier": tier, "model": model, "component": comp, "type": typ,
                        "received": round(float(np.mean(got)), 4),
                        "uniform_share": round(float(np.mean(base)), 4),
                        "ratio": round(float(np.mean(got)) / float(np.mean(base)), 4),
                    })
    keys_rows = []
    for tier in TIERS:
        idx = [i for i, e in enumerate(equations) if e.tier == tier]
        for model in MODELS if idx else ():
            keys_rows.append({
                "tier": tier, "model": model, "n": len(idx),
                "pad_mass": round(float(np.mean([records[i][model]["pad_mass"]["mean"] for i in idx])), 4),
                "pad_mass_last_layer": round(float(np.mean([records[i][model]["pad_mass"]["last_layer"]
                                                            for i in idx])), 4),
                "z_mass": round(float(np.mean([records[i][model]["cross_z_mass"] for i in idx])), 4),
                "obs_concentration": round(float(np.mean([records[i][model]["cross_obs_concentration"]
                                                          for i in idx])), 4),
            })
    return {"entropy": entropy_rows, "token_type": type_rows, "keys": keys_rows}


def _causal(trained, control, inp: _Inputs, trajectories, cfg: AnalysisConfig) -> dict:
    """The interventions of :mod:`.causal` on both models; per-equation arrays kept for the findings."""
    from physdocs.analysis import causal as K

    score = K.success_scorer(inp.support, inp.test, inp.scalings, seed=cfg.seed)
    causal_inp = K.CausalInputs(inp.obs, inp.canvas, inp.lengths, score)
    models = {"trained": trained, "control": control}
    with torch.no_grad():
        memories = {m: model.encode(inp.obs) for m, model in models.items()}
    clean = {m: np.array([score(i, r.tokens) for i, r in enumerate(trajectories[m])]) for m in models}
    return K.causal_results(models, memories, causal_inp, clean, levels=cfg.noise_levels,
                            steps=cfg.diffusion_steps, seed=cfg.seed, n_boot=cfg.n_boot)


def _summary(causal: dict | None) -> dict | None:
    """The causal results without their per-equation arrays (those feed the findings only)."""
    if causal is None:
        return None
    out = {k: v for k, v in causal.items() if k != "models"}
    out["models"] = {m: {k: v for k, v in r.items() if k != "per_equation"} for m, r in causal["models"].items()}
    return out


def _evidence(records, equations, maps_by_model, lengths, trajectories, roles, causal=None) -> F.Evidence:
    """The arrays the registered findings are computed from (:class:`~physdocs.analysis.findings.Evidence`)."""
    types, groups = [], []
    for i, eq in enumerate(equations):
        types += [token_type(t) for t in eq.tokens]
        groups += [i] * lengths[i]

    def model_evidence(m: str) -> F.ModelEvidence:
        conc, ratio, depth, step, position, step_group = [], [], [], [], [], []
        for i in range(len(equations)):
            n = lengths[i]
            # Concentration over the observation keys alone: the pooled z slot is reported apart.
            cross = maps_by_model[m][i]["diffuser.cross"][:, :, :n, :-1]  # [layer, H, q, points]
            obs_only = M.restrict_keys(cross, cross.shape[-1])[0].mean(axis=(0, 1))  # [q, points]
            conc += M.row_concentration(obs_only).tolist()
            self_map = visible_rows("diffuser.self", maps_by_model[m][i]["diffuser.self"], n).mean(axis=(0, 1))
            ratio += M.received_ratio_per_key(self_map).tolist()
            # Coarse-to-fine on matched pairs: depth and step of the same decoded canvas.
            d, st = decoded_depth_steps(trajectories[m][i])
            depth += d
            step += st
            position += list(range(len(d)))
            step_group += [i] * len(d)
        rec = [r[m] for r in records]

        def field(read) -> np.ndarray:
            return np.array([np.nan if read(r) is None else read(r) for r in rec], dtype=float)

        return F.ModelEvidence(
            inducing_specialisation=field(lambda r: r["inducing_specialisation"]),
            entropy_nats=field(lambda r: r["entropy"]["diffuser.self"]["nats"]),
            entropy_normalised=field(lambda r: r["entropy"]["diffuser.self"]["normalised"]),
            head_entropy=np.array([r["head_entropy"]["diffuser.self"] for r in rec], dtype=float),
            leaf_ratio=np.array([leaf_ratio(r) for r in rec], dtype=float),
            obs_selectivity=field(lambda r: r["cross_obs_concentration"]),
            token_concentration=np.array(conc, dtype=float),
            token_ratio=np.array(ratio, dtype=float),
            depth=np.array(depth, dtype=float), step=np.array(step, dtype=float),
            position=np.array(position, dtype=float), step_group=np.array(step_group),
            drop_rate=field(lambda r: r["trajectory"]["confidence_drop_rate"]),
            roles=roles.get(m) if roles else None,
            obs_blocked_loss=None if causal is None else causal["models"][m]["per_equation"]["obs_blocked_loss"],
            obs_blocked_derived=None if causal is None else causal["models"][m]["per_equation"]["obs_blocked_derived"],
        )

    return F.Evidence(
        tier=np.array([TIERS.index(e.tier) for e in equations]),
        length=np.array(lengths),
        token_types=tuple(types),
        token_groups=np.array(groups),
        trained=model_evidence("trained"),
        control=model_evidence("control"),
    )


def leaf_ratio(record: dict) -> float:
    """Diffuser self-attention received by variables and constants, as a ratio to uniform."""
    rec = record["received_by_type"]["diffuser.self"]
    got = sum(rec["received"].get(t, 0.0) for t in ("variable", "constant"))
    base = sum(rec["uniform"].get(t, 0.0) for t in ("variable", "constant"))
    return got / base if base > 0 else float("nan")


def decoded_depth_steps(traj) -> tuple[list[int], list[int]]:
    """Tree depth and resolution step of each position of the decoded canvas, BOS .. EOS."""
    final = list(traj.tokens)
    end = final.index("EOS") + 1 if "EOS" in final else len(final)
    seq = [t for t in final[:end]]
    body = M.tree_depths(seq[1:-1] if seq[-1] == "EOS" else seq[1:], ARITY)
    d = [-1, *body] + ([-1] if seq[-1] == "EOS" else [])
    st = M.resolution_steps(traj.trajectory_tokens, MASK_ID)[: len(d)].tolist()
    return d, st


def _depths(tokens: list[str]) -> list[int]:
    """Tree depth per canvas position (BOS/EOS/markers: -1), aligned with the tokens."""
    body = M.tree_depths(tokens[1:-1], ARITY)
    return [-1, *body, -1]


def _nan_to_none(x):
    if isinstance(x, float) and not math.isfinite(x):
        return None
    if isinstance(x, dict):
        return {k: _nan_to_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_nan_to_none(v) for v in x]
    return x


# ----------------------------------------------------------------- entry point


def single_slot_check(inp: _Inputs, seed: int) -> dict:
    """The seed's one-position memory: every cross-attention weight is exactly 1 (decision 1)."""
    torch.manual_seed(seed)
    model = PhysDiffuserPlus(SystemConfig(memory="pooled")).eval()
    maps = capture(model, inp)
    cross = np.concatenate([maps["diffuser.cross"].ravel(), maps["decoder.cross"].ravel()])
    n_maps = maps["diffuser.cross"].shape[0] * 2 * model.cfg.diffuser.n_layers
    return {"max_abs_deviation_from_one": float(np.abs(cross - 1.0).max()), "n_maps": int(n_maps),
            "n_keys": int(maps["diffuser.cross"].shape[-1])}


def run_analysis(cfg: AnalysisConfig = AnalysisConfig()) -> tuple[dict, dict[str, np.ndarray]]:  # noqa: B008
    """Capture, measure and test; returns (results, arrays). Deterministic for a config."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    equations = list(load_benchmark(cfg.benchmark))
    if cfg.equation_ids is not None:
        known = {e.id: e for e in equations}
        missing = [i for i in cfg.equation_ids if i not in known]
        if missing:
            raise AnalysisError(f"unknown equation id(s) {missing}: see `physdocs equations`")
        equations = [known[i] for i in cfg.equation_ids]
    trained, control, trained_meta, weights = _load_models(cfg)
    inp = _inputs(equations, cfg.seed, trained.cfg.diffuser.max_len)
    timings["inputs"] = time.perf_counter() - t0

    maps_by_model: dict[str, list[dict[str, np.ndarray]]] = {}
    trajectories = {}
    for name, model in (("trained", trained), ("control", control)):
        t1 = time.perf_counter()
        captured = capture(model, inp, cfg.noise_levels, cfg.seed)
        maps_by_model[name] = [
            {comp: captured[comp][i] for comp in COMPONENTS} for i in range(len(equations))
        ]
        with torch.no_grad():
            memory = model.encode(inp.obs)
        trajectories[name] = diffusion_decode(
            model, memory, DiffusionConfig(steps=cfg.diffusion_steps, seed=cfg.seed),
            n_samples=1, n_vars=None)
        timings[f"capture_{name}"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    records, uniform, arrays = [], [], {}
    for i, eq in enumerate(equations):
        with _about(eq):
            n = inp.lengths[i]
            rec = {"id": eq.id, "name": eq.name, "tier": eq.tier, "output": eq.output, "formula": eq.formula,
                   "latex": eq.latex, "tokens": list(eq.tokens), "token_types": [token_type(t) for t in eq.tokens],
                   "variables": [{"name": v.name, "token": v.token, "meaning": v.meaning, "low": v.low,
                                  "high": v.high} for v in eq.variables],
                   "depths": _depths(eq.tokens), "models": {}}
            for m in MODELS:
                maps = maps_by_model[m][i]
                rec["models"][m] = _equation_record(eq, maps, n, trajectories[m][i])
                for comp, a in maps.items():
                    trimmed = _trim(comp, a, n)
                    arrays[S.array_key(m, eq.id, comp)] = trimmed[-1].astype(np.float32)  # last layer [H, q, k]
                    if not comp.startswith("encoder"):
                        for layer in range(trimmed.shape[0]):
                            arrays[S.array_key(m, eq.id, comp, layer + 1)] = trimmed[layer].astype(np.float16)
                conf = trajectories[m][i].confidence.astype(np.float32)
                arrays[S.array_key(m, eq.id, S.TRAJECTORY_CONFIDENCE)] = conf
                # The point-to-point map ISAB 1 induces (MAB2 @ MAB1), head-averaged: [points, points].
                arrays[S.array_key(m, eq.id, S.INDUCED_MAP)] = M.induced_map(
                    maps["encoder.isab1.mab1"][0], maps["encoder.isab1.mab2"][0]).mean(axis=0).astype(np.float32)
            uniform.append({comp: _uniform_entropy(comp, maps_by_model["trained"][i][comp], n) for comp in COMPONENTS})
            records.append(rec)
    flat = [{m: r["models"][m] for m in MODELS} for r in records]
    timings["metrics"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    importance, roles = {}, {}
    if cfg.head_importance:
        for m, model in (("trained", trained), ("control", control)):
            diffuser_grid, roles[m] = diffuser_head_ablation(model, inp, cfg.seed)
            importance[m] = {"diffuser.self": diffuser_grid, "decoder.self": decoder_head_importance(model, inp)}
    timings["head_importance"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    causal = None
    if cfg.causal:
        causal = _causal(trained, control, inp, trajectories, cfg)
    timings["causal"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    tiers = _tier_tables(flat, equations, uniform, cfg.n_boot, rng)
    evidence = _evidence(flat, equations, maps_by_model, inp.lengths, trajectories, roles, causal)
    settings = F.Settings(n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=cfg.seed)
    claim_list = [c.to_dict() for c in F.evaluate_all(evidence, settings)]
    timings["claims"] = time.perf_counter() - t1
    single = single_slot_check(inp, cfg.seed)

    evaluation = None
    if cfg.evaluation and Path(cfg.evaluation).exists():
        evaluation = json.loads(Path(cfg.evaluation).read_text())
    split = None
    if evaluation is not None:
        split = [r.to_dict() for r in split_rows(
            records, evaluation, {e.id: TIERS.index(e.tier) for e in equations},
            n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=cfg.seed)]
    log = []
    log_path = Path(cfg.training_log) if cfg.training_log else metrics_log(Path(weights))
    if log_path.exists():
        log = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    timings["total"] = time.perf_counter() - t0
    results = {
        "meta": {"weights": Path(weights).name, "weights_sha256": sha256(Path(weights)), "seed": cfg.seed,
                 "n_equations": len(equations), "seconds": {k: round(v, 2) for k, v in timings.items()},
                 "trained_meta": trained_meta, "config": cfg.to_dict(),
                 "capture": CAPTURE_NOTE.format(levels=", ".join(f"{t:g}" for t in cfg.noise_levels)),
                 "seed_entropy_by_tier": SEED_ENTROPY_BY_TIER},
        "equations": records,
        "tiers": tiers,
        "claims": claim_list,
        "head_importance": importance,
        "head_roles": {m: {"types": list(ROLE_TYPES), "increase": M.role_profile(r).round(5).tolist()}
                       for m, r in roles.items()},
        "inducing_coverage": {m: round(float(np.mean([r[m]["inducing_coverage"] for r in flat])), 4)
                              for m in MODELS},
        "single_slot": single,
        "evaluation": evaluation,
        "split": split,
        "causal": _summary(causal),
        "training_log": log,
    }
    return _nan_to_none(results), arrays
