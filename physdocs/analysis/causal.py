"""What the attention does, not only where it looks: ablation and activation patching.

Attention weights say where a head reads; they do not say that what it reads changes the
output (Jain and Wallace 2019; Wiegreffe and Pinter 2019). Three interventions on the
diffuser test that, each on the trained model and on the random-initialised control:

* **cross-attention ablation** (:func:`cross_ablation`): the observation keys, the pooled
  z slot, or both are blocked in every cross-attention layer (the pattern's blocked
  columns zeroed, the rest renormalised); measured on the masked-token loss (teacher-forced
  at the capture's noise levels, each a mask draw) and on derivation success -- the argmax
  decode's held-out R^2 > 0.99 after fitting constants, over all equations;
* **activation patching** (:func:`patching`): equation A runs with the cross-attention
  output of one layer, or one head (``hook_z``), taken from a run on A's canvas with
  equation B's encoder memory; the effect is how far A's prediction at the masked
  positions moves toward B's tokens, as a share of the move that B's whole memory causes;
* **head ablation against behaviour** (:func:`head_ablation`): each self-attention head
  zeroed or its output replaced by its mean over the equations; measured on the
  masked-token loss and on derivation success of the equations the intact model derives.

Effects carry 95% bootstrap CIs over equations (and mask draws, resampled with them).
Returns plain JSON-able dicts (:func:`causal_results`); pure numpy statistics live in
:mod:`.metrics` and :mod:`.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from physdocs.analysis.hooks import LayerRecorder, head_output, mean_head, zero_head
from physdocs.analysis.schema import component
from physdocs.analysis.stats import bootstrap_ci
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD
from physdocs.decoding.diffusion import argmax_config, diffusion_decode, mask_share
from physdocs.grammar import MASK_ID, PAD_ID, GrammarError, decode_sequence

CROSS, SELF = component("diffuser.cross"), component("diffuser.self")
#: What each cross-attention condition blocks: "obs" (the observation keys), "z" (the pooled slot).
#: With ``renormalise`` the other keys' weights are scaled up to fill the row; without it
#: ("weight held") they keep their intact weight, so blocking the observations leaves z's
#: attention mass as it was and the contrast is not an off-distribution shift onto z.
CONDITIONS = {"observations blocked": (("obs",), True), "z blocked": (("z",), True),
              "both blocked": (("obs", "z"), True),
              "observations blocked, z's weight held": (("obs",), False),
              "z blocked, the observations' weight held": (("z",), False)}


@dataclass(frozen=True)
class CausalInputs:
    """What the interventions run on: per equation its canvas, encoded data and scoring data."""

    obs: torch.Tensor  # [E, points, 160]
    canvas: torch.Tensor  # [E, L] true tokens, BOS .. EOS PAD ..
    lengths: Sequence[int]
    score: Callable[[int, Sequence[str]], bool]  # (equation index, decoded tokens) -> derived?


# ----------------------------------------------------------------- hooks


def block_keys(blocked: Sequence[str], renormalise: bool = True):
    """A cross-attention pattern hook: zero the blocked key columns and, ``renormalise``,
    scale the rest to sum to 1 (else they keep their intact weights)."""

    def hook(pattern: torch.Tensor, point) -> torch.Tensor:
        keep = torch.ones(pattern.shape[-1], dtype=pattern.dtype)
        if "obs" in blocked:
            keep[:-1] = 0
        if "z" in blocked:
            keep[-1] = 0
        kept = pattern * keep
        if not renormalise:
            return kept
        total = kept.sum(-1, keepdim=True)
        return torch.where(total > 0, kept / total.clamp_min(1e-12), kept)

    return hook


# ----------------------------------------------------------------- measures


def _draws(inp: CausalInputs, levels: Sequence[float], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Teacher-forced mask draws: (noisy canvas, mask ratio) per noise level, seeded."""
    gen = torch.Generator().manual_seed(seed)
    E = inp.canvas.shape[0]
    return [(mask_share(inp.canvas, torch.full((E,), float(t)), gen), torch.full((E,), float(t))) for t in levels]


