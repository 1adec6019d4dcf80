"""One call from observations to a ranked, fitted derivation.

:func:`derive` encodes ``(x, y)``, decodes candidates (diffusion samples or AR beams and
samples), validates / repairs / rejects each (:func:`repair.validate_or_repair`), fits the
constants on the given points, optionally refines (:mod:`.refine`) and ranks by R^2 (ties ->
fewer tokens). Held-out scoring is the caller's: :func:`score_on`. Comparing with a truth is
the evaluation's job (:mod:`physdocs.matching`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from physdocs.decoding.autoregressive import beam_search, sample_decode
from physdocs.decoding.constants import fit_constants, predict, r2_score
from physdocs.decoding.diffusion import (
    BeamConfig,
    DiffusionConfig,
    DiffusionResult,
    diffusion_beam,
    diffusion_decode,
)
from physdocs.decoding.refine import RefineConfig
from physdocs.decoding.refine import refine as refine_search
from physdocs.decoding.repair import validate_or_repair
from physdocs.decoding.scaling import Scaling, choose_scaling, substitute_scales, tidy, to_original_units
from physdocs.decoding.symbolic import SympyTimeout, steps_to_sympy, tame_constants, time_limit
from physdocs.grammar import (
    GrammarError,
    Node,
    decode_sequence,
    encode_sequence,
    tree_to_prefix,
)
from physdocs.observations import encode_observations
from physdocs.results import finite
from physdocs.trajectory import trajectory_stats

Decoder = Literal["diffusion", "ar"]
#: The diffusion canvases decoded by argmax at the most likely lengths (the rest are sampled).
#: Chosen with revision on synthetic skeletons outside the evaluation's probes (50 held-out
#: and 50 training skeletons, first guess of 48 canvases, R^2 > 0.99): plain sampling 16 and
#: 27, revision 20 and 29, revision with 8 argmax lengths 21 and 31.
DERIVE_LENGTH_BEAM = 8
#: Candidates whose training R^2 agree to this many decimals count as tied (shorter wins).
R2_TIE_DECIMALS = 9
#: The diffusion sampler of :func:`derive` (its seed is drawn per call): argmax canvases at the
#: :data:`DERIVE_LENGTH_BEAM` likeliest lengths, the rest sampled at temperature 1 with
#: MaskGIT's Gumbel re-masking (tau = 4.5), all with revision.
DERIVE_SAMPLER = DiffusionConfig(temperature=1.0, remask_noise=4.5, greedy_first=True, revise=True,
                                 length_beam=DERIVE_LENGTH_BEAM)
#: The diffuser's beam search for the evaluation's diffusion budget
#: (``EvalConfig.diffusion_beam``): half of the diffusion canvases are the beam's best.
#: Measured on the refine6 weights. First guess of 48 canvases on the evaluation's 100
#: held-out synthetic skeletons, exact (R^2 > 0.99): the sampler alone 8 (52), the beam for
#: 40 of them 13 (46), for 24 of them 11 (49); on our 120, 63 (75), 62 (79), 64 (77).
#: Outside the probe (held-out skeletons 100-159) half of 48 gained nothing (9 against 7):
#: the sampler's exact forms come from scattered samples, the beam's from other skeletons.
#: So the budget keeps the sampler's 48 canvases, adds 48 beam canvases and halves
#: refinement (2 rounds): at most 144 candidates as before, and on skeletons 100-159, 12
#: exact against 9 (R^2 > 0.99: 38 against 41; ``benchmarks/diffusion_beam_ab.py``). The
#: full evaluation of the refine7 weights with that budget (README, leg 9) took the
#: diffuser's held-out exact forms from 8 to 19 of 100. Off in :func:`derive` unless asked for.
DERIVE_BEAM = BeamConfig()


# ---------------------------------------------------------------- derive


@dataclass
class Derivation:
    """The best candidate of one :func:`derive` call.

    ``tokens``: its (repaired) sequence ``BOS ... EOS``; ``raw_tokens``: what the decoder
    produced. ``status``: valid / repaired / rejected (every candidate rejected -> the
    derivation is rejected, ``steps`` None, ``r2_fit = -inf``). ``expression``: sympy, with the
    fitted constants; ``r2_fit``: R^2 on the points given to :func:`derive`. ``candidates``:
    one dict per decoded candidate (source, tokens, status, note, r2, constants, ...).
    ``trajectory``: for diffusion, the best candidate's refinement trajectory when the sampler
    wrote it (:meth:`DiffusionResult.trajectory`), else None (a beam canvas, refinement, AR).
    """

    tokens: tuple[str, ...] | None
    raw_tokens: tuple[str, ...]
    status: str
    note: str
    steps: tuple[Node, ...] | None
    expression: Any
    latex: str | None
    constants: tuple[float, ...]
    r2_fit: float
    seconds: float
    decoder: str
    candidates: list[dict] = field(default_factory=list)
    trajectory: dict | None = None
    source: str = ""  # which candidate won: "argmax", "sample 3", "beam 0" (AR's or the diffuser's), "refine 2 of parent 0"
    first_guess: Derivation | None = None  # the best before refinement (None: no refinement ran)

    def to_json(self) -> dict:
        """JSON-able dict (non-finite numbers -> None; steps as prefix strings)."""
        cands = []
        for c in self.candidates:
            d = dict(c)
            d["r2"] = finite(d.get("r2"))
            if "logprob" in d:
                d["logprob"] = finite(d["logprob"])
            cands.append(d)
        return {
            "decoder": self.decoder,
            "status": self.status,
            "note": self.note,
            "tokens": list(self.tokens) if self.tokens else None,
            "raw_tokens": list(self.raw_tokens),
            "steps": [" ".join(tree_to_prefix(s)) for s in self.steps] if self.steps else None,
            "expression": None if self.expression is None else str(self.expression),
            "latex": self.latex,
            "constants": [float(c) for c in self.constants],
            "r2_fit": finite(self.r2_fit),
            "seconds": round(self.seconds, 4),
            "candidates": cands,
            "trajectory": self.trajectory,
            "source": self.source,
            "first_guess": None if self.first_guess is None else {
                "expression": None if self.first_guess.expression is None else str(self.first_guess.expression),
                "tokens": list(self.first_guess.tokens) if self.first_guess.tokens else None,
                "r2_fit": finite(self.first_guess.r2_fit),
                "source": self.first_guess.source,
            },
        }


def score_on(derivation: Derivation, x: np.ndarray, y: np.ndarray) -> float:
    """R^2 of the derivation (fitted constants) on other points; -inf if rejected or unusable."""
    if derivation.steps is None:
        return float("-inf")
    try:
        return r2_score(y, predict(derivation.steps, x, derivation.constants))
    except GrammarError:
        return float("-inf")


#: Seconds allowed for sympy to build and print the best candidate before falling back.
RENDER_SECONDS = 2.0


def render(
    steps: Sequence[Node], constants: Sequence[float], names: Mapping[str, str] | None = None
) -> tuple[Any, str, str]:
    """``(sympy expression, LaTeX, note)`` for a fitted derivation, never hanging.

    sympy evaluates (and simplifies trivially) when :func:`tame_constants` holds and it
    finishes within :data:`RENDER_SECONDS` (main thread); otherwise the expression is built
    unevaluated (``sympy.evaluate(False)``), which ``note`` says.
    """
    import sympy as sp

    if tame_constants(steps):
        try:
            with time_limit(RENDER_SECONDS):
                expr = steps_to_sympy(steps, constants)
                return expr, _latex(expr, names), ""
        except SympyTimeout:
            pass
    with sp.evaluate(False):
        expr = steps_to_sympy(steps, constants)
        return expr, _latex(expr, names), "expression left unevaluated (unsafe constant subexpression)"


def _latex(expr, names: Mapping[str, str] | None) -> str:
    import sympy as sp

    expr = expr.xreplace({f: sp.Float(f, 4) for f in expr.atoms(sp.Float)})
    if names:
        expr = expr.xreplace({sp.Symbol(tok, positive=True): sp.Symbol(name) for tok, name in names.items()})
    return sp.latex(expr)


def _decode(
    model, memory, decoder: Decoder, n_samples: int, beam_size: int, diffusion, rng, constrained, n_vars,
    diffusion_beam_cfg: BeamConfig | None = None,
):
    """[(source, raw tokens, extra fields, DiffusionResult | None)] per candidate."""
    if decoder == "diffusion":
        cfg = diffusion or replace(DERIVE_SAMPLER, seed=int(rng.integers(2**31)))
        cfg = replace(cfg, greedy_first=True)
        n_beam = int(n_samples * diffusion_beam_cfg.share) if diffusion_beam_cfg is not None else 0
        results = diffusion_decode(model, memory, cfg, n_samples=n_samples - n_beam, n_vars=n_vars) \
            if n_samples > n_beam else []
        out = []
        for r in results:
            argmax = r.temperature == 0 and r.remask_noise == 0
            extra = {"eos_position": r.eos_position}
            if argmax and r.sample_index == 0:  # the single decode's steps (the evaluation reports them)
                extra["trajectory_stats"] = trajectory_stats(r.trajectory_tokens).to_json()
            source = f"sample {r.sample_index}"
            if argmax:  # the first, or an argmax at another of the most likely lengths
                source = "argmax" if r.sample_index == 0 else f"argmax {r.sample_index}"
            out.append((source, r.tokens, extra, r))
        if n_beam:  # the beam's best canvases after the sampler's (ties break toward the sampler)
            beams = diffusion_beam(model, memory, diffusion_beam_cfg, n_vars=n_vars)[:n_beam]
            out += [(f"beam {i}", b.tokens, {"eos_position": b.eos_position, "logprob": b.logprob}, None)
                    for i, b in enumerate(beams)]
        return out
    if decoder == "ar":
        beams = beam_search(model, memory, beam_size=beam_size, constrained=constrained, n_vars=n_vars)
        out = [
            (f"beam {i}", list(b.tokens), {"logprob": b.logprob, "finished": b.finished}, None)
            for i, b in enumerate(beams)
        ]
        if n_samples > 0:
            gen = torch.Generator().manual_seed(int(rng.integers(2**31)))
            draws = sample_decode(model, memory, n_samples, generator=gen, constrained=constrained, n_vars=n_vars)
            out += [
                (f"sample {i}", list(b.tokens), {"logprob": b.logprob, "finished": b.finished}, None)
                for i, b in enumerate(draws)
            ]
        return out
    raise ValueError(f"decoder must be 'diffusion' or 'ar', got {decoder!r}")


class _Fitter:
    """Repair, fit constants (BFGS) and score candidates; identical sequences are fitted once.

    ``free_scale``: every candidate is fitted as ``C * candidate`` (its last step scaled, the
    factor profiled out in closed form), for data whose columns were rescaled by powers of
    two: the overall factor absorbs the scales. ``raw_factors`` (``x1 -> 2**e1`` ...): the
    columns' scales; a candidate that does not fit exactly is also fitted in the original
    units (``f(2**e1 * x1, ...)``), where a physical law's sum of terms keeps its own
    coefficients, and the better fit is kept. ``fit_tokens`` is the sequence actually fitted.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, restarts: int, rng: np.random.Generator, free_scale: bool = False,
        raw_factors: Mapping[str, float] | None = None,
    ) -> None:
        self.x, self.y, self.restarts, self.rng, self.free_scale = x, y, restarts, rng, free_scale
        self.raw_factors = {k: v for k, v in (raw_factors or {}).items() if v != 1.0}
        if self.raw_factors:
            factors = np.array([self.raw_factors.get(f"x{i + 1}", 1.0) for i in range(x.shape[1])])
            self.x_raw = x * factors
        self.fits: dict[tuple[str, ...], tuple[float, tuple[float, ...], str, tuple[str, ...]]] = {}

    def _fit(self, steps: tuple[Node, ...], restarts: int) -> tuple[float, tuple[float, ...], tuple[Node, ...]]:
        """``(R^2, constants, fitted steps)`` of the best of the scaled and raw-unit fits."""
        fitted = (*steps[:-1], Node("mul", (Node("C"), steps[-1]))) if self.free_scale else steps
        fit = fit_constants(steps, self.x, self.y, restarts=restarts, rng=self.rng, scale_last=self.free_scale)
        best = (r2_score(self.y, predict(fitted, self.x, fit.constants)), fit.constants, fitted)
        if self.raw_factors and best[0] < RAW_RETRY_BELOW and _uses(steps, self.raw_factors):
            raw = fit_constants(steps, self.x_raw, self.y, restarts=restarts, rng=self.rng,
                                scale_last=self.free_scale)
            if raw.success:
                # the raw-unit fit, as a tree on the scaled columns: f(2**e1 * x1, ...)
                r_steps, r_consts = substitute_scales(fitted, raw.constants, self.raw_factors)
                r2 = r2_score(self.y, predict(r_steps, self.x, r_consts))
                if r2 > best[0]:
                    best = (r2, r_consts, r_steps)
        return best

    def __call__(
        self, source: str, raw: Sequence[str], extra: dict | None = None, restarts: int | None = None
    ) -> dict:
        parsed = validate_or_repair(raw)
        cand = {
            "source": source,
            "tokens": list(raw),
            "status": parsed.status,
            "note": parsed.note,
            "repaired_tokens": list(parsed.tokens) if parsed.tokens else None,
            "r2": float("-inf"),
            "constants": [],
            "fitted": False,
            **(extra or {}),
        }
        if parsed.steps is None or parsed.tokens is None:
            return cand
        key = tuple(encode_sequence(parsed.steps))
        if key not in self.fits:
            try:
                starts = self.restarts if restarts is None else restarts
                r2, consts, fitted = self._fit(tuple(parsed.steps), starts)
                self.fits[key] = (r2, consts, "", tuple(encode_sequence(fitted)))
            except GrammarError as exc:
                self.fits[key] = (float("-inf"), (), f"cannot evaluate on the data: {exc}", key)
        r2, consts, problem, fit_tokens = self.fits[key]
        cand.update(r2=r2, constants=list(consts), fitted=not problem, fit_tokens=list(fit_tokens))
        if problem:
            cand["status"] = "rejected"
            cand["note"] = "; ".join(filter(None, [cand["note"], problem]))
        return cand


