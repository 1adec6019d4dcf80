"""The home page's summary: computed sentences that say first whether the model works and
what the attention analysis found.

1. **Does it work?** The pipeline's, Operon alone's and the model alone's rates with Wilson
   intervals, a paired test of the pipeline against Operon alone, and the pipeline given the
   variables' units when the evaluation ran it. Both read the same
   equations, so their intervals overlapping says little: McNemar's exact test on the
   equations one derives and the other misses says whether the gain is established.
2. **What each decoder contributes:** the evaluation's ``proposers`` table.
3. **What the attention analysis found:** the findings that hold, each with its statistic and
   the paired trained-minus-control interval its verdict rests on; how many do not.
4. **The seed report on trained weights:** which of its claims survive.

Pure functions of the evaluation (:class:`Evaluation`) and the findings' verdicts
(:class:`ClaimResult`): every number and every finding named comes from there, and a
method the evaluation did not run is left out of its sentence. Sentences are Markdown
(:class:`markupsafe.Markup`): data is escaped by :func:`~physdocs.report.render.md_escape`,
and the first use of a term links to its entry in the glossary.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from markupsafe import Markup

from physdocs import methods as M
from physdocs.analysis.schema import ClaimResult
from physdocs.benchmark import TIERS
from physdocs.constants import ALPHA, R2_THRESHOLD
from physdocs.intervals import Z95, wilson_interval
from physdocs.report.render import ci, fmt, md_escape, url
from physdocs.results.evaluation import Evaluation, Rate, ResultRow

GLOSSARY = "glossary.md"
#: The methods of the paired comparison: the pipeline, and Operon alone at the same counted budget.
PIPELINE, OPERON = ((M.BY_KEY[k].model, M.BY_KEY[k].decoder) for k in ("pipeline", "operon"))
#: The methods the first sentence names, in its order: (registry key, glossary entry, phrase around
#: the linked name; ``{}`` is the registry's label).
RATE_METHODS = (("pipeline", "pipeline", "the pipeline ({})"), ("operon", "operon-alone", "{}"),
                ("model", "model-alone", "the {}"))
#: The two measures of the paired test: (key, the row's flag).
MEASURES = (("exact", "exact"), ("r2_gt_099", "derived"))
#: A stage of the pipeline named in the proposers table, where the registry's label would
#: name another method (the registry's "Operon alone" is a method, not the pipeline's search).
STAGE_NAMES = {"operon": "Operon's search"}
#: Glossary entries of the decoders, by registry key.
DECODER_TERMS = {"diffusion": "physdiffuser", "ar": "ar-decoder"}


# ----------------------------------------------------------------- paired proportions


def mcnemar_exact_p(first_only: int, second_only: int) -> float:
    """Two-sided exact McNemar p-value: the discordant pairs against a fair coin (1 when there are none)."""
    n = first_only + second_only
    from scipy.stats import binomtest  # here: scipy.stats costs a warm build 0.6 s of import

    return float(binomtest(first_only, n, 0.5).pvalue) if n else 1.0


def newcombe_interval(both: int, first_only: int, second_only: int, neither: int,
                      z: float = Z95) -> tuple[float, float]:
    """Newcombe's (1998, method 10) interval for the difference of two paired proportions.

    It combines the two rates' Wilson intervals with the pairs' correlation (shrunk towards
    zero by n/2, as the method prescribes), so it stays inside [-1, 1] and is not degenerate
    at 0 or n successes or without discordant pairs, as the Wald interval is.
    """
    n = both + first_only + second_only + neither
    if n == 0:
        return -1.0, 1.0
    k1, k2 = both + first_only, both + second_only
    p1, p2 = k1 / n, k2 / n
    (l1, u1), (l2, u2) = wilson_interval(k1, n, z), wilson_interval(k2, n, z)
    margins = k1 * (n - k1) * k2 * (n - k2)
    cross = both * neither - first_only * second_only
    shrunk = cross - n / 2 if cross > n / 2 else min(cross, 0)
    phi = shrunk / math.sqrt(margins) if margins else 0.0
    d = p1 - p2
    low = d - math.sqrt(max(0.0, (p1 - l1) ** 2 - 2 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2))
    high = d + math.sqrt(max(0.0, (u1 - p1) ** 2 - 2 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2))
    return max(-1.0, low), min(1.0, high)


@dataclass(frozen=True)
class Paired:
    """Two methods' outcomes on the same equations: how many each alone succeeded on.

    ``difference`` is the first's rate minus the second's; ``low``/``high`` its Newcombe
    interval; ``p_value`` McNemar's exact test, which only the discordant pairs inform.
    """

    n: int
    both: int
    first_only: int
    second_only: int

    @property
    def neither(self) -> int:
        return self.n - self.both - self.first_only - self.second_only

    @property
    def difference(self) -> float:
        return (self.first_only - self.second_only) / self.n if self.n else 0.0

    @property
    def interval(self) -> tuple[float, float]:
        return newcombe_interval(self.both, self.first_only, self.second_only, self.neither)

    @property
    def p_value(self) -> float:
        return mcnemar_exact_p(self.first_only, self.second_only)

    @property
    def established(self) -> bool:
        """The difference is significant at the report's level (two-sided)."""
        return self.first_only != self.second_only and self.p_value < ALPHA

    @classmethod
    def of(cls, first: Sequence[bool], second: Sequence[bool]) -> Paired:
        if len(first) != len(second):
            raise ValueError(f"paired outcomes need equal lengths, got {len(first)} and {len(second)}")
        pairs = list(zip(map(bool, first), map(bool, second), strict=True))
        return cls(n=len(pairs), both=sum(a and b for a, b in pairs),
                   first_only=sum(a and not b for a, b in pairs), second_only=sum(b and not a for a, b in pairs))


