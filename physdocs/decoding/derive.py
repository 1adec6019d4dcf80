"""One call from observations to a ranked, fitted derivation; symbolic match against a truth.

:func:`derive` encodes ``(x, y)``, decodes candidates (diffusion samples or AR beams),
validates / repairs / rejects each (:func:`repair.validate_or_repair`), fits the constants on
the given points and ranks by R^2 (ties -> fewer tokens). Held-out scoring is the caller's:
:func:`score_on`.

:func:`symbolic_match` rounds fitted constants to simple closed forms and asks sympy whether
the prediction equals the truth. Numbers may *refute* a match (fast), never claim one.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any, Literal

import numpy as np
import torch

from physdocs.decoding.autoregressive import beam_search, sample_decode
from physdocs.decoding.constants import fit_constants, predict, r2_score
from physdocs.decoding.diffusion import DiffusionConfig, DiffusionResult, diffusion_decode
from physdocs.decoding.refine import RefineConfig
from physdocs.decoding.refine import refine as refine_search
from physdocs.decoding.repair import validate_or_repair
from physdocs.grammar import (
    STEP_REFS,
    VARIABLES,
    GrammarError,
    Node,
    count_constants,
    decode_sequence,
    encode_sequence,
    evaluate,
    to_sympy,
    tree_to_prefix,
    variables_used,
)
from physdocs.observations import encode_observations

Decoder = Literal["diffusion", "ar"]
#: Candidates whose training R^2 agree to this many decimals count as tied (shorter wins).
R2_TIE_DECIMALS = 9


# ---------------------------------------------------------------- sympy helpers


def steps_to_sympy(
    steps: Node | Sequence[Node],
    constants: Sequence[Any] | None = None,
    symbols: Mapping[str, Any] | None = None,
):
    """One sympy expression for a derivation: each step's ``s<j>`` replaced by step ``j``.

    ``constants`` fill the ``C`` leaves in the order :func:`grammar.evaluate` uses (prefix
    order, step by step); floats become ``Float``, sympy numbers are kept exact. Without
    ``constants`` the leaves become symbols ``c0, c1, ...`` numbered across steps.
    """
    import sympy as sp

    seq = (steps,) if isinstance(steps, Node) else tuple(steps)
    done: dict[Any, Any] = {}
    offset = 0
    expr = None
    for k, step in enumerate(seq, start=1):
        n = count_constants(step)
        if constants is not None and offset + n > len(constants):
            raise GrammarError(f"derivation has more C leaves than the {len(constants)} constant(s) given")
        sub: dict[Any, Any] = {}
        for i in range(n):
            if constants is None:
                sub[sp.Symbol(f"c{i}")] = sp.Symbol(f"c{offset + i}")
            else:
                c = constants[offset + i]
                sub[sp.Symbol(f"c{i}")] = c if isinstance(c, sp.Basic) else sp.Float(float(c))
        sub.update(done)
        expr = to_sympy(step, symbols).xreplace(sub)
        done[sp.Symbol(f"s{k}", positive=True)] = expr
        offset += n
    if constants is not None and offset != len(constants):
        raise GrammarError(f"derivation has {offset} C leaves, got {len(constants)} constant(s)")
    return expr


def round_constant(value: float, rtol: float = 1e-3, max_den: int = 12):
    """Simplest ``p/q * pi**e`` (``q <= max_den``, ``e`` in -1, 0, 1) within ``rtol``; None if none.

    "Simplest" = smallest ``|p| + q`` (+2 when pi appears), so 12.566 -> 4*pi, not 88/7.
    ``|value| < 1e-12`` rounds to 0.
    """
    import sympy as sp

    if not math.isfinite(value):
        return None
    if abs(value) < 1e-12:
        return sp.Integer(0)
    best: tuple[int, Any] | None = None
    for e in (0, 1, -1):
        base = value / math.pi**e
        for q in range(1, max_den + 1):
            p = round(base * q)
            if p == 0 or abs(p / q * math.pi**e - value) > rtol * abs(value):
                continue
            frac = sp.Rational(p, q)
            cost = abs(frac.p) + frac.q + (2 if e else 0)
            if best is None or cost < best[0]:
                best = (cost, frac * sp.pi**e)
    return None if best is None else best[1]


def tame_constants(steps: Node | Sequence[Node], limit: float = 1e12) -> bool:
    """True when every variable-free subtree (no ``x``, ``s``, ``C``) is finite and below ``limit``.

    sympy evaluates such subtrees exactly when building an expression, and can hang on them
    (``log(log(...(6)))`` goes complex; ``6**6**6**6`` is astronomically large).
    """
    free = (*VARIABLES, *STEP_REFS, "C")
    one_point = np.zeros((1, 1))
    for step in _seq(steps):
        for node in step.walk():
            if node.children and not any(n.symbol in free for n in node.walk()):
                value = evaluate(node, one_point).values[0]
                if not (np.isfinite(value) and abs(value) < limit):
                    return False
    return True


class _SympyTimeout(Exception):
    pass


@contextmanager
def _time_limit(seconds: float | None) -> Iterator[None]:
    """Raise :class:`_SympyTimeout` after ``seconds`` (SIGALRM; main thread only, else no limit)."""
    usable = (
        seconds is not None
        and hasattr(signal, "setitimer")
        and threading.current_thread() is threading.main_thread()
    )
    if not usable:
        yield
        return

    def handler(signum, frame):  # noqa: ARG001
        raise _SympyTimeout

    old = signal.signal(signal.SIGALRM, handler)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


@dataclass(frozen=True)
class MatchResult:
    """``matched`` and why; ``rounded`` is the prediction after rounding its constants."""

    matched: bool
    reason: str
    rounded: str | None = None


def explain_match(
    pred_steps: Node | Sequence[Node],
    pred_constants: Sequence[float],
    true_node: Node | Sequence[Node],
    *,
    rtol: float = 1e-3,
    time_limit: float | None = 5.0,
    max_ops: int = 200,
    x: np.ndarray | None = None,
) -> MatchResult:
    """Symbolic equivalence of a fitted prediction and the truth, with the reason.

    0. Fitted constants that are negligible on ``x`` (the data's points; default 32 points in
       ``[1, 5]^k``) become 0 (:func:`drop_negligible`): ``x1*x2 - 8.6e-9`` is ``x1*x2``.

    1. Each fitted constant is rounded by :func:`round_constant` (``rtol``); one without a
       simple form means no match. (Redundant constants such as ``C*C*x1`` whose product is
       simple are not recognised.)
    2. Numeric refutation: both sides on 32 points in ``[1, 5]^k``; clearly different values
       mean no match. Numbers never establish a match.
    3. A variable-free subtree that is not finite (:func:`tame_constants`), or more than
       ``max_ops`` operations, means no match without calling simplify.
    4. Match iff ``expand(pred - true) == 0``, ``simplify(pred - true) == 0`` or
       ``simplify(pred / true) == 1``, within ``time_limit`` seconds (SIGALRM, main thread).

    A truth containing ``C`` (a free constant) cannot be matched symbolically.
    """
    import sympy as sp

    true_steps = (true_node,) if isinstance(true_node, Node) else tuple(true_node)
    if any(count_constants(s) for s in true_steps):
        return MatchResult(False, "the true expression has free constants C")
    if x is None:
        k = max((int(v[1:]) for v in variables_used([*_seq(pred_steps), *true_steps])), default=1)
        x = np.random.default_rng(12345).uniform(1.0, 5.0, size=(32, k))
    pred_constants = drop_negligible(pred_steps, pred_constants, x)
    rounded = [round_constant(float(c), rtol) for c in pred_constants]
    loose = [f"{c:.6g}" for c, r in zip(pred_constants, rounded, strict=True) if r is None]
    if loose:
        merged = _match_merged(pred_steps, pred_constants, true_steps, rtol, time_limit)
        if merged is not None:
            return merged
        return MatchResult(False, f"constant(s) {', '.join(loose)} have no simple form p/q*pi^e within rtol")
    try:
        pred_values = [float(r) for r in rounded]
        k = max((int(v[1:]) for v in variables_used([*_seq(pred_steps), *true_steps])), default=1)
        xs = np.random.default_rng(12345).uniform(1.0, 5.0, size=(32, k))
        p = predict(pred_steps, xs, pred_values)
        t = predict(true_steps, xs, ())
    except GrammarError as exc:
        return MatchResult(False, f"cannot evaluate: {exc}")
    ok = np.isfinite(p) & np.isfinite(t)
    if ok.sum() >= 8:
        with np.errstate(all="ignore"):
            err = np.abs(p[ok] - t[ok]) / np.maximum(np.abs(t[ok]), 1e-12)
        if float(err.max()) > 1e-6:
            return MatchResult(False, f"numerically different (max relative error {err.max():.3g})")
    if not (tame_constants(pred_steps) and tame_constants(true_steps)):
        return MatchResult(False, "a constant subexpression is not finite (unsafe for sympy)")
    pred = None
    try:
        with _time_limit(time_limit):
            pred = steps_to_sympy(pred_steps, rounded)
            true = steps_to_sympy(true_steps)
            n_ops = int(sp.count_ops(pred)) + int(sp.count_ops(true))
            if n_ops > max_ops:
                return MatchResult(
                    False, f"too large to simplify ({n_ops} > {max_ops} operations)", str(pred)
                )
            if pred == true or sp.expand(pred - true) == 0:
                return MatchResult(True, "expand(pred - true) == 0", str(pred))
            diff = sp.simplify(pred - true)
            if diff == 0:
                return MatchResult(True, "simplify(pred - true) == 0", str(pred))
            if true != 0 and sp.simplify(pred / true) == 1:
                return MatchResult(True, "simplify(pred / true) == 1", str(pred))
    except _SympyTimeout:
        return MatchResult(
            False, f"sympy timed out after {time_limit} s", None if pred is None else str(pred)
        )
    return MatchResult(False, f"simplify(pred - true) = {str(diff)[:80]}", str(pred))


def _match_merged(pred_steps, pred_constants, true_steps, rtol: float, time_limit: float | None):
    """Second chance for redundant constants (``C*C*x1``): let sympy merge the fitted numbers,
    then round each merged number. A match only; ``None`` when this route decides nothing."""
    import sympy as sp

    if not (tame_constants(pred_steps) and tame_constants(true_steps)):
        return None
    try:
        with _time_limit(time_limit):
            expr = steps_to_sympy(pred_steps, [float(c) for c in pred_constants])
            swap = {}
            for f in expr.atoms(sp.Float):
                simple = round_constant(float(f), rtol)
                if simple is None:
                    return None
                swap[f] = simple
            pred = expr.xreplace(swap)
            true = steps_to_sympy(true_steps)
            if sp.simplify(pred - true) == 0:
                return MatchResult(True, "fitted constants merged, then simplify(pred - true) == 0", str(pred))
    except (_SympyTimeout, GrammarError, TypeError, ValueError):
        return None
    return None


#: A fitted constant whose removal moves the output by less than this, relative to the
#: output's largest magnitude, is a fitting residue (``x1*x2 - 8.6e-9``), not structure.
NEGLIGIBLE = 1e-6


def drop_negligible(
    steps: Node | Sequence[Node], constants: Sequence[float], x: np.ndarray, rel: float = NEGLIGIBLE
) -> tuple[float, ...]:
    """``constants`` with each one set to 0 when that changes the output on ``x`` negligibly.

    Judged one constant at a time, against the prediction with all constants: setting a
    constant to 0 must move no point by more than ``rel * max|prediction|``. A multiplicative
    or exponent constant changes the output wholesale and is kept; an additive residue of
    1e-8 on outputs of order 1 is dropped. Nothing else changes.
    """
    out = [float(c) for c in constants]
    if not out:
        return ()
    try:
        with np.errstate(all="ignore"):
            base = predict(steps, x, out)
            scale = float(np.max(np.abs(base[np.isfinite(base)]))) if np.isfinite(base).any() else 0.0
            if not np.isfinite(base).all() or scale == 0:
                return tuple(out)
            for i, c in enumerate(out):
                if c == 0:
                    continue
                trial = [*out[:i], 0.0, *out[i + 1 :]]
                moved = predict(steps, x, trial)
                if np.isfinite(moved).all() and float(np.max(np.abs(moved - base))) <= rel * scale:
                    out = trial
    except GrammarError:
        return tuple(float(c) for c in constants)
    return tuple(out)


def symbolic_match(
    pred_steps: Node | Sequence[Node],
    pred_constants: Sequence[float],
    true_node: Node | Sequence[Node],
    *,
    rtol: float = 1e-3,
    time_limit: float | None = 5.0,
) -> bool:
    """True iff the prediction, constants rounded, simplifies to the truth (:func:`explain_match`)."""
    return explain_match(pred_steps, pred_constants, true_node, rtol=rtol, time_limit=time_limit).matched


def _seq(steps: Node | Sequence[Node]) -> tuple[Node, ...]:
    return (steps,) if isinstance(steps, Node) else tuple(steps)


# ---------------------------------------------------------------- derive


def _finite_or_none(v: float | None) -> float | None:
    return None if v is None or not math.isfinite(v) else float(v)


@dataclass
class Derivation:
    """The best candidate of one :func:`derive` call.

    ``tokens``: its (repaired) sequence ``BOS ... EOS``; ``raw_tokens``: what the decoder
    produced. ``status``: valid / repaired / rejected (every candidate rejected -> the
    derivation is rejected, ``steps`` None, ``r2_fit = -inf``). ``expression``: sympy, with the
    fitted constants; ``r2_fit``: R^2 on the points given to :func:`derive`. ``candidates``:
    one dict per decoded candidate (source, tokens, status, note, r2, constants, ...).
    ``trajectory``: for diffusion, the best candidate's refinement trajectory
    (:meth:`DiffusionResult.trajectory`), else None.
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
    source: str = ""  # which candidate won: "argmax", "sample 3", "beam 0", "refine 2 of parent 0"
    first_guess: Derivation | None = None  # the best before refinement (None: no refinement ran)

    def to_json(self) -> dict:
        """JSON-able dict (non-finite numbers -> None; steps as prefix strings)."""
        cands = []
        for c in self.candidates:
            d = dict(c)
            d["r2"] = _finite_or_none(d.get("r2"))
            if "logprob" in d:
                d["logprob"] = _finite_or_none(d["logprob"])
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
            "r2_fit": _finite_or_none(self.r2_fit),
            "seconds": round(self.seconds, 4),
            "candidates": cands,
            "trajectory": self.trajectory,
            "source": self.source,
            "first_guess": None if self.first_guess is None else {
                "expression": None if self.first_guess.expression is None else str(self.first_guess.expression),
                "tokens": list(self.first_guess.tokens) if self.first_guess.tokens else None,
                "r2_fit": _finite_or_none(self.first_guess.r2_fit),
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
            with _time_limit(RENDER_SECONDS):
                expr = steps_to_sympy(steps, constants)
                return expr, _latex(expr, names), ""
        except _SympyTimeout:
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
    model, memory, decoder: Decoder, n_samples: int, beam_size: int, diffusion, rng, constrained, n_vars
):
    """[(source, raw tokens, extra fields, DiffusionResult | None)] per candidate."""
    if decoder == "diffusion":
        cfg = diffusion or DiffusionConfig(
            temperature=1.0, remask_noise=4.5, greedy_first=True, seed=int(rng.integers(2**31))
        )
        cfg = replace(cfg, greedy_first=True)
        results = diffusion_decode(model, memory, cfg, n_samples=n_samples, n_vars=n_vars)
        return [
            (
                "argmax" if r.temperature == 0 and r.remask_noise == 0 else f"sample {r.sample_index}",
                r.tokens,
                {},
                r,
            )
            for r in results
        ]
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

    ``free_scale``: every candidate is fitted as ``C * candidate`` (its last step scaled), for
    data whose columns were rescaled by powers of two: the overall factor absorbs the scales.
    ``fit_tokens`` is the sequence actually fitted.
    """

    def __init__(
        self, x: np.ndarray, y: np.ndarray, restarts: int, rng: np.random.Generator, free_scale: bool = False
    ) -> None:
        self.x, self.y, self.restarts, self.rng, self.free_scale = x, y, restarts, rng, free_scale
        self.fits: dict[tuple[str, ...], tuple[float, tuple[float, ...], str]] = {}

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
        steps = parsed.steps
        if self.free_scale:
            steps = (*steps[:-1], Node("mul", (Node("C"), steps[-1])))
        key = tuple(encode_sequence(steps))
        cand["fit_tokens"] = list(key)
        if key not in self.fits:
            try:
                starts = self.restarts if restarts is None else restarts
                fit = fit_constants(steps, self.x, self.y, restarts=starts, rng=self.rng)
                r2 = r2_score(self.y, predict(steps, self.x, fit.constants))
                self.fits[key] = (r2, fit.constants, "")
            except GrammarError as exc:
                self.fits[key] = (float("-inf"), (), f"cannot evaluate on the data: {exc}")
        r2, consts, problem = self.fits[key]
        cand.update(r2=r2, constants=list(consts), fitted=not problem)
        if problem:
            cand["status"] = "rejected"
            cand["note"] = "; ".join(filter(None, [cand["note"], problem]))
        return cand


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
    free_scale: bool = False,
) -> Derivation:
    """Derive an equation for ``y [n]`` from ``x [n, k]`` (k <= 9) with a trained system.

    ``decoder="diffusion"``: ``n_samples`` canvases, the first argmax with deterministic
    re-masking, the others sampled (default temperature 1, MaskGIT's tau = 4.5; override with
    ``diffusion``); then, given ``refine``, model-guided refinement (:mod:`.refine`).
    ``decoder="ar"``: beam search with ``beam_size`` beams (``constrained``) plus
    ``n_samples`` ancestral samples. Both decoders are barred from variables beyond ``x``'s
    ``k`` columns. Each candidate is validated / repaired / rejected, identical sequences are
    fitted once, constants are fitted with ``restarts`` BFGS starts, candidates are ranked by
    R^2 on these points (agreeing to ``R2_TIE_DECIMALS`` -> fewer tokens, then decoder order).

    The budget is counted in candidates, never seconds: a seed gives the same result on any
    machine. ``first_guess`` is the best candidate before refinement. ``names`` only renames
    variables in ``latex``. ``free_scale`` fits every candidate times an overall constant
    (for rescaled user data, :mod:`.scaling`). Observations outside the float16 range raise
    :class:`observations.ObservationError`.
    """
    start = time.perf_counter()
    rng = rng if rng is not None else np.random.default_rng(0)
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    encoded = encode_observations(xa, ya)  # [n, 160]
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    with torch.inference_mode():
        memory = model.encode(torch.from_numpy(encoded)[None].to(device))
    decoded = _decode(model, memory, decoder, n_samples, beam_size, diffusion, rng, constrained, xa.shape[1])
    fitter = _Fitter(xa, ya, restarts, rng, free_scale)
    candidates = [fitter(source, raw, extra) for source, raw, extra, _ in decoded]
    first = _best(candidates, decoded, decoder, names, start)
    if refine is not None and decoder == "diffusion" and first.steps is not None:
        candidates += refine_search(model, memory, candidates, fitter, refine, rng, xa.shape[1])
        best = _best(candidates, decoded, decoder, names, start)
        best.first_guess = first
    else:
        best = first
    if was_training:
        model.train()
    best.seconds = time.perf_counter() - start
    return best


def _best(candidates: list[dict], decoded, decoder: str, names, start: float) -> Derivation:
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
        return (-r2_key, len(candidates[i]["repaired_tokens"]), i)

    best_i = min(usable, key=rank)
    best = candidates[best_i]
    steps = decode_sequence(best["fit_tokens"])
    constants = tuple(best["constants"])
    expression, latex, render_note = render(steps, constants, names)
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
