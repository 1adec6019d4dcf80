"""Probes beside the benchmark: is the model generalising, memorising, reading its data?

* **Seen against held-out skeletons.** Fresh equations from the training generator, drawn
  from the skeletons training used (``split="train"``) and from those it never saw
  (``split="heldout"``, a stable hash of the skeleton; see :func:`skeleton_split`).
* **Memorisation audit.** For every benchmark equation: its skeleton (up to constants,
  renaming and commutativity), the side of the split it falls on, and how often training
  drew it (counted during training, shipped beside the weights).
* **Capability grid.** Small families of competing shapes over 1-4 variables
  (``x1*x2`` against ``x1/x2``, ``x1+x2`` ...). Each derived formula is classified as the
  family member it equals up to a constant factor, or "other": a confusion table.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physdocs.benchmark import Equation
from physdocs.decoding.constants import predict
from physdocs.grammar import GrammarError, Node, count_constants, parse_infix
from physdocs.observations import ObservationError, Observations, sample_observations
from physdocs.training.batches import draw_constants
from physdocs.training.generator import GeneratorConfig, SkeletonIndex, sample_equation, skeleton_split

SPLITS = ("train", "heldout")

# ------------------------------------------------------------------ synthetic equations


@dataclass(frozen=True)
class SyntheticCase:
    """One fresh generator equation with its support and held-out points."""

    split: str
    index: int
    steps: tuple[Node, ...]
    tokens: tuple[str, ...]
    skeleton: str
    support: Observations
    test: Observations


def synthetic_case(split: str, index: int, seed: int, n_support: int = 50, n_test: int = 200) -> SyntheticCase:
    """The ``index``-th fresh equation of ``split``: the same on every machine for a seed."""
    rng = np.random.default_rng([seed, 71, SPLITS.index(split), index])
    cfg = GeneratorConfig(split=split)
    while True:
        eq = sample_equation(rng, cfg)
        consts = tuple(draw_constants(rng, sum(count_constants(s) for s in eq.steps)))
        if consts:  # a free constant cannot be matched symbolically; keep the probe exact-scorable
            continue
        try:
            support = sample_observations(eq.steps, eq.low, eq.high, n_points=n_support, rng=rng,
                                          normalise_columns=cfg.normalise)
            test = sample_observations(eq.steps, eq.low, eq.high, n_points=n_test, rng=rng,
                                       normalise_columns=cfg.normalise)
        except ObservationError:  # an unusable draw is redrawn, like in training
            continue
        return SyntheticCase(split, index, eq.steps, tuple(eq.tokens), eq.skeleton, support, test)


# ------------------------------------------------------------------ memorisation audit


def memorisation_audit(equations: tuple[Equation, ...], counts_path: Path | None) -> dict:
    """Per benchmark equation: skeleton, split side, training draws (None when not logged)."""
    index = SkeletonIndex({e.id: tuple(e.step_trees) for e in equations})
    counts: dict[str, int] | None = None
    samples = None
    if counts_path is not None and Path(counts_path).exists():
        doc = json.loads(Path(counts_path).read_text())
        counts, samples = doc["counts"], doc["samples"]
    rows = []
    for e in equations:
        key = index.key_by_id[e.id]
        rows.append({
            "id": e.id,
            "tier": e.tier,
            "skeleton": key,
            "split": skeleton_split(key),
            "shares_skeleton_with": [i for i in index.ids_by_key[key] if i != e.id],
            "training_draws": None if counts is None else int(counts.get(key, 0)),
        })
    return {"training_samples": samples, "equations": rows}


# ------------------------------------------------------------------ capability grid

#: Competing shapes per variable count; each family is scored against itself.
GRID: dict[int, tuple[str, ...]] = {
    1: ("x1", "x1**2", "sqrt(x1)", "1/x1", "exp(-x1)", "sin(x1)"),
    2: ("x1*x2", "x1/x2", "x1+x2", "x1**2*x2", "sqrt(x1*x2)", "x1*x2/(x1+x2)"),
    3: ("x1*x2*x3", "x1*x2/x3", "x1/(x2*x3)", "x1*x2**2/x3", "(x1+x2)*x3"),
    4: ("x1*x2*x3*x4", "x1*x2/(x3*x4)", "x1*x2*x3/x4**2", "(x1+x2)/(x3+x4)"),
}
#: Sampling boxes per instance: every variable in [low, high].
GRID_BOXES: tuple[tuple[float, float], ...] = ((1.0, 5.0), (0.5, 2.0))


def _tree(shape: str) -> Node:
    return parse_infix(shape, {f"x{i}": f"x{i}" for i in range(1, 10)})


def grid_cases() -> list[tuple[int, str, int]]:
    """``(n_vars, shape, instance)`` for every cell of the grid."""
    return [(k, s, i) for k, shapes in GRID.items() for s in shapes for i in range(len(GRID_BOXES))]


def grid_points(n_vars: int, shape: str, instance: int, seed: int, n_support: int = 50, n_test: int = 200):
    low, high = GRID_BOXES[instance]
    tree = _tree(shape)
    number = GRID[n_vars].index(shape)
    lo, hi = np.full(n_vars, low), np.full(n_vars, high)
    support = sample_observations(tree, lo, hi, n_points=n_support, rng=np.random.default_rng([seed, 83, n_vars, number, instance]))
    test = sample_observations(tree, lo, hi, n_points=n_test, rng=np.random.default_rng([seed, 84, n_vars, number, instance]))
    return tree, support, test


def classify(steps, constants, n_vars: int, x: np.ndarray, tol: float = 1e-4) -> str:
    """The family member the prediction equals up to a constant factor on ``x``, or "other"."""
    if steps is None:
        return "other"
    try:
        with np.errstate(all="ignore"):
            p = predict(steps, x, constants)
    except GrammarError:  # a prediction that cannot be evaluated here is "other"
        return "other"
    if not np.isfinite(p).all():
        return "other"
    for shape in GRID[n_vars]:
        with np.errstate(all="ignore"):
            s = predict(_tree(shape), x, ())
        a = float(s @ p) / float(s @ s)
        if a != 0 and np.max(np.abs(a * s - p)) <= tol * np.max(np.abs(p)):
            return shape
    return "other"


def confusion(rows: list[dict], decoder: str, stage: str = "final") -> dict[int, dict]:
    """Per variable count: ``{"shapes": [...], "labels": [... "other"], "counts": [[...]]}``."""
    out: dict[int, dict] = {}
    for k, shapes in GRID.items():
        labels = [*shapes, "other"]
        counts = [[0] * len(labels) for _ in shapes]
        for r in rows:
            if r["decoder"] == decoder and r["n_vars"] == k:
                counts[shapes.index(r["shape"])][labels.index(r[stage])] += 1
        out[k] = {"shapes": list(shapes), "labels": labels, "counts": counts}
    return out
