"""The derivation pipeline: the model proposes, Operon refines, held-back points choose.

1. **Split.** The support rows are split by the seed: ``holdout`` of them are held back
   from every fit and used only to choose.
2. **Model candidates.** Both decoders propose (AR beams and samples, diffusion canvases)
   on the fitting rows, scaled as in training; each candidate's constants are fitted
   (:func:`.derive.derive`). Candidates are deduplicated by a canonical form (sympy's
   ordering of the expression with every constant written ``C``).
3. **Operon.** The best ``n_seeds`` distinct candidates seed Operon's population, which
   searches for a counted budget (:mod:`.operon`) and returns a front, one formula per size.
4. **Simple numbers.** The best few candidates are also tried with their constants
   snapped to simple numbers (:func:`snap_constants`), then simplified by sympy.
5. **Choice.** Every candidate (model and Operon) is scored on the held-back rows:
   ``ln(1 - R^2 + 1e-9) + size_penalty * size``, the size counting the fitted tree's nodes.
   The lowest score wins; its constants are refitted on all rows, and it is mapped back to
   the data's units and simplified.

Everything is counted (candidates, BFGS starts, Operon evaluations and generations, one
thread), so a seed gives the same answer on any machine. ``model=None`` is Operon alone
with the same Operon budget and the same choice; ``operon=None`` is the model alone.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field, replace
from typing import Any

import numpy as np

from physdocs.constants import DEFAULT_SEED
from physdocs.decoding.constants import fit_constants, predict, r2_score
from physdocs.decoding.derive import Derivation, derive, render
from physdocs.decoding.diffusion import BeamConfig
from physdocs.decoding.operon import OperonConfig, run_operon, to_infix
from physdocs.decoding.scaling import Scaling, choose_scaling, tidy, to_original_units
from physdocs.decoding.symbolic import steps_to_sympy
from physdocs.grammar import GrammarError, Node, decode_sequence, encode_sequence, flatten
from physdocs.observations import N_POINTS
from physdocs.results import finite
from physdocs.units import Dimension, consistent

#: Trees larger than this keep their token sequence as their canonical key, and are not simplified.
KEY_MAX_SIZE = 40
#: The floor under 1 - R^2 in the choice score: fits better than this are all "exact".
EXACT_FLOOR = 1e-9
#: Rows held back for the choice: ``SearchConfig.holdout`` of the rows, at most this many (a
#: thousand rows tell candidates apart; every other row goes to the fit).
MAX_HELDBACK = 1_000
#: Fitting rows above this are a deterministic subsample (each constant fit reads them all).
MAX_FIT_ROWS = 20_000
#: Operon reads at most this many of the fitting rows (a deterministic subsample): its cost
#: grows with rows, and its front is refitted and chosen on all of them.
MAX_OPERON_ROWS = 2_000
#: The model reads ``N_POINTS`` rows at a time: with more fitting rows, up to this many
#: disjoint draws each propose candidates (the decoders' budget shared among them).
MAX_DRAWS = 2


@dataclass(frozen=True)
class SearchConfig:
    """The pipeline's counted budget. ``budget`` scales every count (1.0 = the default)."""

    beam_size: int = 32  # AR beams
    ar_samples: int = 64  # AR ancestral samples
    n_samples: int = 48  # diffusion canvases
    # A share of those canvases from the diffuser's beam search (.derive.DERIVE_BEAM); None:
    # the sampler alone. Off: on our 120 (refine7 weights) half of the 48 from the beam made
    # the diffuser the only proposer of 3 answers (1) but derived 108 (111); the sampler's 48
    # and the beam's 48, 2 and 107 (benchmarks/pipeline_beam_ab.py).
    diffusion_beam: BeamConfig | None = None
    restarts: int = 2  # BFGS starts per model candidate
    n_seeds: int = 8  # distinct model candidates placed in Operon's population (of 500)
    operon: OperonConfig = field(default_factory=OperonConfig)
    holdout: float = 0.25  # share of the support rows held back for the choice
    size_penalty: float = 0.05  # per node, in units of ln(1 - R^2)
    n_snap: int = 5  # best candidates whose constants are tried as simple numbers

    def scaled(self, budget: float) -> SearchConfig:
        """The same pipeline with every count multiplied by ``budget`` (at least 1 each)."""
        if not budget > 0:
            raise ValueError(f"budget must be positive, got {budget}")

        def k(v: int) -> int:
            return max(1, round(v * budget))

        # Every other setting (and any added later) carries over unchanged.
        op = self.operon
        return replace(self, beam_size=k(self.beam_size), ar_samples=k(self.ar_samples), n_samples=k(self.n_samples),
                       n_seeds=k(self.n_seeds),
                       operon=replace(op, max_evaluations=k(op.max_evaluations), generations=k(op.generations)))

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class NoCandidateError(RuntimeError):
    """No candidate survived: every one failed on the data (or had the wrong units)."""


