"""Where the formula is decided (torch): the logit lens and path patching on both decoders, and
the run of the faithfulness and readout analyses (:func:`readout_analysis`).

* **Logit lens** (Belrose et al. 2023): the residual stream entering each layer, and after
  the last, read through the decoder's own final norm and unembedding. For each scored
  position: the first readout from which the true token stays the top prediction (its
  *decision layer*).
* **Path patching** (Wang et al. 2022): equation A runs on its own canvas, and again with a
  partner equation B's encoder memory (the corrupted run); one component of A's clean run takes
  its value from the corrupted run. A layer's output patched into the final residual stream
  alone gives its *direct* effect; patched where it enters the next layer, so that later layers
  read it, its *total* effect. The z and observation parts of each cross-attention output (what
  its heads read from the pooled key and from the observation keys) are patched apart.

The passes are :mod:`.passes`' (teacher-forced, length buckets); the functions return
per-equation arrays, and :func:`readout_analysis` reduces them to the record
:class:`physdocs.results.readout.Readout` and the findings' per-equation evidence.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import numpy as np
import torch

from physdocs.analysis import faithful as FA
from physdocs.analysis.passes import (
    Batch,
    batches,
    decoder_of,
    logits,
    per_equation,
    run_from,
    token_loss,
    unembed,
)
from physdocs.constants import ALPHA
from physdocs.grammar import VOCAB, token_type
from physdocs.results.readout import (
    DECODERS,
    K_CLAIM,
    K_CROSS,
    K_SELF,
    KEY_TYPES,
    MODES,
    POINT_FEATURES,
    READOUT_TYPES,
    Coefficient,
    Estimate,
    KeyTypeRow,
    KnockoutRow,
    LensRow,
    PartsRow,
    PatchRow,
    Readout,
)

_TYPE_OF_ID = np.array([
    READOUT_TYPES.index("operator") if token_type(s) in ("binary", "unary") else READOUT_TYPES.index(token_type(s))
    for s in VOCAB])


@dataclass
class Stream:
    """One recorded pass, per layer ``l``.

    ``resid[l]`` [B, T, D] enters layer ``l``; ``resid[n_layers]`` is the final stream.
    ``z_heads[l]`` / ``obs_heads[l]`` [B, H, T, d_head]: what the cross-attention heads read
    from z (the last key) and from the observation keys; they sum to the heads' output.
    ``cross_mean`` [B, T, M]: the cross-attention weight, averaged over layers and heads.
    """

    resid: list[torch.Tensor]
    z_heads: list[torch.Tensor]
    obs_heads: list[torch.Tensor]
    cross_mean: torch.Tensor
    logits: torch.Tensor


def _layer_of(name: str, prefix: str) -> int:
    return int(name[len(prefix):].split(".", 1)[0])


def z_head_output(attn, pattern: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """What each head of ``attn`` reads from the last key, z: ``a_z v_z``, ``[B, H, T, d_head]``."""
    B, H = pattern.shape[:2]
    v_z = attn.v_proj(keys[:, -1]).view(B, H, 1, attn.d_head)  # (B, H, 1, hd)
    return pattern[..., -1:] * v_z


def in_residual(attn, y: torch.Tensor) -> torch.Tensor:
    """Per-head outputs ``[B, H, T, hd]`` as ``attn`` writes them into the residual stream,
    without its bias, which belongs to neither part: ``[B, T, D]``."""
    B, H, T, hd = y.shape
    return y.transpose(1, 2).reshape(B, T, H * hd) @ attn.out_proj.weight.T  # (B, T, D)


def _cross_split(dec, prefix: str, keys: torch.Tensor, on_split: Callable, patterns: list | None = None) -> list:
    """Hooks that split each cross-attention layer's head output into its z and observation
    parts; ``on_split(layer, y, y_z)`` may return a replacement head output. ``patterns``
    collects each layer's pattern."""
    pattern: dict[int, torch.Tensor] = {}

    def keep(x, hook):
        pattern[_layer_of(hook.name, prefix)] = x
        if patterns is not None:
            patterns.append(x)

    def split(y, hook):
        layer = _layer_of(hook.name, prefix)
        return on_split(layer, y, z_head_output(dec.layers[layer].cross_attn, pattern.pop(layer), keys))

    return [(lambda n: n.startswith(prefix) and n.endswith("cross_attn.hook_pattern"), keep),
            (lambda n: n.startswith(prefix) and n.endswith("cross_attn.hook_z"), split)]