def _masked_real_loss(inp: CausalInputs, noisy: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``loss(logits) -> [E]``: the mean cross-entropy over each equation's masked real tokens."""
    L = inp.canvas.shape[1]
    real = torch.arange(L)[None, :] < torch.tensor(list(inp.lengths))[:, None]
    target = (noisy == MASK_ID) & real

    def loss(logits: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.transpose(1, 2), inp.canvas, reduction="none")  # [E, L]
        return (ce * target).sum(1) / target.sum(1).clamp_min(1)

    return loss


@torch.no_grad()
def masked_loss(model, memory, inp: CausalInputs, draws) -> np.ndarray:
    """Cross-entropy per equation and draw over the masked real tokens: ``[E, draws]``."""
    out = [_masked_real_loss(inp, noisy)(model.diffuser(noisy, memory.keys, t, memory_mask=memory.mask)[0])
           for noisy, t in draws]
    return torch.stack(out, 1).numpy()


def decode_success(model, memory, inp: CausalInputs, steps: int, seed: int, rows: Sequence[int] | None = None
                   ) -> np.ndarray:
    """Whether the argmax decode of each equation (or of ``rows``) is derived: ``[E]`` bool."""
    idx = list(range(inp.canvas.shape[0])) if rows is None else list(rows)
    if not idx:
        return np.zeros(0, dtype=bool)
    sub = type(memory)(memory.keys[idx], None if memory.mask is None else memory.mask[idx], memory.z[idx])
    decoded = diffusion_decode(model, sub, argmax_config(steps, seed))
    return np.array([inp.score(i, r.tokens) for i, r in zip(idx, decoded, strict=True)])


def _effect(delta: np.ndarray, n_boot: int, rng: np.random.Generator) -> dict:
    """Mean and 95% CI of a per-equation (``[E]``) or per-equation-and-draw (``[E, D]``) effect."""
    d = np.asarray(delta, dtype=float)
    if d.ndim == 2:  # resample equations and draws together
        E, D = d.shape

        def stat(rows: np.ndarray) -> float:
            return float(rows[:, rng.integers(0, D, size=D)].mean())

        value = float(d.mean())
        boots = np.array([stat(d[rng.integers(0, E, size=E)]) for _ in range(n_boot)])
        lo, hi = np.percentile(boots, [2.5, 97.5])
        return {"value": value, "ci_low": float(lo), "ci_high": float(hi), "n": int(E)}
    value, lo, hi = bootstrap_ci(d, n_boot=n_boot, rng=rng)
    return {"value": value, "ci_low": lo, "ci_high": hi, "n": int(d.size)}


# ----------------------------------------------------------------- 1. cross-attention ablation


def cross_ablation(model, memory, inp: CausalInputs, draws, clean_success: np.ndarray, *, steps: int, seed: int,
                   n_boot: int, rng: np.random.Generator, decode: bool = True) -> list[dict]:
    """Each condition of :data:`CONDITIONS`: loss increase and change of the derived rate."""
    n_layers = len(model.diffuser.layers)
    base = masked_loss(model, memory, inp, draws)
    rows = []
    for name, (blocked, renormalise) in CONDITIONS.items():
        hooks = [(CROSS.hook_name(i), block_keys(blocked, renormalise)) for i in range(n_layers)]
        with model.hooks(hooks):
            loss = masked_loss(model, memory, inp, draws)
            success = decode_success(model, memory, inp, steps, seed) if decode else None
        row = {"condition": name, "loss": _effect(loss - base, n_boot, rng), "derived_clean": float(clean_success.mean()),
               "per_equation_loss": (loss - base).mean(1)}
        if success is not None:
            row["derived"] = float(success.mean())
            row["success"] = _effect(success.astype(float) - clean_success.astype(float), n_boot, rng)
            row["per_equation_derived"] = success.astype(float) - clean_success.astype(float)
        rows.append(row)
    return rows


# ----------------------------------------------------------------- 2. activation patching


def partners(canvas: torch.Tensor, lengths: Sequence[int]) -> list[tuple[int, int]]:
    """Pairs (A, B) of equations with the same length and different tokens: B is the next such one."""
    by_len: dict[int, list[int]] = {}
    for i, n in enumerate(lengths):
        by_len.setdefault(int(n), []).append(i)
    pairs = []
    for group in by_len.values():
        for k, a in enumerate(group):
            for b in group[k + 1:] + group[:k]:
                if not torch.equal(canvas[a], canvas[b]):
                    pairs.append((a, b))
                    break
    return sorted(pairs)


@torch.no_grad()
def patching(model, memory, inp: CausalInputs, *, level: float, seed: int, n_boot: int,
             rng: np.random.Generator) -> dict:
    """Share of the move toward B's tokens carried by each layer's, and each head's, cross-attention.

    Metric per pair: mean over A's masked positions where A and B differ of
    ``log p(B's token) - log p(A's token)``. ``share = (patched - clean) / (B's memory - clean)``,
    the ratio of means over pairs (CI: pairs resampled).
    """
    pairs = partners(inp.canvas, inp.lengths)
    if not pairs:
        return {"n_pairs": 0, "level": level, "total_move": None, "layers": [], "heads": []}
    a = torch.tensor([p[0] for p in pairs])
    b = torch.tensor([p[1] for p in pairs])
    gen = torch.Generator().manual_seed(seed)
    P = len(pairs)
    noisy = mask_share(inp.canvas[a], torch.full((P,), float(level)), gen)
    t = torch.full((P,), float(level))
    keys_a, keys_b = memory.keys[a], memory.keys[b]
    mask_a = None if memory.mask is None else memory.mask[a]
    mask_b = None if memory.mask is None else memory.mask[b]
    ta, tb = inp.canvas[a], inp.canvas[b]
    where = (noisy == MASK_ID) & (ta != tb)  # [P, L]

    def metric(logits: torch.Tensor) -> np.ndarray:
        logp = logits.log_softmax(-1)
        diff = logp.gather(-1, tb[..., None])[..., 0] - logp.gather(-1, ta[..., None])[..., 0]
        return ((diff * where).sum(1) / where.sum(1).clamp_min(1)).numpy()

    n_layers, n_heads = len(model.diffuser.layers), model.diffuser.layers[0].cross_attn.n_heads
    z_b = LayerRecorder(model, "diffuser", "cross_attn.hook_z")
    with z_b.recording():
        corrupt = metric(model.diffuser(noisy, keys_b, t, memory_mask=mask_b)[0])
    clean = metric(model.diffuser(noisy, keys_a, t, memory_mask=mask_a)[0])
    valid = where.any(1).numpy()
    total = corrupt - clean

    def share(patched: np.ndarray) -> dict:
        num, den = (patched - clean)[valid], total[valid]
        idx = np.arange(num.size)
        value = float(num.mean() / den.mean()) if den.mean() != 0 else float("nan")
        boots = []
        for _ in range(n_boot):
            i = rng.choice(idx, idx.size)
            boots.append(num[i].mean() / den[i].mean() if den[i].mean() != 0 else np.nan)
        lo, hi = np.nanpercentile(boots, [2.5, 97.5])
        return {"value": value, "ci_low": float(lo), "ci_high": float(hi), "n": int(valid.sum())}

    def patched_run(layer: int, head: int | None) -> np.ndarray:
        def swap(x, point):
            out = x.clone()
            if head is None:
                out[:] = z_b[layer]
            else:
                out[:, head] = z_b[layer][:, head]
            return out

        with model.hooks([(head_output(CROSS.id, layer), swap)]):
            return metric(model.diffuser(noisy, keys_a, t, memory_mask=mask_a)[0])

    layers = [{"layer": i + 1, **share(patched_run(i, None))} for i in range(n_layers)]
    heads = [{"layer": i + 1, "head": h + 1, **share(patched_run(i, h))}
             for i in range(n_layers) for h in range(n_heads)]
    return {"n_pairs": int(valid.sum()), "level": level, "total_move": float(total[valid].mean()),
            "layers": layers, "heads": heads}


# ----------------------------------------------------------------- 3. head ablation against behaviour


#: The two head ablations: ``(name, hook point of a layer, hook)``. Zero sets the head's
#: pattern (so its output) to 0; mean replaces the head's *output* by its mean over the
#: batch's equations, keeping its average contribution and removing what is specific.
_ABLATIONS = (("zero", SELF.hook_name, zero_head),
              ("mean", lambda layer: head_output(SELF.id, layer), mean_head))


@torch.no_grad()
def _head_losses(model, memory, inp: CausalInputs, draw) -> dict[tuple[int, int, str], np.ndarray]:
    """Per-equation loss increase for each (layer, head, zero|mean) on one mask draw.

    The residual stream entering each layer is recorded once; an ablation in layer ``l``
    re-runs the diffuser from there (``forward_from``), since nothing before it changes.
    """
    noisy, t = draw
    loss = _masked_real_loss(inp, noisy)
    resid = LayerRecorder(model, "diffuser")
    with resid.recording():
        base = loss(model.diffuser(noisy, memory.keys, t, memory_mask=memory.mask)[0])
    out = {}
    layers = model.diffuser.layers
    for layer in range(len(layers)):
        for head in range(layers[0].self_attn.n_heads):
            for kind, point, make in _ABLATIONS:
                with model.hooks([(point(layer), make(head))]):
                    logits = model.diffuser.forward_from(layer, resid[layer], memory.keys, memory_mask=memory.mask,
                                                         self_mask=noisy != PAD_ID)
                out[layer, head, kind] = (loss(logits) - base).numpy()
    return out


def head_ablation(model, memory, inp: CausalInputs, draws, clean_success: np.ndarray, *, steps: int, seed: int,
                  n_boot: int, rng: np.random.Generator, decode: bool = True) -> list[dict]:
    """Each self-attention head zeroed and mean-ablated: loss increase, and the derived share kept.

    The loss is taken on the middle mask draw. Success is decoded only for the equations the
    intact model derives (the ones a head can take away); ``kept`` is the share still derived.
    """
    n_layers, n_heads = len(model.diffuser.layers), model.diffuser.layers[0].self_attn.n_heads
    losses = _head_losses(model, memory, inp, draws[len(draws) // 2])
    derived = np.flatnonzero(clean_success)
    rows = []
    for layer in range(n_layers):
        for head in range(n_heads):
            row = {"layer": layer + 1, "head": head + 1}
            for kind, point, make in _ABLATIONS:
                row[kind] = {"loss": _effect(losses[layer, head, kind], n_boot, rng)}
                if decode and derived.size:
                    with model.hooks([(point(layer), make(head))]):
                        kept = decode_success(model, memory, inp, steps, seed, derived)
                    row[kind]["kept"] = _effect(kept.astype(float), n_boot, rng)
            rows.append(row)
    return rows


# ----------------------------------------------------------------- entry point


def causal_results(models: dict, memories: dict, inp: CausalInputs, clean_success: dict, *, levels: Sequence[float],
                   steps: int, seed: int, n_boot: int, behaviour: bool = True) -> dict:
    """The three analyses for each model (``{"trained": model, "control": model}``)."""
    out: dict = {"levels": list(levels), "steps": steps, "models": {}}
    draws = _draws(inp, levels, seed)  # the same mask draws for both models
    for name, model in models.items():
        rng = np.random.default_rng([seed, len(name)])
        # a model that derives nothing intact cannot lose a derivation: its decodes are skipped
        decode = behaviour and bool(clean_success[name].any())
        cross = cross_ablation(model, memories[name], inp, draws, clean_success[name], steps=steps, seed=seed,
                               n_boot=n_boot, rng=rng, decode=decode)
        blocked = cross[0]  # observations blocked: what the findings test
        per_equation = {"obs_blocked_loss": blocked.pop("per_equation_loss"),
                        # a model that derives nothing cannot lose a derivation: its change is 0
                        "obs_blocked_derived": blocked.pop("per_equation_derived", np.zeros(len(inp.lengths)))}
        for row in cross[1:]:
            row.pop("per_equation_loss", None)
            row.pop("per_equation_derived", None)
        out["models"][name] = {
            "derived_clean": int(clean_success[name].sum()),
            "n_equations": int(clean_success[name].size),
            "per_equation": per_equation,
            "cross": cross,
            "patching": patching(model, memories[name], inp, level=float(np.median(levels)), seed=seed,
                                 n_boot=n_boot, rng=rng),
            "heads": head_ablation(model, memories[name], inp, draws, clean_success[name], steps=steps, seed=seed,
                                   n_boot=n_boot, rng=rng, decode=decode),
        }
    return out


def success_scorer(supports, tests, scalings, restarts: int = 2, seed: int = DEFAULT_SEED):
    """``score(i, tokens) -> bool``: the decoded tokens, constants fitted on equation i's support
    points (scaled as the model read them), reach held-out R^2 > 0.99; fits are cached."""
    from physdocs.decoding.constants import predict, r2_score
    from physdocs.decoding.derive import _Fitter

    fitters: dict[int, _Fitter] = {}
    memo: dict[tuple, bool] = {}

    def score(i: int, tokens: Sequence[str]) -> bool:
        key = (i, tuple(tokens))
        if key in memo:
            return memo[key]
        sc = scalings[i]
        if i not in fitters:
            xs, ys = sc.apply(supports[i].x, supports[i].y)
            factors = {f"x{k}": 2.0**e for k, e in enumerate(sc.x_exp, start=1)}
            fitters[i] = _Fitter(xs, ys, restarts, np.random.default_rng([seed, i]), free_scale=True,
                                 raw_factors=factors)
        cand = fitters[i]("argmax", list(tokens))
        ok = False
        if cand["fitted"] and np.isfinite(cand["r2"]):
            xt, yt = sc.apply(tests[i].x, tests[i].y)
            try:
                with np.errstate(all="ignore"):
                    pred = predict(decode_sequence(cand["fit_tokens"]), xt, cand["constants"])
                ok = bool(r2_score(yt, pred) > R2_THRESHOLD)
            except (GrammarError, ValueError, OverflowError, ZeroDivisionError):
                ok = False  # a tree that cannot be evaluated on the test points is not derived
        memo[key] = ok
        return ok

    return score