#: A candidate fitted on the scaled columns below this R^2 is also fitted in the original units.
RAW_RETRY_BELOW = 0.999999


def _uses(steps: Sequence[Node], names: Mapping[str, float]) -> bool:
    """Whether a scaled variable sits anywhere but in a plain product (where the scale is one factor)."""
    def inside(node: Node, plain: bool) -> bool:
        if node.symbol in names:
            return not plain
        keeps = node.symbol in ("mul", "div", "neg", "sqrt")
        if node.symbol == "pow":
            return inside(node.children[0], plain) or inside(node.children[1], False)
        return any(inside(c, plain and keeps) for c in node.children)

    return len(steps) > 1 or any(inside(step, True) for step in steps)


def derive(
    model: torch.nn.Module,
    x: np.ndarray,
    y: np.ndarray,
    *,
    decoder: Decoder = "diffusion",
    n_samples: int = 8,
    beam_size: int = 8,
    rng: np.random.Generator | None = None,
    diffusion: DiffusionConfig | None = None,
    constrained: bool = True,
    restarts: int = 10,
    names: Mapping[str, str] | None = None,
    refine: RefineConfig | None = None,
    normalise: bool = True,
    scaling: Scaling | None = None,
    diffusion_beam: BeamConfig | None = None,
) -> Derivation:
    """Derive an equation for ``y [n]`` from ``x [n, k]`` (k <= 9) with a trained system.

    ``normalise`` (the default, and what training does): every column and ``y`` are scaled
    by powers of two to the middle of the training boxes (:mod:`.scaling`), every candidate
    is fitted with an overall factor, and the result is mapped back: ``steps``,
    ``constants`` and ``expression`` are in the original units. ``normalise=False`` reads
    the data as given (it must lie in float16's range) and fits candidates as they are.

    ``decoder="diffusion"``: ``n_samples`` canvases. Given ``diffusion_beam``, its ``share`` of
    them are the best of the diffuser's beam search (:func:`.diffusion.diffusion_beam`;
    :data:`DERIVE_BEAM` is the evaluation's);
    of the rest, the first :data:`DERIVE_LENGTH_BEAM` are decoded by argmax at the most likely
    lengths, the others sampled at lengths drawn from the length head (default temperature
    1, MaskGIT's tau = 4.5), all with revision (override with ``diffusion``); then, given
    ``refine``, model-guided refinement (:mod:`.refine`).
    ``decoder="ar"``: beam search with ``beam_size`` beams (``constrained``) plus
    ``n_samples`` ancestral samples. Both decoders are barred from variables beyond ``x``'s
    ``k`` columns. Each candidate is validated / repaired / rejected, identical sequences are
    fitted once, constants are fitted with ``restarts`` BFGS starts, candidates are ranked by
    R^2 on these points (agreeing to ``R2_TIE_DECIMALS`` -> fewer tokens, then decoder order).

    The budget is counted in candidates, never seconds: a seed gives the same result on any
    machine. ``first_guess`` is the best candidate before refinement. ``names`` only renames
    variables in ``latex``. A column no power of two can bring into float16's range raises
    :class:`scaling.ScalingError`; unnormalised observations outside it raise
    :class:`observations.ObservationError`.
    """
    start = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    k = xa.shape[1]
    if scaling is None and normalise:
        labels = [(names or {}).get(f"x{i}", f"x{i}") for i in range(1, k + 1)]
        scaling = choose_scaling(xa, ya, labels, "the target")
    elif scaling is None:
        scaling = Scaling(x_exp=(0,) * k, y_exp=0)
    xs, ys = scaling.apply(xa, ya)
    encoded = encode_observations(xs, ys)  # [n, 160]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        memory = model.encode(torch.from_numpy(encoded)[None].to(device))
    decoded = _decode(model, memory, decoder, n_samples, beam_size, diffusion, rng, constrained, k, diffusion_beam)
    raw_factors = {f"x{i}": 2.0**e for i, e in enumerate(scaling.x_exp, start=1)}
    fitter = _Fitter(xs, ys, restarts, rng, free_scale=normalise, raw_factors=raw_factors)
    candidates = [fitter(source, raw, extra) for source, raw, extra, _ in decoded]
    first = _best(candidates, decoded, decoder, names, start, scaling)
    if refine is not None and decoder == "diffusion" and first.steps is not None:
        candidates += refine_search(model, memory, candidates, fitter, refine, rng, k)
        best = _best(candidates, decoded, decoder, names, start, scaling)
        best.first_guess = first
    else:
        best = first
    if was_training:
        model.train()
    best.seconds = time.perf_counter() - start
    return best