def paired_rows(evaluation: Evaluation, first: tuple[str, str], second: tuple[str, str],
                tier: str = "all") -> list[tuple[ResultRow, ResultRow]]:
    """The two methods' rows on each equation of ``tier`` ("all": every tier) that both were run on."""
    out = []
    for r in evaluation.results:
        if (r.model, r.decoder) == first and r.original and tier in ("all", r.tier):
            other = evaluation.result(r.id, *second)
            if other is not None:
                out.append((r, other))
    return out


def paired(evaluation: Evaluation, first: tuple[str, str], second: tuple[str, str],
           tier: str = "all") -> dict[str, Paired] | None:
    """``{measure key: Paired}`` for ``first`` against ``second`` over ``tier``; None when no equation has both."""
    rows = paired_rows(evaluation, first, second, tier)
    if not rows:
        return None
    return {key: Paired.of([getattr(a, flag) for a, _ in rows], [getattr(b, flag) for _, b in rows])
            for key, flag, *_ in MEASURES}


def paired_by_tier(evaluation: Evaluation | None, first: tuple[str, str] = PIPELINE,
                   second: tuple[str, str] = OPERON) -> list[dict]:
    """Per tier and over all, per measure: the paired difference (first - second) with its
    Newcombe interval and McNemar p-value, as JSON rows for the summary figure; empty when
    the two methods share no equation."""
    out = []
    for tier in (*TIERS, "all") if evaluation else ():
        found = paired(evaluation, first, second, tier)
        for key, *_ in MEASURES if found else ():
            p = found[key]
            low, high = p.interval
            out.append({"tier": tier, "measure": key, "n": p.n, "diff": p.difference, "low": low, "high": high,
                        "p": p.p_value})
    return out


def forest_rows(claims: Sequence[ClaimResult]) -> list[dict]:
    """Each finding as the summary figure's forest plot reads it (JSON, in registry order)."""
    return [{"title": c.title, "outcome": c.outcome, "diff": c.diff, "diff_low": c.diff_low,
             "diff_high": c.diff_high, "min_effect": c.min_effect} for c in claims]


# ----------------------------------------------------------------- sentences


@dataclass
class Terms:
    """Links a term to the glossary at its first use only (one per summary)."""

    used: set[str] = field(default_factory=set)

    def __call__(self, text: str, anchor: str) -> Markup:
        if anchor in self.used:
            return md_escape(text)
        self.used.add(anchor)
        return Markup(f"[{md_escape(text)}]({url(GLOSSARY + '#' + anchor)})")


def md(*parts: str | Markup) -> Markup:
    """Markdown from parts: plain strings escaped, Markup (links) kept."""
    return Markup("").join(md_escape(p) for p in parts)


def share(r: Rate) -> str:
    """``"88% (80–92%)"``: a rate with its Wilson interval, in whole percent."""
    return f"{100 * r.rate:.0f}% ({100 * r.low:.0f}–{100 * r.high:.0f}%)"


