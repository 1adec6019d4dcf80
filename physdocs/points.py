"""The points each benchmark equation is derived from: support and test rows, per variant.

Seeded by the equation's own number, so a subset run (``--tier``, ``--limit``), the
evaluation, the analysis and ``physdocs derive ID`` all see the same rows.
"""

from __future__ import annotations

import zlib
from dataclasses import replace

import numpy as np

from physdocs.benchmark import Equation
from physdocs.observations import ObservationError, sample_observations

#: Relative standard deviation of the noise on the noisy variant's support target.
NOISE = 0.01
#: Seeded draws of a shifted box before an equation keeps its own box (and says so).
SHIFT_ATTEMPTS = 20


def equation_number(eq_id: str) -> int:
    """The number that seeds an equation's points: ``feynman_046`` -> 46; other ids a stable hash."""
    tail = eq_id.rsplit("_", 1)[-1]
    return int(tail) if tail.isdigit() else zlib.crc32(eq_id.encode())


def shifted_box(eq: Equation, seed: int) -> tuple[np.ndarray, np.ndarray] | None:
    """The equation's range-shifted box: each variable's box moved by 10**U(-2, 2) and
    widened by U(1, 4), redrawn (seeded) until the formula is finite on it; None if never."""
    number = equation_number(eq.id)
    rng = np.random.default_rng([seed, number, 5])
    lows = np.array([v.low for v in eq.variables])
    highs = np.array([v.high for v in eq.variables])
    for attempt in range(SHIFT_ATTEMPTS):
        factor = 10.0 ** rng.uniform(-2, 2, len(lows))
        widen = rng.uniform(1, 4, len(lows))
        low = lows * factor
        high = low + (highs - lows) * factor * widen
        try:
            sample_observations(eq.step_trees, low, high, n_points=50, max_tries=2, normalise_columns=True,
                                rng=np.random.default_rng([seed, number, 6, attempt]))
        except ObservationError:
            continue
        return low, high
    return None


def equation_points(eq: Equation, seed: int, n_support: int, n_test: int, variant: str = "original", *,
                    box: tuple[np.ndarray, np.ndarray] | None = None):
    """Support and test points of one benchmark variant (``shifted`` falls back to the own box;
    ``box``: the shifted box when the caller has it already)."""
    number = equation_number(eq.id)
    lows = np.array([v.low for v in eq.variables])
    highs = np.array([v.high for v in eq.variables])
    wide = False
    if variant == "shifted":
        box = box if box is not None else shifted_box(eq, seed)
        if box is not None:
            (lows, highs), wide = box, True
    support = sample_observations(eq.step_trees, lows, highs, n_points=n_support, normalise_columns=wide,
                                  rng=np.random.default_rng([seed, number]))
    test = sample_observations(eq.step_trees, lows, highs, n_points=n_test, normalise_columns=wide,
                              rng=np.random.default_rng([seed, number, 1]))
    if variant == "noisy":
        noise = np.random.default_rng([seed, number, 4]).standard_normal(support.y.shape)
        support = replace(support, y=support.y * (1.0 + NOISE * noise))
    return support, test