@dataclass(frozen=True)
class Units:
    """The columns' dimensions by token (``x1 ..``) and the target's: the search keeps only
    candidates with the target's dimension (:func:`physdocs.units.consistent`). ``carriers``:
    the dimensions of declared constants not in the data, which fitted ``C`` may carry."""

    columns: Mapping[str, Dimension]
    target: Dimension
    carriers: tuple[Dimension, ...] = ()

    def consistent(self, steps: Sequence[Node], constants: Sequence[float]) -> bool:
        return consistent(tuple(steps), self.columns, constants, self.target, self.carriers)


@dataclass(frozen=True)
class Proposal:
    """A formula of the caller's (a hypothesis to test), fitted, seeded and chosen among like
    the model's candidates; the fit adds an overall factor (profiled in closed form).

    ``starts``: first guesses for its ``C`` leaves (prefix order, the factor excluded), each
    one BFGS start; none: the search's random restarts.
    """

    label: str
    steps: tuple[Node, ...]
    starts: tuple[tuple[float, ...], ...] = ()


@dataclass(frozen=True)
class Candidate:
    """One formula on the scaled columns, fitted on the fitting rows, scored on the held-back ones."""

    source: str  # "ar beam 3", "diffusion sample 5", "operon 7"
    steps: tuple[Node, ...]
    constants: tuple[float, ...]
    size: int  # nodes of the fitted tree
    r2_fit: float
    r2_heldout: float


def choice_score(r2_heldout: float, size: int, size_penalty: float) -> float:
    """``ln(1 - R^2 + EXACT_FLOOR) + size_penalty * size`` (lower is better; unusable: +inf)."""
    if not math.isfinite(r2_heldout):
        return math.inf
    return math.log(max(1.0 - r2_heldout, 0.0) + EXACT_FLOOR) + size_penalty * size


def tree_size(steps: Sequence[Node]) -> int:
    """Nodes of the flattened tree (a multi-step derivation counts as its flat formula)."""
    node = steps[0] if len(steps) == 1 else flatten(tuple(steps))

    def count(n: Node) -> int:
        return 1 + sum(count(c) for c in n.children)

    return count(node)


def canonical_key(steps: Sequence[Node]) -> str:
    """A form shared by rewritings of one skeleton (commuted terms, regrouped products).

    sympy orders the terms and factors, with every constant written ``C``. Trees above
    :data:`KEY_MAX_SIZE` nodes keep their token sequence as the key: no signal-based
    timeout is used here (an alarm landing in the garbage collector is lost), so sympy
    only sees trees small enough to be quick.
    """
    import sympy as sp

    if tree_size(tuple(steps)) > KEY_MAX_SIZE:
        return " ".join(encode_sequence(tuple(steps)))
    expr = steps_to_sympy(tuple(steps))
    cs = {s: sp.Symbol("C") for s in expr.free_symbols if s.name.startswith("c")}
    return sp.srepr(expr.xreplace(cs))