@torch.no_grad()
def stream(model, b: Batch) -> Stream:
    """The pass of ``b``, recorded (:class:`Stream`)."""
    dec = decoder_of(model, b.part)
    prefix = f"{b.part}.layers."
    n_layers = len(dec.layers)
    resid: list = [None] * (n_layers + 1)
    z_heads: list = [None] * n_layers
    obs_heads: list = [None] * n_layers
    patterns: list[torch.Tensor] = []

    def save_resid(x, hook):
        resid[_layer_of(hook.name, prefix)] = x

    def save_split(layer, y, y_z):
        z_heads[layer], obs_heads[layer] = y_z, y - y_z

    hooks = [(lambda n: n.startswith(prefix) and n.endswith("hook_resid_pre"), save_resid),
             *_cross_split(dec, prefix, b.keys, save_split, patterns)]
    # No hook point follows the last layer: the final norm's input is the stream after it.
    handle = dec.ln_f.register_forward_pre_hook(lambda module, args: resid.__setitem__(n_layers, args[0]))
    try:
        with model.hooks(hooks):
            lg = logits(model, b)
    finally:
        handle.remove()
    cross_mean = torch.stack(patterns).mean((0, 2))  # (B, T, M)
    return Stream(resid, z_heads, obs_heads, cross_mean, lg)


# ----------------------------------------------------------------- logit lens


def decision_layers(correct: np.ndarray) -> np.ndarray:
    """``correct`` [readout, n] (the true token on top at each readout; the last is the
    model's output) -> per token the first readout from which it stays on top; -1 where the
    output is wrong."""
    correct = np.asarray(correct, dtype=bool)
    stays = np.flip(np.cumprod(np.flip(correct, 0), axis=0), 0).astype(bool)  # correct here and after
    return np.where(stays.any(0), stays.argmax(0), -1)


@dataclass(frozen=True)
class LensTokens:
    """Every scored position of one decoder, flat (``[n]``)."""

    equation: np.ndarray  # equation index
    type: np.ndarray  # READOUT_TYPES index of the true token
    correct: np.ndarray  # [readout, n]: top-1 at the embedding, after layer 1, .., after the last
    decision: np.ndarray  # first readout from which it stays on top; -1 where the output is wrong


@torch.no_grad()
def lens(model, bs: Iterable[Batch], streams: Iterable[Stream]) -> LensTokens:
    """The logit lens at the scored positions of every batch."""
    eq, types, correct = [], [], []
    for b, s in zip(bs, streams, strict=True):
        where = b.scored.numpy()
        reads = torch.stack([unembed(model, b.part, r) for r in s.resid]).argmax(-1)  # (R, B, T)
        correct.append((reads == b.targets[None]).numpy()[:, where])
        eq.append(np.broadcast_to(b.rows[:, None], where.shape)[where])
        types.append(_TYPE_OF_ID[b.targets.numpy()][where])
    c = np.concatenate(correct, axis=1)
    return LensTokens(np.concatenate(eq), np.concatenate(types), c, decision_layers(c))


def decision_sums(tokens: LensTokens, n_equations: int) -> np.ndarray:
    """``[E, 4]`` per equation: (sum, count) of the decision layers of its operators, then of
    its leaves (variables and constants), over the tokens the output gets right and the
    embedding alone does not already read out and keep (decision layer 0: the prior decides)."""
    out = np.zeros((n_equations, 4))
    decided = tokens.decision >= 1
    leaf = np.isin(tokens.type, [READOUT_TYPES.index("variable"), READOUT_TYPES.index("constant")])
    for col, sel in ((0, tokens.type == READOUT_TYPES.index("operator")), (2, leaf)):
        keep = decided & sel
        out[:, col] = np.bincount(tokens.equation[keep], weights=tokens.decision[keep], minlength=n_equations)
        out[:, col + 1] = np.bincount(tokens.equation[keep], minlength=n_equations)
    return out


# ----------------------------------------------------------------- path patching


