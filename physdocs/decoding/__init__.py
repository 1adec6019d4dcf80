"""Decoding: diffusion sampling with trajectories, greedy / beam search, grammar repair,
constant fitting and the one-call :func:`derive`.

* :mod:`~physdocs.decoding.diffusion` -- MaskGIT-style confidence unmasking (cosine schedule).
* :mod:`~physdocs.decoding.autoregressive` -- greedy and batched beam search, grammar-constrained.
* :mod:`~physdocs.decoding.repair` -- ``allowed_next`` mask and ``validate_or_repair``.
* :mod:`~physdocs.decoding.constants` -- BFGS constant fitting with restarts, ``r2_score``.
* :mod:`~physdocs.decoding.derive` -- ``derive``, ``score_on``, ``render``.
* :mod:`~physdocs.decoding.symbolic` -- sympy conversion, simple constants, time limits.
"""

from physdocs.decoding.autoregressive import Beam, beam_search, greedy_decode
from physdocs.decoding.constants import Fit, fit_constants, predict, r2_score
from physdocs.decoding.derive import Derivation, derive, render, score_on
from physdocs.decoding.diffusion import DiffusionConfig, DiffusionResult, diffusion_decode, n_still_masked
from physdocs.decoding.repair import Parsed, PrefixState, allowed_next, prefix_state, validate_or_repair
from physdocs.decoding.symbolic import round_constant, steps_to_sympy, tame_constants

__all__ = [
    "Beam",
    "Derivation",
    "DiffusionConfig",
    "DiffusionResult",
    "Fit",
    "Parsed",
    "PrefixState",
    "allowed_next",
    "beam_search",
    "derive",
    "diffusion_decode",
    "fit_constants",
    "greedy_decode",
    "n_still_masked",
    "predict",
    "prefix_state",
    "r2_score",
    "render",
    "round_constant",
    "score_on",
    "steps_to_sympy",
    "tame_constants",
    "validate_or_repair",
]
