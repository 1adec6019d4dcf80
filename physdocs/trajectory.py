"""What a diffusion decoding trajectory spent its steps on (torch-free, for the evaluation
and the analysis alike)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from physdocs.grammar import MASK_ID, SPECIALS, VOCAB

_GIVEN = np.array([tok in ("PAD", "BOS", "EOS") for tok in VOCAB])
_FORMULA = np.array([tok not in SPECIALS for tok in VOCAB])  # STEP markers are structure, not formula
_VARIABLE_IDS = np.array([tok.startswith("x") and tok[1:].isdigit() for tok in VOCAB])


@dataclass(frozen=True)
class TrajectoryStats:
    """What a decoding trajectory spent its steps on (steps counted from 1).

    ``first_equation_step``: the step after which a formula token (not BOS, EOS, PAD, MASK or
    a STEP marker) first stands on the canvas; None if none ever does. ``pad_only_steps``:
    steps whose changes all land on PAD or EOS. ``repeated_variable``: the final sequence
    holds one variable twice in a row (``mul x1 x1``), the mark of parallel guesses
    colliding. ``revisions``: changes of a token already placed (to another token or back to
    MASK). ``equation_steps``: steps that change at least one equation position.
    """

    first_equation_step: int | None
    pad_only_steps: int
    repeated_variable: bool
    revisions: int
    equation_steps: int

    def to_json(self) -> dict:
        return {"first_equation_step": self.first_equation_step, "pad_only_steps": self.pad_only_steps,
                "repeated_variable": self.repeated_variable, "revisions": self.revisions,
                "equation_steps": self.equation_steps}


def trajectory_stats(trajectory_tokens: np.ndarray) -> TrajectoryStats:
    """:class:`TrajectoryStats` of ``trajectory_tokens [T+1, L]`` (row 0 the initial canvas)."""
    tok = np.asarray(trajectory_tokens)
    if tok.ndim != 2 or tok.shape[0] < 2:
        raise ValueError(f"expected [steps + 1, positions] with at least one step, got shape {tok.shape}")
    has_formula = _FORMULA[tok].any(axis=1)  # (T+1,)
    first = int(np.argmax(has_formula)) if has_formula.any() else None
    before, after = tok[:-1], tok[1:]
    changed = before != after  # (T, L)
    given = _GIVEN[after]
    pad_only = int((changed.any(1) & ~(changed & ~given).any(1)).sum())
    revisions = int((changed & (before != MASK_ID)).sum())
    final = tok[-1]
    is_var = _VARIABLE_IDS[final]
    repeated = bool((is_var[:-1] & (final[:-1] == final[1:])).any())
    return TrajectoryStats(first_equation_step=first, pad_only_steps=pad_only, repeated_variable=repeated,
                           revisions=revisions, equation_steps=int((changed & ~given).any(1).sum()))