def _method_name(key: str, anchor: str, phrase: str, terms: Terms) -> Markup:
    """A method's name in a sentence; the glossary link is on the term ("the pipeline") or the label."""
    label = M.BY_KEY[key].label
    if phrase.startswith("the pipeline"):
        return md(terms("the pipeline", anchor), f" ({label})")
    before, after = phrase.split("{}")
    return md(before, terms(label, anchor), after)


def rates_sentence(evaluation: Evaluation | None, terms: Terms) -> Markup | None:
    """How often the pipeline, Operon alone and the model alone derive the benchmark's equations."""
    found = [(key, anchor, phrase, o) for key, anchor, phrase in RATE_METHODS if evaluation
             and (o := evaluation.outcome(M.BY_KEY[key].model, M.BY_KEY[key].decoder, "all")) is not None]
    if not found:
        return None
    parts: list[str | Markup] = []
    for i, (key, anchor, phrase, o) in enumerate(found):
        name = _method_name(key, anchor, phrase, terms)
        if i == 0:
            parts += [f"On {o.exact.n} benchmark equations, ", name, f" derives {share(o.r2_gt_099)} at ",
                      terms(f"held-out R² > {R2_THRESHOLD}", "r2"), f" and recovers {share(o.exact)} ",
                      terms("exactly", "exact-recovery")]
        else:
            parts += ["; ", name, f" {share(o.r2_gt_099)} and {share(o.exact)}"]
    return md(*parts, " (95% ", terms("Wilson intervals", "wilson-interval"), ").")


def units_sentence(evaluation: Evaluation | None, terms: Terms) -> Markup | None:
    """The pipeline given every variable's units, when the evaluation ran it."""
    m = M.BY_KEY["pipeline-units"]
    o = evaluation.outcome(m.model, m.decoder, "all") if evaluation else None
    if o is None:
        return None
    return md("Given every variable's units, ", terms("the pipeline with units", "pipeline-units"),
              f" derives {share(o.r2_gt_099)} and recovers {share(o.exact)} exactly.")


def _points(x: float) -> str:
    return f"{100 * x:+.1f}"


def paired_clause(p: Paired, what: str) -> str:
    """One measure of the paired test: the difference with its interval, the discordant counts
    and the p-value, and whether the difference is established at the report's level."""
    low, high = p.interval
    text = (f"{what} {_points(p.difference)} points ({p.first_only} gained, {p.second_only} lost; 95% CI "
            f"{_points(low)} to {_points(high)}, p = {p.p_value:.2g})")
    if p.first_only == p.second_only:
        return text + ", no difference"
    return text + (", established" if p.established else ", not established")


def paired_sentence(evaluation: Evaluation | None, terms: Terms) -> Markup | None:
    """The pipeline against Operon alone on the same equations, for exact recovery and R² > 0.99."""
    found = paired(evaluation, PIPELINE, OPERON) if evaluation else None
    if found is None:
        return None
    exact, r2 = (found[key] for key, *_ in MEASURES)
    return md(f"Against {M.label(*OPERON)} on the same {exact.n} equations (", terms("McNemar's exact test", "mcnemar"),
              f", at the {ALPHA:.0%} level): ", paired_clause(exact, "exact recovery"), "; ",
              paired_clause(r2, f"R² > {R2_THRESHOLD}"), ".")


def _stage(key: str, terms: Terms) -> Markup:
    """A stage of the pipeline by its key: a decoder by its registry label, linked."""
    if key in STAGE_NAMES:
        return md_escape(STAGE_NAMES[key])
    method = M.BY_KEY.get(key)
    name = method.label if method else key
    return terms(name, DECODER_TERMS[key]) if key in DECODER_TERMS else md_escape(name)


def proposers_sentence(evaluation: Evaluation | None, terms: Terms) -> Markup | None:
    """Of the pipeline's derived answers: how many each stage proposed, and how many only it did."""
    row = next((r for r in (evaluation.proposers if evaluation else ()) if r.decoder == PIPELINE[1]), None)
    if row is None or not row.proposed:
        return None
    order = {m.key: i for i, m in enumerate(M.REGISTRY)}
    stages = sorted(row.proposed, key=lambda k: (k in STAGE_NAMES, order.get(k, len(order)), k))
    parts: list[str | Markup] = [f"Of the {row.derived} equations the pipeline derives, "]
    for i, key in enumerate(stages):
        if i:
            parts.append(" and " if i == len(stages) - 1 else ", ")
        parts += ["" if key in STAGE_NAMES else "the ", _stage(key, terms),
                  f" proposed {row.proposed[key]} ({row.only.get(key, 0)} that no other stage did)" if i == 0
                  else f" {row.proposed[key]} ({row.only.get(key, 0)} alone)"]
    return md(*parts, ".")