@dataclass(frozen=True)
class PatchEffects:
    """Per equation: the loss rise (nats per scored token) when a component of the clean run
    takes its value from the run on the partner's memory.

    ``[E, layer]``: ``layer_direct`` / ``layer_total`` (the layer's whole output), ``z_direct``
    / ``obs_direct`` (the parts of its cross-attention output, direct); ``layer_restored``:
    the other direction (denoising), the loss the corrupted run *loses* when that layer's
    output takes its clean value, through the later layers. ``[E]``: ``z_total`` /
    ``obs_total`` (the part patched in every layer at once; nan when not run), ``all_memory``
    (the corrupted run itself).
    """

    layer_direct: np.ndarray
    layer_total: np.ndarray
    layer_restored: np.ndarray
    z_direct: np.ndarray
    obs_direct: np.ndarray
    z_total: np.ndarray
    obs_total: np.ndarray
    all_memory: np.ndarray


def partners(n: int, seed: int) -> np.ndarray:
    """A seeded permutation of ``range(n)`` without fixed points: each equation's partner."""
    if n < 2:
        raise ValueError(f"path patching needs at least two equations, got {n}")
    perm = np.random.default_rng(seed).permutation(n)
    partner = np.empty(n, dtype=int)
    partner[perm] = np.roll(perm, 1)  # a single cycle through the permutation
    return partner


def _with_parts(model, b: Batch, which: str, theirs: Sequence[torch.Tensor]) -> torch.Tensor:
    """Logits with every cross-attention layer reading ``theirs[layer]`` as its z (or
    observation) part, and its own other part."""
    prefix = f"{b.part}.layers."

    def swap(layer, y, y_z):
        return y - y_z + theirs[layer] if which == "z" else y_z + theirs[layer]

    with model.hooks(_cross_split(decoder_of(model, b.part), prefix, b.keys, swap)):
        return logits(model, b)


@torch.no_grad()
def patch_effects(model, bs: Sequence[Batch], cleans: Sequence[Stream], memory: torch.Tensor,
                  partner: np.ndarray, *, parts_total: bool = True) -> PatchEffects:
    """:class:`PatchEffects` over the equations of ``bs`` (their clean passes ``cleans``); the
    corrupted run of equation ``i`` reads ``memory[partner[i]]`` (``memory`` [E, M, D])."""
    dec = decoder_of(model, bs[0].part)
    n_layers, n_eq = len(dec.layers), memory.shape[0]
    out = {k: np.full((n_eq, n_layers), np.nan)
           for k in ("layer_direct", "layer_total", "layer_restored", "z_direct", "obs_direct")}
    flat = {k: np.full(n_eq, np.nan) for k in ("z_total", "obs_total", "all_memory")}
    for b, clean in zip(bs, cleans, strict=True):
        on_partner = b.with_keys(memory[torch.from_numpy(partner[b.rows])])
        corrupt = stream(model, on_partner)
        base = token_loss(clean.logits, b)
        corrupt_loss = token_loss(corrupt.logits, b)

        def rise(lg: torch.Tensor) -> np.ndarray:
            return per_equation(token_loss(lg, b) - base, b.scored)  # noqa: B023

        flat["all_memory"][b.rows] = rise(corrupt.logits)
        final = clean.resid[n_layers]
        for layer in range(n_layers):
            attn = dec.layers[layer].cross_attn
            swap = (corrupt.resid[layer + 1] - corrupt.resid[layer]) - (clean.resid[layer + 1] - clean.resid[layer])
            out["layer_direct"][b.rows, layer] = rise(unembed(model, b.part, final + swap))
            out["layer_total"][b.rows, layer] = rise(run_from(model, b, layer + 1, clean.resid[layer + 1] + swap))
            restored = run_from(model, on_partner, layer + 1, corrupt.resid[layer + 1] - swap)
            out["layer_restored"][b.rows, layer] = per_equation(corrupt_loss - token_loss(restored, b), b.scored)
            for which, mine, theirs in (("z", clean.z_heads, corrupt.z_heads), ("obs", clean.obs_heads, corrupt.obs_heads)):
                part = in_residual(attn, theirs[layer] - mine[layer])
                out[f"{which}_direct"][b.rows, layer] = rise(unembed(model, b.part, final + part))
        if parts_total:
            flat["z_total"][b.rows] = rise(_with_parts(model, b, "z", corrupt.z_heads))
            flat["obs_total"][b.rows] = rise(_with_parts(model, b, "obs", corrupt.obs_heads))
    return PatchEffects(**out, **flat)


def indirect(effects: PatchEffects) -> np.ndarray:
    """``[E]``: over the layers before the last, the mean of total minus direct effect -- what
    reaches the prediction through later layers."""
    return (effects.layer_total - effects.layer_direct)[:, :-1].mean(1)


# ----------------------------------------------------------------- the analysis


