"""How a finding is judged: the decision rule and the verdict sentence, from the numbers alone.

The findings themselves (what each claims, its statistic, control, confound and minimum
effect) are declared once in :mod:`physdocs.analysis.findings`; each one's compute function
returns a :class:`Measurement`, and :func:`judge` turns it into the typed
:class:`~physdocs.analysis.schema.ClaimResult` the report shows. No result is written into
a template.

Decision rule (:func:`claim_holds`)
-----------------------------------
A claim **holds** iff

1. it beats the control by the finding's declared minimum effect, with the control's own
   sampling error counted: one bootstrap over equations resamples the trained and the
   control model together (:mod:`.paired`), and the bound of the 95% interval of
   (trained - control) on the claimed side must lie beyond the minimum effect; and
2. it is significant in the claimed direction on its own: for CI-tested claims (a ``null``
   is given) the 95% bootstrap CI lies entirely beyond the null; for permutation-tested
   claims the one-sided permutation p-value is below 0.05. Where the null was the control's
   value (a divergence, a spread across heads), condition 1 is that test.

Significance alone lets almost any trained model pass against a near-uniform random one;
a point value of the control ignores that the control, too, is measured on a sample.
A finding whose control is shown but not part of its rule (smoothness: a random model's
flat confidences cannot drop) is judged against its threshold, the null, by the minimum
effect and condition 2.

The **opposite** holds when the same conditions hold in the other direction (e.g.
entropy *falls* with tier); the verdict then names that direction. An undefined estimate
never holds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from physdocs.analysis.schema import ClaimResult, Detail
from physdocs.constants import ALPHA
from physdocs.results import finite

Direction = Literal["greater", "less"]


@dataclass(frozen=True)
class Measurement:
    """What a finding's compute function measured; :func:`judge` decides from it.

    ``null``: the value of no effect for a CI test (None: a permutation test decides on
    ``p_value``). ``n`` counts ``n_unit`` -- the unit the CI resamples and the p-value
    permutes. ``details``: further numbers the page shows (e.g. the unadjusted statistic).
    """

    value: float
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    control_value: float | None
    n: int
    n_unit: str = "equations"
    null: float | None = 0.0
    n_perm: int | None = None
    details: tuple[Detail, ...] = ()
    # trained - control, resampled together over equations (:mod:`.paired`); None: not paired
    diff: float | None = None
    diff_low: float | None = None
    diff_high: float | None = None


def format_p(p: float | None, n_perm: int | None = None) -> str:
    """``"p = 0.012"``, or at the permutation floor ``"p < 0.001 (1000 permutations)"``."""
    if p is None or not math.isfinite(p):
        return "p undefined"
    if n_perm and p <= 1.0 / (n_perm + 1) + 1e-12:
        return f"p < {10 ** math.ceil(math.log10(1.0 / n_perm)):g} ({n_perm} permutations)"
    return f"p = {p:.3g}"


def _finite(x: float | None) -> bool:
    return x is not None and math.isfinite(x)


def format_number(x: float | None) -> str:
    """How numbers appear in verdicts: three significant digits, 'undefined' for nan/None."""
    return f"{x:.3g}" if _finite(x) else "undefined"


def claim_holds(
    value: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    p_value: float | None = None,
    null: float | None = None,
    direction: Direction = "greater",
    control_value: float | None = None,
    alpha: float = ALPHA,
    min_effect: float | None = None,
    diff_low: float | None = None,
    diff_high: float | None = None,
) -> bool:
    """The decision rule of this module (see the module docstring)."""
    if not _finite(value):
        return False
    sign = 1.0 if direction == "greater" else -1.0
    if diff_low is not None or diff_high is not None:  # the paired rule
        bound = diff_low if direction == "greater" else diff_high
        if not (_finite(bound) and sign * bound > (min_effect or 0.0)):
            return False
        if null is None and p_value is None:
            return True  # the paired interval is the test
        control_value = None  # already compared, with its sampling error
    elif min_effect is not None:
        reference = control_value if _finite(control_value) else (null if null is not None else 0.0)
        step = 1.0 if direction == "greater" else -1.0
        if step * (value - reference) < min_effect:
            return False
    if null is not None:
        bound = ci_low if direction == "greater" else ci_high
        significant = _finite(bound) and sign * (bound - null) > 0
    elif p_value is not None:
        significant = _finite(p_value) and p_value < alpha
    else:
        raise ValueError("claim_holds needs a null (CI test) or a p_value (permutation test)")
    beats_control = not _finite(control_value) or sign * (value - control_value) > 0
    return bool(significant and beats_control)


def verdict_sentence(
    holds: bool | str,
    claim: str,
    statistic_name: str,
    value: float,
    *,
    ci_low: float | None = None,
    ci_high: float | None = None,
    p_value: float | None = None,
    control_name: str | None = None,
    control_value: float | None = None,
    n: int | None = None,
    confidence: float = 1 - ALPHA,
    n_perm: int | None = None,
    n_unit: str = "",
) -> str:
    """The verdict as a sentence generated from the numbers.

    ``"Holds: <claim> (<statistic> = v, 95% CI [lo, hi], p = p, n = n); <control> gives c."``
    or the same starting ``"Does not hold: "``; ``holds`` may be the opening itself.
    """
    head = holds if isinstance(holds, str) else ("Holds" if holds else "Does not hold")
    if not _finite(value):
        tail = f"; n = {n}" if n is not None else ""
        return f"{head}: {claim} -- {statistic_name} is undefined on these data{tail}."
    parts = [f"{statistic_name} = {format_number(value)}"]
    if ci_low is not None and ci_high is not None:
        parts.append(f"{confidence:.0%} CI [{format_number(ci_low)}, {format_number(ci_high)}]")
    if p_value is not None:
        parts.append(format_p(p_value, n_perm))
    if n is not None:
        parts.append(f"n = {n}" + (f" {n_unit}" if n_unit else ""))
    sentence = f"{head}: {claim} ({', '.join(parts)})"
    if control_name is not None and control_value is not None:
        shown = format_number(control_value) if _finite(control_value) else "no defined value"
        sentence += f"; the {control_name} gives {shown}"
    return sentence + "."




def outcome_of(m: Measurement, direction: Direction, min_effect: float, use_control: bool = True) -> str:
    """``"holds"``, ``"opposite"`` (the rule met in the other direction) or ``"does not hold"``."""
    kw = dict(ci_low=m.ci_low, ci_high=m.ci_high, p_value=m.p_value, null=m.null,
              control_value=m.control_value if use_control else None, min_effect=min_effect,
              diff_low=m.diff_low if use_control else None, diff_high=m.diff_high if use_control else None)
    if claim_holds(m.value, direction=direction, **kw):
        return "holds"
    other: Direction = "less" if direction == "greater" else "greater"
    if (m.null is not None or m.diff_low is not None) and claim_holds(m.value, direction=other, **kw):
        return "opposite"
    return "does not hold"


def judge(finding, m: Measurement) -> ClaimResult:
    """A registered finding (:class:`physdocs.analysis.findings.Finding`) and its measurement -> result.

    The verdict sentence carries the numbers, the control and the confound the statistic
    was tested against; an opposite outcome states the opposite claim.
    """
    outcome = outcome_of(m, finding.direction, finding.min_effect, finding.control_in_rule)
    if outcome == "opposite":
        head, claim = "Does not hold; the opposite holds", finding.opposite
    else:
        head, claim = ("Holds" if outcome == "holds" else "Does not hold"), finding.claim
    sentence = verdict_sentence(
        head, claim, finding.statistic_name, m.value, ci_low=m.ci_low, ci_high=m.ci_high,
        p_value=m.p_value, control_name=finding.control_name, control_value=m.control_value, n=m.n,
        n_perm=m.n_perm, n_unit=m.n_unit,
    )
    if m.diff is not None and finding.control_in_rule:
        sentence = sentence[:-1] + (
            f"; trained minus {finding.control_name}: {format_number(m.diff)}, {1 - ALPHA:.0%} CI "
            f"[{format_number(m.diff_low)}, {format_number(m.diff_high)}] (paired over equations), "
            f"against a minimum effect of {format_number(finding.min_effect)}.")
    return ClaimResult(
        key=finding.key, title=finding.title, claim=finding.claim, statistic_name=finding.statistic_name,
        value=finite(m.value), ci_low=finite(m.ci_low), ci_high=finite(m.ci_high), p_value=finite(m.p_value),
        p_text="" if m.p_value is None else format_p(m.p_value, m.n_perm), n=int(m.n), n_unit=m.n_unit,
        control_name=finding.control_name, control_value=finite(m.control_value), confound=finding.confound,
        min_effect=finding.min_effect, min_effect_reason=finding.min_effect_reason,
        seed_reported=finding.seed_reported, pages=tuple(finding.pages), outcome=outcome,
        verdict=f"{sentence} Tested against {finding.confound}.",
        details=tuple(Detail(d.label, finite(d.value)) for d in m.details),
        diff=finite(m.diff), diff_low=finite(m.diff_low), diff_high=finite(m.diff_high),
    )