def _lower(title: str) -> str:
    """A title inside a sentence: its first letter lowered unless it opens an acronym (ISAB)."""
    return title if title[:2].isalpha() and title[:2].isupper() else title[:1].lower() + title[1:]


def finding_line(c: ClaimResult) -> Markup:
    """A finding that holds, stated positively (its title) with its effect: the statistic and
    its interval, then the paired trained-minus-control interval and the minimum effect it clears."""
    text = f"{c.statistic_name} {fmt(c.value)} {ci([c.ci_low, c.ci_high])}"
    if c.diff is not None:
        text += f"; trained − control {fmt(c.diff)} {ci([c.diff_low, c.diff_high])}, minimum effect {fmt(c.min_effect)}"
    return md(Markup("**"), c.title, Markup("**"), ": ", text, ".")


def findings_summary(claims: Sequence[ClaimResult], terms: Terms) -> tuple[Markup, list[Markup]] | None:
    """The lead sentence (how many findings hold) and one line per finding that holds."""
    if not claims:
        return None
    held = [c for c in claims if c.holds]
    failed = [c for c in claims if not c.holds]
    opposite = sum(c.outcome == "opposite" for c in claims)
    lead: list[str | Markup] = [
        f"{len(held)} of {len(claims)} findings about the attention hold; {len(failed)} do not",
        f", and for {opposite} of them the opposite holds" if opposite else "",
        " (", Markup(f"[every verdict]({url('findings.md')})"), "). Each is tested against a ",
        terms("random-initialised control", "control"), ": a ", terms("paired bootstrap", "paired-bootstrap"),
        " over equations of trained − control must clear the finding's ", terms("minimum effect", "minimum-effect"),
        " (95% intervals). What holds:" if held else ".",
    ]
    return md(*lead), [finding_line(c) for c in held]


def seed_reported(c: ClaimResult) -> bool:
    """Whether the seed report made the claim: its ``seed_reported`` quotes the seed, and is
    neither empty nor "not reported …" / "not tested …" (a finding the seed could not make)."""
    return bool(c.seed_reported) and not c.seed_reported.startswith("not ")


def seed_sentence(claims: Sequence[ClaimResult], terms: Terms) -> Markup | None:
    """Which of the seed report's claims (made on random weights) survive on the trained weights."""
    made = [c for c in claims if seed_reported(c)]
    if not made:
        return None
    kept = [c for c in made if c.holds]
    lost = [c for c in made if not c.holds]
    parts: list[str | Markup] = [
        "The ", terms("seed report", "seed-report"), f" made {len(made)} of these claims from random weights; ",
        f"{len(kept)} survive on the trained weights" + (f" ({'; '.join(_lower(c.title) for c in kept)})" if kept
                                                          else ""),
        f" and {len(lost)} do not" if lost else "",
        ". ", Markup(f"[Each claim beside the seed's own words]({url('findings.md')})"), ".",
    ]
    return md(*parts)


@dataclass(frozen=True)
class SummaryItem:
    """One paragraph of the summary: a bold lead-in, its sentences and, below them, a list."""

    lead: str
    text: Markup
    items: tuple[Markup, ...] = ()


def summary(evaluation: Evaluation | None, claims: Sequence[ClaimResult]) -> list[SummaryItem]:
    """The home page's summary, in reading order; a part without its inputs is left out."""
    terms = Terms()
    out = []
    works = [s for s in (rates_sentence(evaluation, terms), paired_sentence(evaluation, terms),
                         units_sentence(evaluation, terms)) if s]
    if works:
        out.append(SummaryItem("Does it work?", Markup(" ").join(works)))
    proposers = proposers_sentence(evaluation, terms)
    if proposers:
        out.append(SummaryItem("What each decoder contributes.", proposers))
    found = findings_summary(claims, terms)
    if found:
        out.append(SummaryItem("What the attention analysis found.", found[0], tuple(found[1])))
    seed = seed_sentence(claims, terms)
    if seed:
        out.append(SummaryItem("The seed report, on trained weights.", seed))
    return out