@dataclass
class SearchResult:
    """The chosen formula (in the data's units) and what led to it."""

    derivation: Derivation  # steps, constants and expression in the data's units
    chosen: Candidate  # on the scaled columns
    front: list[dict]  # per size, the best candidate: size, R^2 fit / held-back, formula, source
    counts: dict[str, Any]  # candidates per stage, distinct, seeds, Operon's counters
    seconds: float
    model_only: Derivation | None = None  # the model's own best by the same choice (with Operon on)
    model_only_size: int = 0
    scaling: Scaling | None = None  # the powers of two the columns and target were divided by
    # Every stage that proposed the chosen canonical form ("ar", "diffusion", "operon", ...).
    proposed_by: tuple[str, ...] = ()
    model_only_proposed_by: tuple[str, ...] = ()
    heldback: np.ndarray | None = field(default=None, repr=False)  # the rows the choice was made on

    def to_json(self) -> dict[str, Any]:
        return {"formula": None if self.derivation.expression is None else str(self.derivation.expression),
                "source": self.chosen.source, "size": self.chosen.size,
                "r2_fit": finite(self.chosen.r2_fit, 9), "r2_heldout": finite(self.chosen.r2_heldout, 9),
                "front": self.front, "counts": self.counts, "seconds": round(self.seconds, 3),
                "proposed_by": list(self.proposed_by)}


def _score_on(steps, constants, x, y) -> float:
    try:
        return r2_score(y, predict(steps, x, constants))
    except GrammarError:
        return float("-inf")