def _best(candidates: list[dict], decoded, decoder: str, names, start: float, scaling: Scaling) -> Derivation:
    """The best fitted candidate as a :class:`Derivation` (rejected when none was usable)."""
    usable = [i for i, c in enumerate(candidates) if c["fitted"]]
    if not usable:
        first = candidates[0] if candidates else {"tokens": [], "note": "no candidates"}
        reasons = "; ".join(f"{c['source']}: {c['note']}" for c in candidates[:3])
        return Derivation(
            None, tuple(first["tokens"]), "rejected", f"every candidate rejected ({reasons})", None, None,
            None, (), float("-inf"), time.perf_counter() - start, decoder, list(candidates),
            _trajectory(decoded, 0),
        )

    def rank(i: int) -> tuple[float, int, int]:
        r2 = candidates[i]["r2"]
        r2_key = round(r2, R2_TIE_DECIMALS) if math.isfinite(r2) else float("-inf")
        return (-r2_key, len(candidates[i]["fit_tokens"]), i)  # the tree as fitted, scale factors included

    best_i = min(usable, key=rank)
    best = candidates[best_i]
    steps, constants = decode_sequence(best["fit_tokens"]), tuple(best["constants"])
    if not scaling.identity:
        steps, constants = to_original_units(steps, constants, scaling)
    expression, latex, render_note = render(steps, constants, names)
    if not render_note:
        expression = tidy(expression)
        latex = _latex(expression, names)
    return Derivation(
        tokens=tuple(best["repaired_tokens"]),
        raw_tokens=tuple(best["tokens"]),
        status=best["status"],
        note="; ".join(filter(None, [best["note"], render_note])),
        steps=steps,
        expression=expression,
        latex=latex,
        constants=constants,
        r2_fit=float(best["r2"]),
        seconds=time.perf_counter() - start,
        decoder=decoder,
        candidates=list(candidates),
        trajectory=_trajectory(decoded, best_i) if best_i < len(decoded) else None,
        source=best["source"],
    )


def _trajectory(decoded, index: int) -> dict | None:
    if not decoded:
        return None
    result: DiffusionResult | None = decoded[index][3]
    return None if result is None else result.trajectory()
