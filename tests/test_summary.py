"""The home page's summary: paired statistics, and sentences from planted evaluations and findings."""

from __future__ import annotations

import re

import pytest

from physdocs.analysis.schema import ClaimResult
from physdocs.report.summary import (
    Paired,
    Terms,
    findings_summary,
    forest_rows,
    mcnemar_exact_p,
    newcombe_interval,
    paired_by_tier,
    seed_sentence,
    summary,
)
from physdocs.results.evaluation import Evaluation, Meta, ProposerRow
from tests.evaluation_fakes import outcome_rows

# ----------------------------------------------------------------- paired statistics


def test_mcnemar_exact_p_counts_the_discordant_pairs_only():
    assert mcnemar_exact_p(10, 1) == pytest.approx(24 / 2048)  # 2 * P(X <= 1), X ~ Bin(11, 1/2)
    assert mcnemar_exact_p(3, 3) == 1.0 and mcnemar_exact_p(0, 0) == 1.0
    assert mcnemar_exact_p(1, 10) == mcnemar_exact_p(10, 1)


def test_newcombe_interval_holds_the_difference_and_mirrors():
    low, high = newcombe_interval(both=10, first_only=12, second_only=0, neither=18)
    assert 0 < low < 12 / 40 < high < 1
    assert newcombe_interval(10, 0, 12, 18) == pytest.approx((-high, -low))
    # no discordant pair: a difference of zero, with an interval on both sides (not degenerate)
    low0, high0 = newcombe_interval(20, 0, 0, 20)
    assert low0 == pytest.approx(-high0) and 0.02 < high0 < 0.2
    # more equations, the same shares: a narrower interval
    wide, narrow = newcombe_interval(5, 6, 0, 9), newcombe_interval(50, 60, 0, 90)
    assert narrow[1] - narrow[0] < wide[1] - wide[0]
    assert newcombe_interval(0, 0, 0, 0) == (-1.0, 1.0)


def test_paired_counts():
    p = Paired.of([True, True, False, False, True], [True, False, True, False, False])
    assert (p.n, p.both, p.first_only, p.second_only, p.neither) == (5, 1, 2, 1, 1)
    assert p.difference == pytest.approx(0.2) and not p.established
    with pytest.raises(ValueError, match="equal lengths"):
        Paired.of([True], [True, False])


# ----------------------------------------------------------------- planted evaluations


def planted(pipeline_only: int, operon_only: int, *, both: int = 10, n: int = 40, operon: bool = True,
            model: bool = True) -> Evaluation:
    """The pipeline and Operon alone on ``n`` equations: ``both`` exact for both, then the
    discordant ones; R² > 0.99 wherever exact. The model alone recovers the first ``both``."""
    rest = n - both - pipeline_only - operon_only
    pipe = [True] * both + [True] * pipeline_only + [False] * operon_only + [False] * rest
    alone = [True] * both + [False] * pipeline_only + [True] * operon_only + [False] * rest
    rows = outcome_rows("trained", "pipeline", pipe)
    rows += outcome_rows("baseline", "operon", alone) if operon else ()
    rows += outcome_rows("trained", "model", [True] * both + [False] * (n - both)) if model else ()
    proposers = (ProposerRow("pipeline", n=n, derived=both + pipeline_only,
                             proposed={"operon": 15, "ar": 12, "diffusion": 9}, only={"operon": 4, "ar": 2}),)
    return Evaluation(Meta("ab" * 32), results=rows, proposers=proposers)


def text(items) -> str:
    return " ".join(str(i.text) + " " + " ".join(map(str, i.items)) for i in items)


def test_a_gain_mcnemar_establishes():
    items = summary(planted(12, 0), [])
    assert [i.lead for i in items] == ["Does it work?", "What each decoder contributes."]
    works = str(items[0].text)
    assert works.startswith("On 40 benchmark equations, [the pipeline](glossary.md#pipeline) (model + Operon) "
                            "derives 55% (40–69%) at")
    assert "[Operon alone](glossary.md#operon-alone) 25% (14–40%) and 25% (14–40%)" in works
    assert "the [model alone](glossary.md#model-alone) 25% (14–40%)" in works
    assert ("Against Operon alone on the same 40 equations ([McNemar&#39;s exact test](glossary.md#mcnemar), at the "
            "5% level): exact recovery +30.0 points (12 gained, 0 lost; 95% CI") in works
    assert works.count("p = 0.00049), established") == 2  # exact recovery and R² > 0.99


def test_a_gain_mcnemar_does_not_establish():
    works = str(summary(planted(3, 1), [])[0].text)
    assert "exact recovery +5.0 points (3 gained, 1 lost; 95% CI" in works
    assert works.count("p = 0.62), not established") == 2
    assert "exact recovery -10.0 points (0 gained, 4 lost" in str(summary(planted(0, 4), [])[0].text)
    assert "+0.0 points (2 gained, 2 lost; 95% CI -11.0 to +11.0, p = 1), no difference" in \
        str(summary(planted(2, 2), [])[0].text)