@dataclass(frozen=True)
class ModelReadout:
    """One model's per-equation numbers the findings read (the diffuser's)."""

    knockout_cross: np.ndarray  # [E, mode]: loss rise, K_CLAIM observation keys lost per row
    knockout_self: np.ndarray  # [E, mode]: loss rise, K_SELF token key lost per row
    decision_sums: np.ndarray  # [E, 4]: decision_sums
    indirect: np.ndarray  # [E]: indirect


def _estimate(x: np.ndarray, draws: np.ndarray) -> Estimate:
    """Mean over equations (nan left out) and its percentile interval over ``draws`` [n_boot, E]."""
    x = np.asarray(x, dtype=float)
    ok = np.isfinite(x)
    if not ok.any():
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    xz = np.where(ok, x, 0.0)
    boots = xz[draws].sum(1) / np.maximum(ok[draws].sum(1), 1)
    low, high = np.percentile(boots, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return Estimate(float(x[ok].mean()), float(low), float(high), int(ok.sum()))


def _ratio_estimate(sums: np.ndarray, counts: np.ndarray, draws: np.ndarray) -> Estimate:
    """Pooled mean ``sum(sums) / sum(counts)`` over equations, its interval over ``draws``."""
    n = int((counts > 0).sum())
    if not n:
        return Estimate(float("nan"), float("nan"), float("nan"), 0)
    boots = sums[draws].sum(1) / np.maximum(counts[draws].sum(1), 1e-12)
    low, high = np.percentile(boots, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return Estimate(float(sums.sum() / counts.sum()), float(low), float(high), n)


def _lens_rows(part: str, tokens: LensTokens, n_eq: int, draws: np.ndarray) -> list[LensRow]:
    rows = []
    for t, name in enumerate(READOUT_TYPES):
        sel = tokens.type == t
        if not sel.any():
            continue
        dec = tokens.decision[sel]
        right = dec >= 0
        n_read = tokens.correct.shape[0]
        decided = np.bincount(dec[right], minlength=n_read) / max(int(right.sum()), 1)
        keep = sel & (tokens.decision >= 1)
        sums = np.bincount(tokens.equation[keep], weights=tokens.decision[keep], minlength=n_eq)
        counts = np.bincount(tokens.equation[keep], minlength=n_eq).astype(float)
        rows.append(LensRow(part, name, int(sel.sum()), tuple(tokens.correct[:, sel].mean(1).round(4).tolist()),
                            tuple(decided.round(4).tolist()), _ratio_estimate(sums, counts, draws)))
    return rows


def _favoured(part: str, model_name: str, streams: Sequence[Stream], bs: Sequence[Batch], features: Sequence[np.ndarray],
              draws: np.ndarray) -> list[Coefficient]:
    """The regression of :func:`.faithful.favoured_points` on one decoder's clean passes: the
    weight of each observation averaged over the rows that read (the diffuser's real tokens,
    the AR decoder's next-token positions), z left out."""
    weights: list = [None] * len(features)
    for b, s in zip(bs, streams, strict=True):
        real = b.self_mask if b.part == "diffuser" else b.scored
        for j, row in enumerate(b.rows):
            obs = s.cross_mean[j][real[j]][:, :-1].double()  # (rows, points): z left out
            w = (obs / obs.sum(-1, keepdim=True)).mean(0).numpy()
            weights[row] = w
    coef, low, high = FA.favoured_points(weights, features, draws)
    return [Coefficient(part, model_name, f, float(c), float(lo), float(hi), len(weights))
            for f, c, lo, hi in zip(POINT_FEATURES, coef, low, high, strict=True)]


@contextmanager
def one_thread() -> Iterator[None]:
    """Torch on one thread for the block. These passes are small (16 equations of at most 48
    tokens): a second thread gains little, and on a machine whose other core is busy its
    waiting made the stage ten times slower in CPU time (measured: 65 s against 5.6 s)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


def readout_analysis(models: Mapping[str, object], obs: torch.Tensor, canvas: torch.Tensor, lengths: Sequence[int],
                     supports: Sequence, *, level: float, seed: int, n_boot: int
                     ) -> tuple[Readout, dict[str, ModelReadout]]:
    """Faithfulness knockouts, favoured observations, logit lens and path patching.

    ``models``: ``{"trained": ..., "control": ...}``. The trained model gets every table, on
    both decoders; the control, the diffuser numbers its findings compare with (and the
    favoured-observations regression, for scale). ``supports[i]`` has equation ``i``'s
    observations (``.x`` [n, d], ``.y`` [n]) in the order the encoder read them.
    """
    with one_thread():
        return _readout_analysis(models, obs, canvas, lengths, supports, level=level, seed=seed, n_boot=n_boot)


def _knockout_tables(model, part: str, bs: Sequence[Batch], base: Sequence[torch.Tensor], n_eq: int, *,
                     full: bool, seed: int, draws: np.ndarray) -> tuple[dict, list[KnockoutRow], list[KeyTypeRow]]:
    """Every knockout of one decoder: ``({(block, k): [E, mode] rises}, table rows, key-type
    rows)``; ``full`` False runs only what the findings read, and makes no rows."""
    rises, rows, type_rows = {}, [], []
    for block, ks in (("cross_attn", K_CROSS if full else (K_CLAIM,)), ("self_attn", (K_SELF,))):
        for k in ks:
            runs = [FA.knockouts(model, bs, base, n_eq, block=block, mode=mode, k=k, seed=seed) for mode in MODES]
            rises[block, k] = np.column_stack([r.rise for r in runs])
            if not full:
                continue
            rows.append(KnockoutRow(part, block, k, round(runs[0].n_keys, 2), *(_estimate(r.rise, draws) for r in runs),
                                    weight=tuple(round(r.weight, 4) for r in runs)))
            for t, key_type in enumerate(KEY_TYPES if block == "self_attn" else ()):
                pooled = [r.by_key_type[t] for r in runs]
                if all(x[1] > 0 for x in pooled):
                    type_rows.append(KeyTypeRow(part, key_type, *(float(x[0] / x[1]) for x in pooled),
                                                weight=tuple(round(float(x[1]), 2) for x in pooled)))
    return rises, rows, type_rows


def _patch_tables(part: str, effects: PatchEffects, draws: np.ndarray) -> tuple[list[PatchRow], PartsRow]:
    rows = [PatchRow(part, layer + 1, *(_estimate(getattr(effects, f)[:, layer], draws)
                                        for f in ("layer_direct", "layer_total", "z_direct", "obs_direct",
                                                  "layer_restored")))
            for layer in range(effects.layer_direct.shape[1])]
    return rows, PartsRow(part, *(_estimate(getattr(effects, f), draws) for f in ("z_total", "obs_total", "all_memory")))


def _readout_analysis(models, obs, canvas, lengths, supports, *, level, seed, n_boot):
    n_eq = len(lengths)
    draws = np.random.default_rng([seed, 28]).integers(0, n_eq, size=(n_boot, n_eq))
    partner = partners(n_eq, seed)
    features = [FA.point_features(s.x, s.y) for s in supports]
    tables: dict[str, list] = {k: [] for k in ("knockouts", "key_types", "favoured", "lens", "patching", "parts")}
    evidence = {}
    for name, model in models.items():
        full = name == "trained"  # the control runs what its findings compare with
        with torch.no_grad():
            memory = model.encode(obs).keys
        for part in DECODERS if full else ("diffuser",):
            bs = batches(part, canvas, lengths, memory, level=level, seed=seed)
            cleans = [stream(model, b) for b in bs]
            base = [token_loss(s.logits, b) for b, s in zip(bs, cleans, strict=True)]
            tables["favoured"] += _favoured(part, name, cleans, bs, features, draws)
            rises, rows, type_rows = _knockout_tables(model, part, bs, base, n_eq, full=full, seed=seed, draws=draws)
            tokens = lens(model, bs, cleans)
            effects = patch_effects(model, bs, cleans, memory, partner, parts_total=full)
            if full:
                patch_rows, parts_row = _patch_tables(part, effects, draws)
                tables["knockouts"] += rows
                tables["key_types"] += type_rows
                tables["lens"] += _lens_rows(part, tokens, n_eq, draws)
                tables["patching"] += patch_rows
                tables["parts"].append(parts_row)
            if part == "diffuser":
                evidence[name] = ModelReadout(
                    knockout_cross=rises["cross_attn", K_CLAIM], knockout_self=rises["self_attn", K_SELF],
                    decision_sums=decision_sums(tokens, n_eq), indirect=indirect(effects))
    record = Readout(level=float(level), n_equations=n_eq, k_claim=K_CLAIM,
                     **{k: tuple(v) for k, v in tables.items()})
    return record, evidence
