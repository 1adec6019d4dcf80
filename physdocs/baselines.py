"""A classical baseline beside PhysDiffuser+: genetic programming with gplearn.

gplearn's ``SymbolicRegressor`` sees the same 50 support points as the model and is scored
the same way: R^2 on the same held-out points, and the symbolic match against the truth.
Its budget is counted like ours (population x generations, not seconds), so a seed gives
the same program on any machine; the seconds are reported. gplearn is an optional
dependency (``pip install physdocs[baselines]`` or the ``baselines`` group).

Its program is translated into the project's grammar for the symbolic match: gplearn's
protected division, square root and logarithm behave like the plain ones wherever the
plain ones are defined, which is everywhere on the benchmark's positive boxes.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from physdocs.decoding.constants import r2_score
from physdocs.decoding.symbolic import steps_to_sympy
from physdocs.grammar import Node
from physdocs.matching import explain_match
from physdocs.results import finite

FUNCTIONS = ("add", "sub", "mul", "div", "sqrt", "log", "neg", "inv", "sin", "cos")


@dataclass(frozen=True)
class GPConfig:
    """gplearn's settings: about 5 s per equation on one core."""

    population_size: int = 1000
    generations: int = 20
    parsimony_coefficient: float = 0.001
    function_set: tuple[str, ...] = FUNCTIONS

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def available() -> bool:
    try:
        import gplearn  # noqa: F401
    except ImportError:
        return False
    return True


def program_to_tree(program: list[Any]) -> tuple[Node, tuple[float, ...]]:
    """gplearn's flat prefix program -> (tree over ``x1 ..`` with ``C`` leaves, their values)."""
    constants: list[float] = []
    pos = 0

    def take() -> Node:
        nonlocal pos
        item = program[pos]
        pos += 1
        if isinstance(item, (int, np.integer)):
            return Node(f"x{int(item) + 1}")
        if isinstance(item, (float, np.floating)):
            constants.append(float(item))
            return Node("C")
        name = item.name
        args = [take() for _ in range(item.arity)]
        if name == "inv":
            return Node("div", (Node("1"), args[0]))
        return Node(name, tuple(args))

    tree = take()
    return tree, tuple(constants)


def run_gplearn(x: np.ndarray, y: np.ndarray, x_test: np.ndarray, y_test: np.ndarray, truth, seed: int,
                cfg: GPConfig = GPConfig()) -> dict[str, Any]:  # noqa: B008 - frozen
    """Fit on the support points, score on the held-out ones; a row like the decoders'."""
    from gplearn.genetic import SymbolicRegressor

    t0 = time.perf_counter()
    est = SymbolicRegressor(
        population_size=cfg.population_size, generations=cfg.generations,
        parsimony_coefficient=cfg.parsimony_coefficient, function_set=cfg.function_set,
        random_state=seed, n_jobs=1,
    )
    with np.errstate(all="ignore"):
        est.fit(x, y)
        pred = est.predict(x_test)
        r2_fit = r2_score(y, est.predict(x))
    seconds = time.perf_counter() - t0
    tree, constants = program_to_tree(est._program.program)
    match = explain_match(tree, constants, truth, time_limit=2.0, x=x_test) if truth is not None else None
    try:
        expression = str(steps_to_sympy((tree,), constants))
    except Exception:  # noqa: BLE001 - display only
        expression = str(est._program)
    r2 = r2_score(y_test, pred)
    out = {
        "prediction": expression,
        "program": str(est._program),
        "r2_support": finite(r2_fit, 6),
        "r2_test": finite(r2, 6),
        "exact": bool(match.matched) if match else False,
        "match_reason": match.reason if match else "no truth",
        "status": "valid",
        "source": "gplearn",
        "seconds": round(seconds, 3),
    }
    out["first"] = {k: out[k] for k in ("prediction", "r2_test", "exact", "source")}
    return out
