"""What the attention does, not only where it looks: interventions on the diffuser, measured on
the masked-token loss and on derivations.

Attention weights say where a head reads; they do not say that what it reads changes the
output (Jain and Wallace 2019; Wiegreffe and Pinter 2019). Each intervention here runs on the
trained model and on the random-initialised control:

* **cross-attention conditions** (:data:`CONDITIONS`): the observation keys, the pooled z slot
  or both blocked in every cross-attention layer, renormalised or with the other keys' weight
  held; and the **resample ablation** (:data:`RESAMPLED`): a same-length partner equation's
  observation keys with the equation's own z, an input the model could meet;
* **head ablation** (:func:`head_ablations`): each of the diffuser's self- and cross-attention
  heads, its output (``hook_z``) replaced by its mean over the benchmark's canvases;
* **activation patching** (:func:`patching`): one layer's (or head's) cross-attention output
  taken from a run with another equation's memory; the move toward that equation's tokens is
  reported in nats, and as a share of the whole memory's move.

Two measures: the **loss**, the cross-entropy over the masked real tokens of the true canvas
at the training noise levels (teacher-forced, one mask draw per level, averaged per
equation); and **behaviour**, derivation success with the evaluation's sampler
(:func:`derived_under`: the ``derive`` canvases without refinement, the best candidate by R^2
on the support points, held-out R^2 > 0.99), equation by equation against the intact model:
kept and gained (:class:`~physdocs.results.causal.Behaviour`). Two baselines beside every
intervention: the same decode re-seeded (decode instability), and a random perturbation of
matched norm at the same hook points (:func:`perturb_heads`).

This stage is too slow for the report's build: ``physdocs causal`` computes it once into a
shipped artifact (:mod:`physdocs.analysis.causal_artifact`). Pure statistics live in
:mod:`.stats`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F

from physdocs.analysis import metrics as M
from physdocs.analysis.hooks import LayerRecorder, head_output
from physdocs.analysis.schema import component
from physdocs.analysis.stats import bootstrap_ci, holm, mcnemar_p, paired_bootstrap_ci, sign_flip_p
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD
from physdocs.decoding.derive import DERIVE_SAMPLER, R2_TIE_DECIMALS
from physdocs.decoding.diffusion import (
    DiffusionConfig,
    _gumbel,
    diffusion_decode,
    length_logprobs,
    mask_share,
)
from physdocs.grammar import MASK_ID, PAD_ID, GrammarError, decode_sequence
from physdocs.models.system import Memory
from physdocs.results.causal import (
    Agreement,
    Behaviour,
    CausalModel,
    Decode,
    Effect,
    HeadAblation,
    Intervention,
    Patching,
    PatchRow,
)
from physdocs.results.evaluation_rows import Rate

CROSS, SELF = component("diffuser.cross"), component("diffuser.self")
#: The diffuser's attention blocks whose heads are ablated, by the name the records use.
BLOCKS = {"self": SELF, "cross": CROSS}
#: What each cross-attention condition blocks: "obs" (the observation keys), "z" (the pooled slot).
#: With ``renormalise`` the other keys' weights are scaled up to fill the row; without it
#: ("weight held") they keep their intact weight, so blocking the observations leaves z's
#: attention mass as it was and the contrast is not an off-distribution shift onto z.
CONDITIONS = {"observations blocked": (("obs",), True), "z blocked": (("z",), True),
              "both blocked": (("obs", "z"), True),
              "observations blocked, z's weight held": (("obs",), False),
              "z blocked, the observations' weight held": (("z",), False)}
#: The resample ablation: a same-length partner's observation keys, the equation's own z.
RESAMPLED = "observations resampled"
#: The conditions whose behaviour the control is decoded for too (the findings compare them).
CONTROL_DECODED = ("observations blocked", RESAMPLED)
#: Canvases per forward pass of the behaviour decode (sorted by length, so padding is small).
CANVAS_BATCH = 96


@dataclass(frozen=True)
class CausalConfig:
    """The interventions' settings. ``argmax`` and ``samples``: the behaviour decode's canvases
    per equation, the first ones of the evaluation's sampler (which decodes 48 and refines):
    argmax at the 3 likeliest lengths, then 2 samples. On the shipped weights more argmax
    canvases add no derivation (3 derive 57 of 120, all 8 of the length beam 58);
    ``random_heads``: the heads (most derivations lost) whose matched random perturbation is
    decoded too (every head's is measured on the loss)."""

    seed: int = DEFAULT_SEED
    weights: str | None = None  # None: the shipped checkpoint
    benchmark: str | None = None  # None: the packaged benchmark
    n_boot: int = 1000
    n_perm: int = 10_000  # sign flips per head: Holm over 32 heads needs p-values below 0.05 / 32
    levels: tuple[float, ...] = (0.25, 0.5, 0.75)
    steps: int = 20
    argmax: int = 3
    samples: int = 2
    restarts: int = 2
    random_heads: int = 4

    def __post_init__(self) -> None:
        if self.argmax < 1 or self.samples < 0 or self.n_boot < 1 or self.n_perm < 1 or self.steps < 1:
            raise ValueError(f"CausalConfig needs argmax, n_boot, n_perm, steps >= 1 and samples >= 0, got {self}")

    def decode(self) -> Decode:
        return Decode(argmax=self.argmax, samples=self.samples, steps=self.steps, restarts=self.restarts,
                      r2_threshold=R2_THRESHOLD)


@dataclass(frozen=True)
class CausalInputs:
    """What the interventions run on: per equation its encoded observations, true canvas,
    variable count, and whether a decoded candidate list derives it."""

    obs: torch.Tensor  # [E, points, 160]
    canvas: torch.Tensor  # [E, L] true tokens, BOS .. EOS PAD ..
    lengths: Sequence[int]
    n_vars: Sequence[int]
    derives: Callable[[int, Sequence[Sequence[str]]], bool]  # (equation, candidates) -> derived?


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


def replace_head(head: int, value: torch.Tensor):
    """A ``hook_z`` hook ``[B, H, T, d_head]``: one head's output replaced by ``value`` ``[d_head]`` (a copy)."""

    def hook(x: torch.Tensor, point) -> torch.Tensor:
        out = x.clone()
        out[:, head] = value
        return out

    return hook


def perturb_heads(norms: torch.Tensor, generator: torch.Generator):
    """A ``hook_z`` hook adding to each head's output, at every position, a random direction of
    norm ``norms[head]`` (``[H]``; 0 leaves a head as it is): the matched-norm baseline."""

    def hook(x: torch.Tensor, point) -> torch.Tensor:
        u = torch.randn(x.shape, generator=generator, dtype=x.dtype)  # [B, H, T, d_head]
        u = u / u.norm(dim=-1, keepdim=True).clamp_min(1e-12)
        return x + norms.to(x.dtype)[None, :, None, None] * u

    return hook


def resampled_memory(memory: Memory, pairs: Sequence[tuple[int, int]]) -> Memory:
    """``memory`` with each A's observation keys (all slots but the last, z) taken from its partner B."""
    keys = memory.keys.clone()
    mask = None if memory.mask is None else memory.mask.clone()
    for a, b in pairs:
        keys[a, :-1] = memory.keys[b, :-1]
        if mask is not None:
            mask[a, :-1] = memory.mask[b, :-1]
    return Memory(keys, mask, memory.z)


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


# ----------------------------------------------------------------- loss


def draws(canvas: torch.Tensor, levels: Sequence[float], seed: int) -> list[tuple[torch.Tensor, torch.Tensor]]:
    """Teacher-forced mask draws: (noisy canvas, mask ratio) per noise level, seeded."""
    gen = torch.Generator().manual_seed(seed)
    E = canvas.shape[0]
    return [(mask_share(canvas, torch.full((E,), float(t)), gen), torch.full((E,), float(t))) for t in levels]


def _real(inp: CausalInputs) -> torch.Tensor:
    """``[E, L]`` True at each equation's real positions, BOS .. EOS."""
    return torch.arange(inp.canvas.shape[1])[None, :] < torch.tensor(list(inp.lengths))[:, None]


def _loss_fn(inp: CausalInputs, noisy: torch.Tensor) -> Callable[[torch.Tensor], torch.Tensor]:
    """``loss(logits) -> [E]``: the mean cross-entropy over each equation's masked real tokens."""
    target = (noisy == MASK_ID) & _real(inp)

    def loss(logits: torch.Tensor) -> torch.Tensor:
        ce = F.cross_entropy(logits.transpose(1, 2), inp.canvas, reduction="none")  # [E, L]
        return (ce * target).sum(1) / target.sum(1).clamp_min(1)

    return loss


@torch.no_grad()
def masked_loss(model, memory: Memory, inp: CausalInputs, mask_draws) -> np.ndarray:
    """Cross-entropy over the masked real tokens, per equation, averaged over the draws: ``[E]``."""
    out = [_loss_fn(inp, noisy)(model.diffuser(noisy, memory.keys, t, memory_mask=memory.mask)[0])
           for noisy, t in mask_draws]
    return torch.stack(out, 1).mean(1).numpy()


@torch.no_grad()
def head_outputs(model, memory: Memory, inp: CausalInputs, mask_draws, block: str,
                 hooks: Sequence = ()) -> list[dict[int, torch.Tensor]]:
    """Per draw, ``{layer: hook_z [E, H, L, d_head]}`` of one block ("self" or "cross")."""
    out = []
    for noisy, t in mask_draws:
        rec = LayerRecorder(model, "diffuser", f"{BLOCKS[block].hook.split('.')[-2]}.hook_z")
        with rec.recording(), model.hooks(list(hooks)):
            model.diffuser(noisy, memory.keys, t, memory_mask=memory.mask)
        out.append(dict(rec))
    return out


def displacement_norms(intact: list[dict], changed: list[dict], real: torch.Tensor) -> torch.Tensor:
    """``[layer, H]`` root mean square norm, over the real positions of every draw, of the change
    of each head's output: what the matched random perturbation adds at each head."""
    total, count = 0.0, 0
    for a, b in zip(intact, changed, strict=True):
        d = torch.stack([(b[layer] - a[layer]).norm(dim=-1) ** 2 for layer in sorted(a)])  # [layer, E, H, L]
        total = total + (d * real[None, :, None, :]).sum((1, 3))
        count += int(real.sum())
    return (total / max(count, 1)).sqrt()


# ----------------------------------------------------------------- behaviour


class Derivations:
    """Whether a list of decoded candidates derives equation ``i``, as the evaluation decides:
    each candidate's constants fitted on the support points (scaled as the model read them),
    the best by R^2 there (agreeing to :data:`R2_TIE_DECIMALS`: fewer tokens), derived when its
    held-out R^2 exceeds :data:`R2_THRESHOLD`. Fits and tests are kept per equation and sequence."""

    def __init__(self, supports, tests, scalings, restarts: int, seed: int = DEFAULT_SEED):
        self.supports, self.tests, self.scalings = supports, tests, scalings
        self.restarts, self.seed = restarts, seed
        self._fitters: dict = {}
        self._tested: dict[tuple, bool] = {}

    def _fitter(self, i: int):
        from physdocs.decoding.derive import _Fitter

        if i not in self._fitters:
            sc = self.scalings[i]
            xs, ys = sc.apply(self.supports[i].x, self.supports[i].y)
            factors = {f"x{k}": 2.0**e for k, e in enumerate(sc.x_exp, start=1)}
            self._fitters[i] = _Fitter(xs, ys, self.restarts, np.random.default_rng([self.seed, i]),
                                       free_scale=True, raw_factors=factors)
        return self._fitters[i]

    def _holds(self, i: int, cand: dict) -> bool:
        from physdocs.decoding.constants import predict, r2_score

        key = (i, tuple(cand["fit_tokens"]), tuple(cand["constants"]))
        if key not in self._tested:
            sc = self.scalings[i]
            xt, yt = sc.apply(self.tests[i].x, self.tests[i].y)
            try:
                with np.errstate(all="ignore"):
                    pred = predict(decode_sequence(cand["fit_tokens"]), xt, cand["constants"])
                self._tested[key] = bool(r2_score(yt, pred) > R2_THRESHOLD)
            except (GrammarError, ValueError, OverflowError, ZeroDivisionError):
                self._tested[key] = False  # a tree that cannot be evaluated on the test points
        return self._tested[key]

    def __call__(self, i: int, candidates: Sequence[Sequence[str]]) -> bool:
        fitter = self._fitter(i)
        fitted = [c for c in (fitter("causal", list(tokens)) for tokens in candidates) if c["fitted"]]
        if not fitted:
            return False

        def rank(k: int) -> tuple[float, int, int]:
            r2 = fitted[k]["r2"]
            return (-round(r2, R2_TIE_DECIMALS) if np.isfinite(r2) else float("inf"), len(fitted[k]["fit_tokens"]), k)

        return self._holds(i, fitted[min(range(len(fitted)), key=rank)])


@torch.no_grad()
def derived_under(model, memory: Memory, inp: CausalInputs, cfg: CausalConfig, seed: int, *,
                  rows: Sequence[int] | None = None, length_memory: Memory | None = None) -> np.ndarray:
    """Whether each equation (or each of ``rows``) is derived: ``[rows]`` bool.

    The evaluation's sampler (:data:`~physdocs.decoding.derive.DERIVE_SAMPLER`): ``cfg.argmax``
    argmax canvases at the likeliest lengths and ``cfg.samples`` sampled at lengths drawn from
    the length head, all with revision; no refinement, and no beam search (the interventions
    act on the sampler's parallel steps). Canvases are decoded in batches sorted
    by length, so a seed gives the same draws to every intervention. The length comes from
    ``length_memory`` (default ``memory``): an intervention on the cross-attention keys leaves
    the length head's reading as it was. Hooks active around the call act on every step.
    """
    idx = list(range(inp.canvas.shape[0])) if rows is None else list(rows)
    if not idx:
        return np.zeros(0, dtype=bool)
    pick = torch.tensor(idx)
    sub = Memory(memory.keys[pick], None if memory.mask is None else memory.mask[pick], memory.z[pick])
    lm = length_memory or memory
    logp = length_logprobs(model, Memory(lm.keys[pick], None if lm.mask is None else lm.mask[pick], lm.z[pick]))
    gen = torch.Generator().manual_seed(seed)
    ranked = logp.argsort(dim=-1, descending=True, stable=True)  # (R, L)
    gumbel = _gumbel((len(idx), cfg.samples, logp.shape[1]), gen)
    drawn = (logp[:, None, :] / max(DERIVE_SAMPLER.length_temperature, 1e-6) + gumbel).argmax(-1)  # (R, samples)
    # (row, canvas index as derive orders them, length); the EOS position p gives p + 1 tokens
    argmax_rows = [(r, k, int(ranked[r, k]) + 1) for r in range(len(idx)) for k in range(cfg.argmax)]
    sampled_rows = [(r, cfg.argmax + k, int(drawn[r, k]) + 1) for r in range(len(idx)) for k in range(cfg.samples)]
    base = DiffusionConfig(steps=cfg.steps, revise=DERIVE_SAMPLER.revise)
    sampler = replace(base, temperature=DERIVE_SAMPLER.temperature, remask_noise=DERIVE_SAMPLER.remask_noise)
    candidates: list[dict[int, list[str]]] = [{} for _ in idx]
    for canvases, dcfg in ((argmax_rows, base), (sampled_rows, sampler)):
        ordered = sorted(canvases, key=lambda c: c[2])
        for start in range(0, len(ordered), CANVAS_BATCH):
            batch = ordered[start:start + CANVAS_BATCH]
            b = torch.tensor([r for r, _, _ in batch])
            mem = Memory(sub.keys[b], None if sub.mask is None else sub.mask[b], sub.z[b])
            decoded = diffusion_decode(model, mem, dcfg, generator=gen, n_vars=[int(inp.n_vars[idx[r]]) for r, _, _ in batch],
                                       lengths=[n for _, _, n in batch])
            for (r, k, _), res in zip(batch, decoded, strict=True):
                candidates[r][k] = res.tokens
    # each equation's candidates in derive's order, so ties break as the evaluation breaks them
    return np.array([inp.derives(i, [c[k] for k in sorted(c)]) for i, c in zip(idx, candidates, strict=True)])


def behaviour(intact: np.ndarray, changed: np.ndarray) -> Behaviour:
    """Kept (of the intact derivations) and gained (of the rest), with the McNemar test of
    lost against gained; ``intact`` and ``changed`` are ``[n]`` bool over the same equations."""
    intact, changed = np.asarray(intact, bool), np.asarray(changed, bool)
    lost, gained = int((intact & ~changed).sum()), int((~intact & changed).sum())
    return Behaviour(kept=Rate.of(changed[intact].tolist()), gained=Rate.of(changed[~intact].tolist()),
                     p_value=mcnemar_p(lost, gained))


def effect(values: np.ndarray, n_boot: int, rng: np.random.Generator) -> Effect:
    """The mean of a per-equation ``[E]`` effect (nan left out) and its 95% bootstrap CI over equations."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if not v.size:
        return Effect(None, None, None, 0)
    value, lo, hi = bootstrap_ci(v, n_boot=n_boot, rng=rng)
    return Effect(value, lo, hi, int(v.size))


# ----------------------------------------------------------------- the interventions


@dataclass
class _Run:
    """One model's interventions in progress: its inputs, the intact decode and what it ships."""

    name: str
    model: object
    memory: Memory
    inp: CausalInputs
    cfg: CausalConfig
    mask_draws: list
    decode: bool  # behaviour decoded for every intervention (else only CONTROL_DECODED)
    progress: Callable[[str], None]
    base_loss: np.ndarray = None  # [E]
    intact: np.ndarray = None  # [E] bool
    per_equation: dict = None

    def derived(self, rows=None, *, seed: int | None = None, memory: Memory | None = None) -> np.ndarray:
        """The behaviour decode under whatever hooks are active; the length is always read from
        the intact memory."""
        return derived_under(self.model, memory or self.memory, self.inp, self.cfg,
                             self.cfg.seed if seed is None else seed, rows=rows, length_memory=self.memory)


def _rng(seed: int, *labels: str) -> np.random.Generator:
    return np.random.default_rng([seed, *(sum(map(ord, s)) for s in labels)])


def _perturbation_seed(seed: int, name: str) -> torch.Generator:
    return torch.Generator().manual_seed(int(_rng(seed, name, "perturbation").integers(2**31)))


def cross_conditions(run: _Run, pairs: Sequence[tuple[int, int]]) -> list[Intervention]:
    """Every condition of :data:`CONDITIONS` and the resample ablation: loss, behaviour, and the
    random perturbation of matched norm on the cross-attention heads' outputs."""
    model, memory, inp, cfg = run.model, run.memory, run.inp, run.cfg
    n_layers = len(model.diffuser.layers)
    real = _real(inp)
    intact_z = head_outputs(model, memory, inp, run.mask_draws, "cross")
    resampled = resampled_memory(memory, pairs)
    with_partner = np.zeros(len(inp.lengths), dtype=bool)
    with_partner[[a for a, _ in pairs]] = True
    specs = [(name, [(CROSS.hook_name(i), block_keys(blocked, renorm)) for i in range(n_layers)], memory)
             for name, (blocked, renorm) in CONDITIONS.items()]
    specs.append((RESAMPLED, [], resampled))
    rows = []
    for name, hooks, mem in specs:
        rng = _rng(cfg.seed, run.name, name)
        keep = with_partner if name == RESAMPLED else np.ones(len(inp.lengths), dtype=bool)
        with model.hooks(hooks):
            loss = masked_loss(model, mem, inp, run.mask_draws) - run.base_loss
        loss[~keep] = np.nan
        norms = displacement_norms(intact_z, head_outputs(model, mem, inp, run.mask_draws, "cross", hooks), real)
        gen = _perturbation_seed(cfg.seed, f"{run.name}/{name}")
        noise = [(head_output(CROSS.id, i), perturb_heads(norms[i], gen)) for i in range(n_layers)]
        with model.hooks(noise):
            random_loss = masked_loss(model, memory, inp, run.mask_draws) - run.base_loss
        random_loss[~keep] = np.nan
        decoded = behaviour_of = random_behaviour = None
        rows_kept = np.flatnonzero(keep)
        if run.decode or name in CONTROL_DECODED:
            with model.hooks(hooks):
                decoded = run.derived(rows=rows_kept, memory=mem)
            behaviour_of = behaviour(run.intact[rows_kept], decoded)
            if run.decode:  # the matched random perturbation, decoded
                gen = _perturbation_seed(cfg.seed, f"{run.name}/{name}/decode")
                with model.hooks([(head_output(CROSS.id, i), perturb_heads(norms[i], gen)) for i in range(n_layers)]):
                    random_behaviour = behaviour(run.intact[rows_kept], run.derived(rows=rows_kept))
        if name in CONTROL_DECODED:
            change = np.full(len(inp.lengths), np.nan)
            if decoded is not None:
                change[rows_kept] = decoded.astype(float) - run.intact[rows_kept].astype(float)
            run.per_equation[name] = {"loss": loss, "derived": change}
        rows.append(Intervention(name=name, n=int(keep.sum()), loss=effect(loss, cfg.n_boot, rng), behaviour=behaviour_of,
                                 displacement=float(norms.pow(2).mean().sqrt()), random_loss=effect(random_loss, cfg.n_boot, rng),
                                 random_behaviour=random_behaviour))
        run.progress(f"{run.name}: {name}")
    return rows


@torch.no_grad()
def head_ablations(run: _Run) -> list[HeadAblation]:
    """Each self- and cross-attention head of the diffuser, its output replaced by its mean over
    the benchmark's canvases (every draw, the real positions): the loss with its sign-flip test
    and, decoded, the behaviour with McNemar's, each Holm-adjusted over the heads."""
    model, memory, inp, cfg = run.model, run.memory, run.inp, run.cfg
    n_layers, n_heads = len(model.diffuser.layers), model.diffuser.layers[0].self_attn.n_heads
    real = _real(inp)
    heads = [(block, layer, head) for block in BLOCKS for layer in range(n_layers) for head in range(n_heads)]
    means, norms = {}, {}
    for block in BLOCKS:
        outputs = head_outputs(model, memory, inp, run.mask_draws, block)
        for layer in range(n_layers):
            z = torch.stack([d[layer] for d in outputs])  # [draw, E, H, L, d_head]
            w = real[None, :, None, :, None].to(z.dtype)  # [1, E, 1, L, 1]
            count = float(w.sum()) * z.shape[0]  # real positions over all draws
            mean = (z * w).sum((0, 1, 3)) / count  # [H, d_head]
            dist = ((z - mean[None, None, :, None, :]).norm(dim=-1) ** 2 * w[..., 0]).sum((0, 1, 3))  # [H]
            for head in range(n_heads):
                means[block, layer, head] = mean[head]
                norms[block, layer, head] = float((dist[head] / count).sqrt())

    def point(block: str, layer: int) -> str:
        return head_output(BLOCKS[block].id, layer)

    loss = {h: np.zeros(len(inp.lengths)) for h in heads}
    random_loss = {h: np.zeros(len(inp.lengths)) for h in heads}
    for noisy, t in run.mask_draws:  # each layer's ablation re-runs the diffuser from that layer
        lf = _loss_fn(inp, noisy)
        resid = LayerRecorder(model, "diffuser")
        with resid.recording():
            base = lf(model.diffuser(noisy, memory.keys, t, memory_mask=memory.mask)[0])
        for h in heads:
            block, layer, head = h
            scale = torch.zeros(n_heads)
            scale[head] = norms[h]
            gen = _perturbation_seed(cfg.seed, f"{run.name}/{block}{layer}.{head}")
            for hook, into in ((replace_head(head, means[h]), loss), (perturb_heads(scale, gen), random_loss)):
                with model.hooks([(point(block, layer), hook)]):
                    logits = model.diffuser.forward_from(layer, resid[layer], memory.keys, memory_mask=memory.mask,
                                                         self_mask=noisy != PAD_ID)
                into[h] += (lf(logits) - base).numpy() / len(run.mask_draws)

    derived = {}
    if run.decode:
        for h in heads:
            block, layer, head = h
            with model.hooks([(point(block, layer), replace_head(head, means[h]))]):
                derived[h] = run.derived()
        run.progress(f"{run.name}: {len(heads)} heads decoded")
    # the matched random perturbation, decoded for the heads that lose the most derivations
    net = {h: float((run.intact & ~d).sum() - (~run.intact & d).sum()) for h, d in derived.items()}
    chosen = sorted(net, key=lambda h: (-net[h], -float(loss[h].mean())))[:cfg.random_heads]
    random_derived = {}
    for h in chosen:
        block, layer, head = h
        scale = torch.zeros(n_heads)
        scale[head] = norms[h]
        with model.hooks([(point(block, layer), perturb_heads(scale, _perturbation_seed(cfg.seed, f"{run.name}/{h}")))]):
            random_derived[h] = run.derived()

    rng = _rng(cfg.seed, run.name, "heads")
    loss_p = [sign_flip_p(loss[h], n_perm=cfg.n_perm, rng=rng) for h in heads]
    behaviours = {h: behaviour(run.intact, d) for h, d in derived.items()}
    loss_holm = holm(loss_p)
    behaviour_holm = holm([behaviours[h].p_value if h in behaviours else None for h in heads])
    rows = []
    for k, h in enumerate(heads):
        block, layer, head = h
        b = behaviours.get(h)
        if b is not None:
            b = replace(b, p_holm=behaviour_holm[k])
        rb = behaviour(run.intact, random_derived[h]) if h in random_derived else None
        ablation = Intervention(name=f"{block} L{layer + 1}H{head + 1}", n=len(inp.lengths),
                                loss=effect(loss[h], cfg.n_boot, rng), behaviour=b, displacement=norms[h],
                                random_loss=effect(random_loss[h], cfg.n_boot, rng), random_behaviour=rb)
        rows.append(HeadAblation(block, layer + 1, head + 1, ablation, loss_p[k], loss_holm[k]))
    run.per_equation["heads"] = {
        "loss": np.stack([loss[h] for h in heads], 1),
        "derived": (np.stack([derived[h].astype(float) - run.intact.astype(float) for h in heads], 1)
                    if derived else None),
    }
    return rows


def agreement(head_loss: np.ndarray, head_change: np.ndarray, n_boot: int, rng: np.random.Generator) -> Agreement:
    """Across heads, Spearman rho of the mean loss increase against the share of derivations lost
    (``[E, heads]`` arrays; change is derived under ablation minus intact), CI over equations."""
    loss, change = np.asarray(head_loss, float), np.asarray(head_change, float)
    rho, lo, hi = paired_bootstrap_ci([loss, change], M.head_agreement, n_boot=n_boot, rng=rng)
    return Agreement(rho=rho, ci_low=lo, ci_high=hi, n_heads=int(loss.shape[1]),
                     changed=int((np.abs(change) > 0).any(0).sum()))


# ----------------------------------------------------------------- activation patching


@torch.no_grad()
def patching(model, memory: Memory, inp: CausalInputs, pairs: Sequence[tuple[int, int]], *, level: float,
             seed: int, n_boot: int, rng: np.random.Generator) -> Patching:
    """How far each layer's, and each head's, cross-attention output moves A toward B's tokens.

    Metric per pair: mean over A's masked positions where A and B differ of
    ``log p(B's token) - log p(A's token)``. ``move``: patched minus clean (nats), the mean over
    pairs; ``share``: the ratio of that mean to the mean move of B's whole memory (CI: pairs
    resampled). A ratio over a move near 0 is noise: the moves are the numbers to read.
    """
    if not pairs:
        return Patching(0, level, None)
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
    total = (corrupt - clean)[valid]

    def row(layer: int, head: int | None, patched: np.ndarray) -> PatchRow:
        move = (patched - clean)[valid]
        idx = np.arange(move.size)
        boots = []
        for _ in range(n_boot):
            i = rng.choice(idx, idx.size)
            boots.append(move[i].mean() / total[i].mean() if total[i].mean() != 0 else np.nan)
        lo, hi = np.nanpercentile(boots, [2.5, 97.5]) if np.isfinite(boots).any() else (np.nan, np.nan)
        value = float(move.mean() / total.mean()) if total.mean() != 0 else None
        share = Effect(value, float(lo), float(hi), int(move.size))
        return PatchRow(layer=layer + 1, move=effect(move, n_boot, rng), share=share,
                        head=None if head is None else head + 1)

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

    layers = tuple(row(i, None, patched_run(i, None)) for i in range(n_layers))
    heads = tuple(row(i, h, patched_run(i, h)) for i in range(n_layers) for h in range(n_heads))
    return Patching(int(valid.sum()), level, effect(total, n_boot, rng), layers, heads)


# ----------------------------------------------------------------- entry point


def causal_model(name: str, model, inp: CausalInputs, cfg: CausalConfig, *, decode: bool,
                 progress: Callable[[str], None] = lambda line: None) -> tuple[CausalModel, dict]:
    """Every intervention on one model: its record and its per-equation arrays for the findings.

    ``decode``: behaviour is decoded for every intervention, with both baselines; otherwise
    (the control) only the intact decode and :data:`CONTROL_DECODED`.
    """
    with torch.no_grad():
        memory = model.encode(inp.obs)
    run = _Run(name, model, memory, inp, cfg, draws(inp.canvas, cfg.levels, cfg.seed), decode, progress,
               per_equation={})
    run.base_loss = masked_loss(model, memory, inp, run.mask_draws)
    run.intact = run.derived()
    progress(f"{name}: intact decode derives {int(run.intact.sum())} of {run.intact.size}")
    reseed = behaviour(run.intact, run.derived(seed=cfg.seed + 1)) if decode else None
    pairs = partners(inp.canvas, inp.lengths)
    cross = cross_conditions(run, pairs)
    heads = head_ablations(run)
    progress(f"{name}: heads")
    agree = None
    if run.per_equation["heads"]["derived"] is not None:
        agree = agreement(run.per_equation["heads"]["loss"], run.per_equation["heads"]["derived"], cfg.n_boot,
                          _rng(cfg.seed, name, "agreement"))
    patch = patching(model, memory, inp, pairs, level=float(np.median(cfg.levels)), seed=cfg.seed, n_boot=cfg.n_boot,
                     rng=_rng(cfg.seed, name, "patching"))
    record = CausalModel(derived=Rate.of(run.intact.tolist()), cross=tuple(cross), heads=tuple(heads), patching=patch,
                         reseed=reseed, agreement=agree)
    return record, run.per_equation