def test_an_absent_method_is_left_out_not_invented():
    items = summary(planted(12, 0, operon=False, model=False), [])
    works = str(items[0].text)
    assert "Operon alone" not in works and "model alone" not in works and "Paired" not in works
    assert works.startswith("On 40 benchmark equations, [the pipeline]")
    assert summary(None, []) == [] and paired_by_tier(None) == []
    assert summary(Evaluation(Meta("ab" * 32)), []) == []


def test_the_pipeline_with_units_is_stated_when_the_evaluation_ran_it():
    ev = planted(12, 0)
    assert "units" not in str(summary(ev, [])[0].text)
    with_units = Evaluation(ev.meta, results=ev.results + tuple(outcome_rows("trained", "pipeline-units",
                                                                             [True] * 30 + [False] * 10)),
                            proposers=ev.proposers)
    works = str(summary(with_units, [])[0].text)
    assert works.endswith("Given every variable&#39;s units, [the pipeline with units](glossary.md#pipeline-units) "
                          "derives 75% (60–86%) and recovers 75% (60–86%) exactly.")


def test_what_each_decoder_contributes_reads_the_proposers_table():
    contributes = str(summary(planted(12, 0), [])[1].text)
    assert contributes == (
        "Of the 22 equations the pipeline derives, the [PhysDiffuser](glossary.md#physdiffuser) proposed 9 "
        "(0 that no other stage did), the [AR decoder](glossary.md#ar-decoder) 12 (2 alone) and "
        "Operon&#39;s search 15 (4 alone).")


def test_paired_by_tier_gives_every_tier_and_all():
    rows = paired_by_tier(planted(12, 0))
    assert {(r["tier"], r["measure"]) for r in rows} >= {("all", "exact"), ("all", "r2_gt_099"), ("trivial", "exact")}
    overall = next(r for r in rows if r["tier"] == "all" and r["measure"] == "exact")
    assert overall["n"] == 40 and overall["diff"] == pytest.approx(0.3) and overall["low"] > 0
    assert sum(r["n"] for r in rows if r["measure"] == "exact" and r["tier"] != "all") == 40


# ----------------------------------------------------------------- findings


def claim(key: str, outcome: str, *, diff: float | None = 0.5, seed: str = "'it is so' (random weights)") -> ClaimResult:
    return ClaimResult(
        key=key, title=f"{key.capitalize()} title", claim=f"the {key} effect is there", statistic_name="stat",
        value=0.75, ci_low=0.625, ci_high=0.875, p_value=None, p_text="", n=120, n_unit="equations",
        control_name="random-initialised model", control_value=0.25, confound="length", min_effect=0.1,
        min_effect_reason="", seed_reported=seed, pages=("findings.md",), outcome=outcome, verdict="",
        diff=diff, diff_low=None if diff is None else diff - 0.125, diff_high=None if diff is None else diff + 0.125)


CLAIMS = [claim("a", "holds"), claim("b", "does not hold"), claim("c", "opposite"),
          claim("d", "holds", diff=None, seed="not reported (single memory slot)")]


def test_the_findings_that_hold_are_stated_with_their_effect():
    lead, lines = findings_summary(CLAIMS, Terms())
    assert str(lead).startswith("2 of 4 findings about the attention hold; 2 do not, and for 1 of them the "
                                "opposite holds ([every verdict](findings.md))")
    assert [str(line) for line in lines] == [
        "**A title**: stat 0.750 \\[0.625, 0.875\\]; trained − control 0.500 \\[0.375, 0.625\\], minimum effect 0.100.",
        "**D title**: stat 0.750 \\[0.625, 0.875\\].",
    ]
    assert findings_summary([], Terms()) is None
    assert [r["title"] for r in forest_rows(CLAIMS)] == ["A title", "B title", "C title", "D title"]


def test_the_seed_reports_claims_that_survive():
    sentence = str(seed_sentence(CLAIMS, Terms()))
    assert sentence.startswith("The [seed report](glossary.md#seed-report) made 3 of these claims from random "
                               "weights; 1 survive on the trained weights (a title) and 2 do not.")
    assert "(findings.md)" in sentence
    assert seed_sentence([claim("d", "holds", seed="not tested (weights only)")], Terms()) is None


def test_a_term_links_to_the_glossary_at_its_first_use_only():
    items = summary(planted(12, 0), CLAIMS)
    links = re.findall(r"\]\(glossary\.md#([\w-]+)\)", text(items))
    assert len(links) == len(set(links)) and {"pipeline", "control", "minimum-effect", "mcnemar"} <= set(links)
    assert [i.lead for i in items][-2:] == ["What the attention analysis found.", "The seed report, on trained weights."]
