"""The evaluation's typed records give back the JSON they were read from, the shipped file included."""

from __future__ import annotations

import json
import math

from physdocs.paths import EVALUATION_FILE
from physdocs.results.evaluation import Evaluation, Guess, Meta, Rate, ResultRow


def test_the_shipped_evaluation_reads_and_writes_back_the_same_json():
    doc = json.loads(EVALUATION_FILE.read_text(encoding="utf-8"))
    ev = Evaluation.from_json(doc)
    assert ev.to_json() == doc
    assert ev.credit and ev.grid and ev.audit and ev.variants and ev.synthetic and ev.proposers
    # a null R² (no usable candidate) reads as nan, not derived, and is written as null again
    doc["results"][0] = {**doc["results"][0], "r2_test": None}
    ev = Evaluation.from_json(doc)
    assert math.isnan(ev.results[0].r2_test) and not ev.results[0].derived
    assert ev.to_json() == doc


def row(**kw) -> ResultRow:
    base = {"id": "feynman_001", "tier": "trivial", "model": "trained", "decoder": "ar", "prediction": "x",
            "r2_test": 0.5, "exact": False, "source": "beam 0", "status": "valid", "match_reason": "no",
            "r2_support": 0.5, "seconds": 1.0, "first": Guess("x", math.nan, False, "beam 0")}
    return ResultRow(**{**base, **kw})


def test_optional_keys_are_left_out_unless_written_with_their_group():
    gp = row(decoder="gplearn", program="add(X0, X1)").to_json()
    assert "latex" not in gp and "tokens" not in gp and "variant" not in gp and gp["first"]["r2_test"] is None
    # the pipeline writes its rendering with tokens null: kept as written
    pipe = row(decoder="pipeline", constants=(1.0,), latex="x", note="", proposed_by=("operon",)).to_json()
    assert pipe["tokens"] is None and pipe["proposed_by"] == ["operon"]
    diff = row(decoder="diffusion", equation_steps=3).to_json()
    assert diff["first_equation_step"] is None and "revisions" in diff
    for doc in (gp, pipe, diff):
        assert ResultRow.from_json(doc).to_json() == doc


def test_missing_blocks_read_as_none_or_empty():
    ev = Evaluation.from_json({"meta": {"weights_sha256": "ab" * 32}})
    assert ev.results == () and ev.credit == () and ev.grid is None and ev.variants is None
    assert ev.meta == Meta("ab" * 32) and not ev.meta.config
    assert Rate.of([True, False, True, True]) == Rate(n=4, k=3, rate=0.75, low=0.3006, high=0.9544)


def test_queries_find_rows_by_their_keys():
    """The report asks the records, not dicts it builds: each query gives the row or None."""
    ev = Evaluation.from_json(json.loads(EVALUATION_FILE.read_text(encoding="utf-8")))
    s = ev.summary[0]
    assert ev.summary_row(s.model, s.decoder, s.tier) is s
    assert ev.summary_row(s.model, s.decoder, "none") is None
    t = ev.timing[-1]
    assert ev.timing_row(t.model, t.decoder, t.tier) is t
    c = ev.credit[0]
    assert ev.credit_row(c.method, c.stage, c.tier) is c and ev.credit_row("no method", "final", "all") is None
    rows = ev.rows_of("feynman_001")
    assert rows and all(r.id == "feynman_001" for r in rows) and ev.rows_of("feynman_777") == ()
    assert ev.result("feynman_001", rows[0].model, rows[0].decoder) is rows[0]
    v = ev.variants.summary[0]
    assert ev.variants.cell(v.decoder, v.variant, v.by, v.group) is v
    assert ev.variants.cell("x", "y", "z", "w") is None
    # the indexes are no part of the JSON
    assert ev.to_json() == json.loads(EVALUATION_FILE.read_text(encoding="utf-8"))


def test_outcomes_count_each_method_per_tier_and_over_all():
    rows = (row(tier="trivial", exact=True, r2_test=1.0), row(id="b", tier="simple", r2_test=0.999),
            row(id="c", tier="simple", variant="shifted", r2_test=1.0))
    ev = Evaluation(Meta("ab" * 32), results=rows)
    assert [(o.tier, o.exact.k, o.r2_gt_099.k, o.r2_gt_099.n) for o in ev.outcomes] == [
        ("trivial", 1, 1, 1), ("all", 1, 2, 2), ("simple", 0, 1, 1)]  # the shifted copy is not counted
    assert ev.outcome("trained", "ar", "all") is ev.outcomes[1] and ev.outcome("control", "ar", "all") is None


def test_the_budget_reads_the_config_a_missing_key_as_none():
    meta = Meta("ab" * 32, config={"n_samples": 48, "baselines": ["gplearn"], "decoders": ["ar"]})
    assert meta.budget.n_samples == 48 and meta.budget.baselines == ("gplearn",) and meta.budget.refine is None
    assert Meta("ab" * 32).budget.beam_size is None
