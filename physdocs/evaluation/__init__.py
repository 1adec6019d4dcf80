"""Benchmark evaluation: derive every equation with each decoder, trained and control.

For each equation: 50 support points (what the model sees), 200 fresh held-out points
(what R^2 is measured on), both drawn with seeds derived from ``seed`` and the equation
number. The random-initialised control is the same architecture under ``torch.manual_seed(seed)``.
The JSON written here is what the report consumes.

Generalisation (``EvalConfig.variants``): beside the benchmark's own boxes ("original"),
the trained model derives each formula on a range-shifted copy ("shifted": every box
moved by a seeded factor 10**U(-2, 2) and widened by U(1, 4), where the formula stays
finite and real) and on a noisy one ("noisy": 1% relative Gaussian noise on the support
target, scored against the noiseless target). :func:`generalisation` gives every rate
with a Wilson 95% interval, by tier, by exposure in training (never drawn, 1-999 draws,
1,000 or more) and by number of variables (1-2, 3-4, 5-9).
"""

from __future__ import annotations

from physdocs.evaluation.cache import cached_evaluation, evaluate_benchmark
from physdocs.evaluation.config import EXPOSURE_STRATA, VARIABLE_GROUPS, VARIANTS, EvalConfig
from physdocs.evaluation.jobs import (
    EVALS_PER_CANDIDATE,
    RUNNERS,
    evaluate_equation,
    gplearn_row,
    pipeline_row,
    run_derive,
    run_evaluation,
    score_derivation,
)
from physdocs.evaluation.summary import (
    best_decoder,
    credit,
    exposure_stratum,
    format_summary,
    generalisation,
    proposers,
    summarise,
    summarise_synthetic,
    timing,
    variable_group,
)

__all__ = [
    "EVALS_PER_CANDIDATE", "EXPOSURE_STRATA", "RUNNERS", "VARIABLE_GROUPS", "VARIANTS", "EvalConfig",
    "best_decoder", "cached_evaluation", "credit", "evaluate_benchmark", "evaluate_equation", "exposure_stratum",
    "format_summary", "generalisation", "gplearn_row", "pipeline_row", "proposers", "run_derive", "run_evaluation",
    "score_derivation", "summarise", "summarise_synthetic", "timing", "variable_group",
]