def search(
    model,
    x: np.ndarray,
    y: np.ndarray,
    *,
    cfg: SearchConfig = SearchConfig(),  # noqa: B008 - frozen
    seed: int = DEFAULT_SEED,
    names: Mapping[str, str] | None = None,
    use_model: bool = True,
    use_operon: bool = True,
    decoders: Sequence[str] = ("ar", "diffusion"),
    proposals: Sequence[Proposal] = (),
    text_names: Mapping[str, str] | None = None,
    progress: Callable[[str], None] | None = None,
    scaling: Scaling | None = None,
    units: Units | None = None,
) -> SearchResult:
    """Derive ``y [n] = f(x [n, k])`` with the pipeline (see the module doc).

    ``names`` maps ``x1 ..`` to the names shown in the LaTeX, ``text_names`` (default
    ``names``) to those in the text formulas. ``use_model=False`` is Operon
    alone, ``use_operon=False`` the model alone; both use the same split and the same choice.
    ``decoders``: which of the model's decoders propose (one of them: that decoder alone).
    ``proposals``: formulas of the caller's (:class:`Proposal`), fitted, seeded and chosen
    among like the model's candidates. ``scaling``: the caller's choice of
    powers of two (default: chosen here from these rows, as training scales them).
    ``units``: the columns' and the target's dimensions; a candidate whose dimension is not
    the target's is never added to the pool, so never chosen (``counts["inconsistent"]``).
    """
    start = time.perf_counter()
    text_names = text_names if text_names is not None else names
    say = progress or (lambda _: None)
    rng = np.random.default_rng([seed, 17])
    xa, ya = np.asarray(x, dtype=np.float64), np.asarray(y, dtype=np.float64)
    k = xa.shape[1]
    labels = [(names or {}).get(f"x{i}", f"x{i}") for i in range(1, k + 1)]
    scaling = scaling if scaling is not None else choose_scaling(xa, ya, labels, "the target")
    xs, ys = scaling.apply(xa, ya)
    held, fit = split_rows(len(ya), rng, seed, cfg.holdout)
    used = np.sort(np.concatenate([fit, held]))  # the rows the final refit reads
    draws = model_draws(fit, seed)
    counts: dict[str, Any] = {"rows_fit": int(len(fit)), "rows_heldback": int(len(held)),
                              "model_draws": len(draws), "rows_model": int(sum(len(d) for d in draws))}
    pool: list[Candidate] = []
    seen: set[str] = set()
    # Who proposed each canonical form: a duplicate is dropped from the pool but keeps its
    # credit, so a final answer is credited to every stage that proposed it.
    proposers: dict[str, list[str]] = {}
    key_of: dict[str, str] = {}

    refit_rng = np.random.default_rng([seed, 21])

    if units is not None:
        counts["inconsistent"] = 0

    def add(source: str, steps: tuple[Node, ...], constants: tuple[float, ...], r2_fit: float | None = None,
            by: Sequence[str] | None = None, refit: bool = False) -> None:
        try:
            key = canonical_key(steps)
        except (GrammarError, TypeError, ValueError, RecursionError):
            return
        if units is not None and not units.consistent(steps, constants):
            counts["inconsistent"] += 1
            return
        credit = proposers.setdefault(key, [])
        for who in by or (source.split()[0],):
            if who not in credit:
                credit.append(who)
        if key in seen:
            return
        if refit:  # fitted on the draw the model read: refitted on every fitting row from there
            try:
                found = fit_constants(steps, xs[fit], ys[fit], restarts=1, rng=refit_rng, start=constants)
            except GrammarError:
                return
            constants, r2_fit = tuple(found.constants), None
        seen.add(key)
        key_of[source] = key
        r2f = _score_on(steps, constants, xs[fit], ys[fit]) if r2_fit is None else r2_fit
        pool.append(Candidate(source, steps, constants, tree_size(steps), r2f,
                              _score_on(steps, constants, xs[held], ys[held])))

    if use_model:
        share = len(draws)
        for decoder, n in (("ar", cfg.ar_samples), ("diffusion", cfg.n_samples)):
            if decoder not in decoders:
                continue
            counts[f"{decoder}_candidates"] = 0
            for i, rows in enumerate(draws):
                # The first draw keeps the seeds of a single read, so <= N_POINTS rows decode as before.
                d = derive(model, xa[rows], ya[rows], decoder=decoder, n_samples=-(-n // share),
                           beam_size=-(-cfg.beam_size // share), restarts=cfg.restarts, scaling=scaling,
                           diffusion_beam=cfg.diffusion_beam,
                           rng=np.random.default_rng([seed, 18, len(decoder)] + ([i] if i else [])))
                fitted = [c for c in d.candidates if c["fitted"]]
                counts[f"{decoder}_candidates"] += len(d.candidates)
                tag = f" draw {i + 1}" if share > 1 else ""
                for c in sorted(fitted, key=lambda c: -c["r2"] if math.isfinite(c["r2"]) else math.inf):
                    add(f"{decoder} {c['source']}{tag}", decode_sequence(c["fit_tokens"]), tuple(c["constants"]),
                        c["r2"], refit=len(rows) < len(fit))
        counts["model_distinct"] = len(pool)
        counts["model_seconds"] = round(time.perf_counter() - start, 3)  # the model alone's time
        say(f"model: {sum(counts.get(f'{d}_candidates', 0) for d in decoders)} candidates, "
            f"{len(pool)} distinct; best held-back R^2 "
            f"{max((c.r2_heldout for c in pool), default=float('nan')):.6f}")
    for prop in proposals:
        steps = prop.steps
        try:
            fits = [fit_constants(steps, xs[fit], ys[fit], restarts=1, rng=rng, scale_last=True, start=start)
                    for start in prop.starts] or \
                [fit_constants(steps, xs[fit], ys[fit], restarts=cfg.restarts, rng=rng, scale_last=True)]
        except GrammarError:
            continue
        scaled = (*steps[:-1], Node("mul", (Node("C"), steps[-1])))
        add(f"proposal {prop.label}", scaled, min(fits, key=lambda f: f.loss).constants)
    if use_operon:
        ranked = sorted(pool, key=lambda c: (-c.r2_fit if math.isfinite(c.r2_fit) else math.inf, c.size))
        seeds = [to_infix(c.steps, c.constants) for c in ranked[: cfg.n_seeds]]
        rows = fit if len(fit) <= MAX_OPERON_ROWS else np.sort(
            np.random.default_rng([seed, 22]).choice(fit, MAX_OPERON_ROWS, replace=False))
        front, stats = run_operon(xs[rows], ys[rows], seeds, cfg.operon, int(rng.integers(2**31)))
        counts["operon"] = {**stats, "max_evaluations": cfg.operon.max_evaluations, "rows": int(len(rows))}
        for i, (tree, consts) in enumerate(front):
            add(f"operon {i}", (tree,), consts, refit=len(rows) < len(fit))
        say(f"operon: {stats['generations']} generations, {stats['seeds_placed']} seeds, front of {len(front)}")
    if not pool:
        raise NoCandidateError("no usable candidate: every decoder candidate and Operon formula failed on the data"
                               + (" or had other units than the target" if units is not None else ""))
    # Simple numbers where the data allow them: the best few candidates with their constants
    # snapped (0, or p/q * pi**e), each snap kept only if the held-back fit holds.
    ranked = sorted(pool, key=lambda c: (choice_score(c.r2_heldout, c.size, cfg.size_penalty), c.size, c.source))
    for cand in ranked[: cfg.n_snap]:
        snapped = snap_constants(cand, xs[fit], ys[fit], xs[held], ys[held], rng)
        if snapped is not None:
            add(snapped.source, snapped.steps, snapped.constants, snapped.r2_fit, by=proposers[key_of[cand.source]])
    counts["pool"] = len(pool)
    chosen = min(pool, key=lambda c: (choice_score(c.r2_heldout, c.size, cfg.size_penalty), c.size, c.source))
    say(f"chose {chosen.source}: size {chosen.size}, held-back R^2 {chosen.r2_heldout:.6f}")
    mine = [c for c in pool if not c.source.startswith("operon")]
    model_only, model_only_size = None, 0
    if use_model and use_operon and mine:  # the model alone, chosen by the same rule from its own candidates
        best = min(mine, key=lambda c: (choice_score(c.r2_heldout, c.size, cfg.size_penalty), c.size, c.source))
        model_only = _finish(best, xs[used], ys[used], scaling, names, text_names, rng, start)
        model_only_size = best.size
    return SearchResult(_finish(chosen, xs[used], ys[used], scaling, names, text_names, rng, start), chosen,
                        _front(pool, scaling, cfg.size_penalty, text_names), counts, time.perf_counter() - start, model_only,
                        model_only_size, scaling=scaling, proposed_by=tuple(proposers[key_of[chosen.source]]), heldback=held,
                        model_only_proposed_by=tuple(proposers[key_of[best.source]]) if model_only else ())


def split_rows(n: int, rng: np.random.Generator, seed: int, holdout: float) -> tuple[np.ndarray, np.ndarray]:
    """``(held back, fitting)`` row indices: ``holdout`` of the rows (at most
    :data:`MAX_HELDBACK`) drawn with ``rng`` (the search's, ``default_rng([seed, 17])``) are
    held back; the fitting rows above :data:`MAX_FIT_ROWS` are a subsample."""
    order = rng.permutation(n)
    n_held = min(max(2, round(holdout * n)), MAX_HELDBACK)
    held, fit = np.sort(order[:n_held]), np.sort(order[n_held:])
    if len(fit) > MAX_FIT_ROWS:
        fit = np.sort(np.random.default_rng([seed, 20]).choice(fit, MAX_FIT_ROWS, replace=False))
    return held, fit


def model_draws(fit: np.ndarray, seed: int) -> list[np.ndarray]:
    """The rows each read of the model sees: all fitting rows when they fit in one read
    (:data:`N_POINTS`), else up to :data:`MAX_DRAWS` disjoint draws of ``N_POINTS`` rows."""
    if len(fit) <= N_POINTS:
        return [fit]
    order = np.random.default_rng([seed, 19]).permutation(fit)
    return [np.sort(order[i * N_POINTS:(i + 1) * N_POINTS]) for i in range(min(MAX_DRAWS, len(fit) // N_POINTS))]


#: A snap is kept when ln(1 - R^2) on the held-back rows rises by at most this (one node's penalty).
SNAP_TOLERANCE = 0.05
#: Candidates with more constants than this are not snapped (each constant costs refits).
MAX_SNAP_CONSTANTS = 12


def simple_numbers(value: float) -> list:
    """What :func:`snap_constants` tries for a constant by default: 0, then the simplest
    ``p/q * pi**e`` within 5% (:func:`round_constant`)."""
    import sympy as sp

    from physdocs.decoding.symbolic import round_constant

    return [sp.Integer(0), round_constant(value, rtol=0.05)]


def snap_constants(cand: Candidate, x_fit, y_fit, x_held, y_held, rng, *,
                   options: Callable[[float], list] = simple_numbers, max_size: int = KEY_MAX_SIZE,
                   exact: bool = False) -> Candidate | None:
    """``cand`` with constants fixed to simple numbers (``options(value)``, tried in order;
    None entries skipped), one at a time, the others refitted; a snap stays when the
    held-back fit holds. The result is simplified by sympy (``5.4*f**2/(5.4*f -
    5.4*f**2/d)`` becomes ``f*d/(d - f)``) and written back as a tree; None when nothing
    could be snapped, the tree has more than ``max_size`` nodes or the result is unusable,
    or is longer than ``cand``. ``exact``: the numbers snapped are written exactly whatever
    nodes they take (sqrt(3), 3/20: :func:`.from_sympy.from_sympy`), and may lengthen the tree.
    """
    import sympy as sp

    from physdocs.decoding.from_sympy import UnsupportedExpression, from_sympy

    n = len(cand.constants)
    if n == 0 or n > MAX_SNAP_CONSTANTS or cand.size > max_size or not math.isfinite(cand.r2_heldout):
        return None
    values = np.array(cand.constants, dtype=np.float64)
    fixed: dict[int, Any] = {}

    def held_score(v: np.ndarray) -> float:
        return math.log(max(1.0 - _score_on(cand.steps, v, x_held, y_held), 0.0) + EXACT_FLOOR)

    base = held_score(values)
    for i in sorted(range(n), key=lambda j: abs(values[j])):
        for option in options(float(values[i])):
            if option is None:
                continue
            trial = values.copy()
            trial[i] = float(option)
            free = [j for j in range(n) if j not in fixed and j != i]
            if free:
                trial = _refit_free(cand.steps, trial, free, x_fit, y_fit)
            if held_score(trial) <= base + SNAP_TOLERANCE:
                values, fixed[i] = trial, option
                break
    if not fixed:
        return None
    consts = [fixed[j] if j in fixed else sp.Float(values[j]) for j in range(n)]
    names = {f"x{i}": f"x{i}" for i in range(1, 10)}
    try:
        plain = steps_to_sympy(cand.steps, consts)
        forms = [plain, sp.cancel(plain)]
        if exact:  # sqrt(1/(1 - v**2)) as 1/sqrt(1 - v**2), first among equals; a form the grammar
            forms.insert(0, split_roots(plain))  # cannot write, or not finite on the held-back rows, is passed over
            trees = []
            for f in forms:
                try:
                    tree_ = from_sympy(f, names, exact=True)
                except (UnsupportedExpression, TypeError, ValueError, RecursionError):
                    continue
                if math.isfinite(_score_on((tree_[0],), tree_[1], x_held, y_held)):
                    trees.append(tree_)
        else:
            trees = [from_sympy(f, names) for f in forms]
    except (UnsupportedExpression, GrammarError, TypeError, ValueError, RecursionError):
        return None
    if not trees:
        return None
    tree, tree_consts = min(trees, key=lambda t: tree_size((t[0],)))
    steps = (tree,)
    if tree_size(steps) > cand.size and not exact:  # a simplification, never a longer formula
        return None
    r2_held = _score_on(steps, tree_consts, x_held, y_held)
    if not math.isfinite(r2_held):
        return None
    return Candidate(f"{cand.source}, {len(fixed)} snapped", steps, tree_consts, tree_size(steps),
                     _score_on(steps, tree_consts, x_fit, y_fit), r2_held)


def split_roots(expr):
    """Every square root of a quotient written as a quotient of roots, a sign of the numerator
    moved below: ``sqrt(-1/(-1 + y))`` is ``1/sqrt(1 - y)``. Where the formula is real on the
    data the two sides agree; the caller checks that they are finite there."""
    import sympy as sp

    def split(p):
        num, den = sp.fraction(sp.together(p.base))
        if num.could_extract_minus_sign():  # the sign goes below: sqrt(-1/(v**2 - 1)) is 1/sqrt(1 - v**2)
            num, den = -num, -den
        return sp.Pow(num, p.exp) / sp.Pow(den, p.exp)

    return expr.replace(lambda e: e.is_Pow and e.exp.is_Rational and e.exp.q == 2 and sp.fraction(
        sp.together(e.base))[1] != 1, split)


def _refit_free(steps, values: np.ndarray, free: list[int], x, y) -> np.ndarray:
    """``values`` with the ``free`` entries refitted by BFGS (one start, from their current values)."""
    import warnings

    from scipy.optimize import minimize

    scale = float(np.std(y)) or 1.0

    def loss(sub: np.ndarray) -> float:
        v = values.copy()
        v[free] = sub
        with np.errstate(all="ignore"):
            try:
                r = float(np.mean(((predict(steps, x, v) - y) / scale) ** 2))
            except GrammarError:
                return 1e10
        return r if math.isfinite(r) else 1e10

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        res = minimize(loss, values[free], method="BFGS", options={"maxiter": 100, "gtol": 1e-10})
    out = values.copy()
    out[free] = res.x
    return out


def _finish(chosen: Candidate, xs, ys, scaling, names, text_names, rng, start: float) -> Derivation:
    """The chosen candidate refitted on all rows (from its constants), in the data's units, simplified."""
    constants = chosen.constants
    if constants:
        refit = fit_constants(chosen.steps, xs, ys, restarts=1, rng=rng, start=constants)
        if refit.success and _score_on(chosen.steps, refit.constants, xs, ys) >= _score_on(
                chosen.steps, constants, xs, ys):
            constants = refit.constants
    steps_out, consts_out = to_original_units(chosen.steps, constants, scaling)
    expression, latex, note = render(steps_out, consts_out, names)
    if not note:
        expression = tidy(expression)
    expression = named(expression, text_names)
    return Derivation(
        tokens=None, raw_tokens=(), status="valid", note=note, steps=steps_out, expression=expression, latex=latex,
        constants=consts_out, r2_fit=_score_on(chosen.steps, constants, xs, ys),
        seconds=time.perf_counter() - start, decoder="pipeline", source=chosen.source,
    )


def named(expr, names: Mapping[str, str] | None):
    """``expr`` with ``x1 ..`` written as the variables' own names (no placeholder reaches a reader)."""
    import sympy as sp

    if not names:
        return expr
    return expr.xreplace({sp.Symbol(tok, positive=True): sp.Symbol(name) for tok, name in names.items()})


def _front(pool: list[Candidate], scaling, size_penalty: float, names: Mapping[str, str] | None) -> list[dict]:
    """Accuracy against size: per size the best held-back R^2, kept when it beats every smaller size."""
    best: dict[int, Candidate] = {}
    for c in pool:
        if math.isfinite(c.r2_heldout) and (c.size not in best or c.r2_heldout > best[c.size].r2_heldout):
            best[c.size] = c
    out, top = [], -math.inf
    for size in sorted(best):
        c = best[size]
        if c.r2_heldout <= top:
            continue
        top = c.r2_heldout
        steps, consts = to_original_units(c.steps, c.constants, scaling)
        try:
            formula = str(named(tidy(steps_to_sympy(steps, consts)), names))
        except (GrammarError, TypeError, ValueError, RecursionError):
            formula = " ".join(encode_sequence(steps)[1:-1])  # sympy cannot build it: the prefix tokens
        out.append({"size": size, "r2_fit": finite(c.r2_fit, 9), "r2_heldout": finite(c.r2_heldout, 9),
                    "score": round(choice_score(c.r2_heldout, size, size_penalty), 4), "formula": formula,
                    "source": c.source})
    return out
