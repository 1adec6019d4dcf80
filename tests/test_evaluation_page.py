"""The evaluation page's data: budget, attribution sentences, audit tables, timing join."""

from physdocs import methods as M
from physdocs.report.evaluation_page import audit_tables, budget, comparisons, evaluation_data
from physdocs.results.evaluation import Audit, AuditEquation, Evaluation, Meta, SummaryRow, TimingRow


def srow(model, decoder, tier, r2, first):
    return SummaryRow(model, decoder, tier, n=4, r2_gt_099=r2, exact=r2, first_r2_gt_099=first, first_exact=first,
                      repaired=0.0, median_r2=0.9)


def test_comparisons_say_which_decoder_leads_and_name_control_parity():
    rows = [srow("trained", "diffusion", "trivial", 1.0, 0.5), srow("trained", "ar", "trivial", 0.75, 0.75),
            srow("control", "diffusion", "trivial", 0.0, 0.0),
            srow("trained", "diffusion", "complex", 0.0, 0.0), srow("trained", "ar", "complex", 0.25, 0.25),
            srow("control", "diffusion", "complex", 0.0, 0.0), srow("baseline", "gplearn", "complex", 0.5, 0.5)]
    trivial, complex_ = comparisons(Evaluation(Meta("ab" * 32), summary=tuple(rows)))
    assert "100%" in trivial and "first guess 50%" in trivial and "at least as accurate as" in trivial
    assert "no better than the control" not in trivial
    assert "less accurate than" in complex_ and "no better than the control" in complex_
    assert "gplearn baseline reaches 50%" in complex_ and "gplearn" not in trivial


def test_budget_reads_the_config_and_counts_refinement():
    meta = Meta("ab" * 32, config={"n_samples": 48, "beam_size": 32, "ar_samples": 32, "restarts": 4, "seed": 2026,
                                   "n_support": 50, "n_test": 200,
                                   "refine": {"rounds": 4, "parents": 3, "proposals": 8, "max_masked": 3}})
    b = budget(meta)
    assert b["refine_budget"] == 96 and b["n_samples"] == 48 and b["n_test"] == 200 and b["gp"] is None
    assert budget(Meta("ab" * 32, config={"refine": None}))["refine_budget"] is None
    assert b["beam"] is None and b["beam_canvases"] == 0  # an evaluation from before the diffuser's beam
    beam = {"lengths": 3, "width": 16, "expand": 4, "share": 0.5, "order": "left"}
    with_beam = budget(Meta("ab" * 32, config={**meta.config, "n_samples": 96, "diffusion_beam": beam}))
    assert with_beam["beam_canvases"] == 48 and with_beam["beam"]["width"] == 16


def test_audit_tables_per_tier():
    eqs = (AuditEquation("a", "trivial", "v1", "train", (), 10), AuditEquation("b", "trivial", "v2", "heldout", (), 0),
           AuditEquation("c", "simple", "v3", "train", (), 0))
    t = {r["tier"]: r for r in audit_tables(Audit(100, eqs))["per_tier"]}
    assert t["trivial"]["in_support"] == 1 and t["trivial"]["held_out"] == 1 and t["trivial"]["drawn"] == 1
    assert t["all"]["n"] == 3 and t["all"]["median_draws"] == 0
    assert audit_tables(None) is None


def test_timing_is_joined_into_the_rows():
    ev = Evaluation(Meta("ab" * 32), summary=(srow("trained", "ar", "all", 0.5, 0.5),),
                    timing=(TimingRow("trained", "ar", "all", mean_seconds=1.5, max_seconds=3.0),))
    data = evaluation_data(ev)
    assert data["overall"][0]["mean_seconds"] == 1.5 and not data["has_grid"]
    assert evaluation_data(None) is None


def test_the_model_alone_shows_no_seconds_where_it_was_timed_only_within_the_pipeline():
    """An evaluation whose pipeline rows do not count the model stage's seconds gave the model
    alone the whole run's: no table, page or answer may show them as the model's own."""
    from physdocs.report.answers import answers
    from physdocs.results.evaluation import Guess, ResultRow

    def run(counts):
        rows = tuple(ResultRow(id="eq", tier="trivial", model="trained", decoder=d, prediction="x1", r2_test=1.0,
                               exact=True, source="operon", status="ok", match_reason="", r2_support=1.0,
                               seconds=4.05, first=Guess("x1", 1.0, True, "operon"),
                               counts=counts if d == "pipeline" else None)
                     for d in ("pipeline", "model"))
        timing = tuple(TimingRow("trained", d, "all", mean_seconds=4.05, max_seconds=4.05) for d in ("pipeline", "model"))
        summary = tuple(srow("trained", d, "all", 1.0, 1.0) for d in ("pipeline", "model"))
        return Evaluation(Meta("ab" * 32), results=rows, summary=summary, timing=timing)

    shared = run({"pool": 3})
    assert shared.untimed == {("trained", "model")} and shared.timing_row("trained", "model", "all") is None
    assert shared.timing_row("trained", "pipeline", "all").mean_seconds == 4.05
    table = {t["decoder"]: t for t in evaluation_data(shared)["tables"]}
    assert table["model"]["rows"][0]["mean_seconds"] is None and "model + Operon" in table["model"]["seconds_note"]
    assert table["pipeline"]["rows"][0]["mean_seconds"] == 4.05 and table["pipeline"]["seconds_note"] is None
    by = {a.key: a for a in answers(shared.results, [], shared)}
    assert by["model"].seconds is None and "model + Operon" in by["model"].note and by["pipeline"].seconds == 4.05
    timed = run({"pool": 3, "model_seconds": 1.2})  # a run that timed the model stage: its rows hold it
    assert timed.untimed == frozenset() and timed.timing_row("trained", "model", "all").mean_seconds == 4.05


def test_training_summary_reads_the_log():
    from physdocs.report.evaluation_page import training_summary
    from physdocs.results.analysis import LogRecord

    log = [{"kind": "train", "step": 25, "samples_per_s": 100.0},
           {"kind": "val", "step": 250, "elapsed": 60.0, "ar_token_acc": 0.4, "diff_real_token_acc": 0.1,
            "ar_gap": 0.1, "diff_gap": 0.05},
           {"kind": "val", "step": 500, "elapsed": 120.0, "ar_token_acc": 0.5, "diff_real_token_acc": 0.2,
            "ar_gap": 0.5, "diff_gap": 0.3}]
    lines = training_summary([LogRecord.from_json(r) for r in log])
    assert "500 steps in 2 minutes" in lines[0] and "0.400 (step 250) to 0.500" in lines[1]
    assert "both decoders read their data" in lines[2]
    assert training_summary([]) == []

    # Several legs: the run is named as its legs, each with its steps and minutes.
    from physdocs.results.analysis import Leg
    legs = (Leg("first", 0, 300, 1.0), Leg("refine", 300, 500, None))
    lines = training_summary([LogRecord.from_json(r) for r in log], legs)
    assert "one run in 2 legs" in lines[1]
    assert "first, steps 0–300 (1 min); refine, steps 300–500." in lines[1]
    assert "the last leg, refine" in lines[1]


def test_the_method_table_agrees_with_the_evaluations_credit():
    """The method x tier table counts each method's outcomes per equation, as the evaluation's
    credit does for every method but the control: on the shipped evaluation, every shared
    final cell is the same rate, interval and count."""
    import json

    from physdocs.paths import EVALUATION_FILE
    from physdocs.report.evaluation_page import method_tier_rows

    ev = Evaluation.from_json(json.loads(EVALUATION_FILE.read_text(encoding="utf-8")))
    table = method_tier_rows(ev)
    cells = {(r["model"], r["decoder"], r["key"], t): c
             for r in table["rows"] for t, c in zip(table["tiers"], r["cells"], strict=True)}
    # the credit names each method by its label (earlier evaluations: a decoder by its key)
    rows = {name: (m.model, m.decoder) for m in M.REGISTRY for name in (m.label, m.key)}
    finals = [c for c in ev.credit if c.stage == "final"]
    assert {rows[c.method] for c in finals} == {k[:2] for k in cells if k[0] != "control"}
    for c in finals:
        assert cells[(*rows[c.method], "exact", c.tier)] == c.exact
        assert cells[(*rows[c.method], "r2_gt_099", c.tier)] == c.r2_gt_099


def test_the_equal_time_record_reads_back_what_the_benchmark_writes():
    from physdocs.results.equal_time import EqualTime
    from tests.evaluation_fakes import equal_time_json

    for doc in (equal_time_json("ab" * 32), equal_time_json("ab" * 32, synthetic=False)):
        record = EqualTime.from_json(doc)
        assert record.to_json() == doc
    assert record.benchmark.summary["pipeline"].exact.n == 2 and record.heldout_synthetic.summary == {}


def test_the_equal_time_table_is_shown_for_the_evaluations_weights_only():
    from physdocs.report.evaluation_page import equal_time_table
    from physdocs.results.equal_time import EqualTime
    from tests.evaluation_fakes import equal_time_json

    ev = Evaluation(Meta("ab" * 32))
    table = equal_time_table(EqualTime.from_json(equal_time_json("ab" * 32, synthetic=False)), ev)
    assert table["status"] == "shown"
    assert table["parts"] == ["our 2 equations", "no held-out synthetic skeletons"]
    assert [r["method"] for r in table["rows"]] == [M.BY_KEY["pipeline"].label, M.BY_KEY["operon"].label]
    assert table["rows"][0]["cells"] == ["50% (9–91%, 1/2)", "50% (9–91%, 1/2)", "2.50", "—", "—", "—"]
    other = equal_time_table(EqualTime.from_json(equal_time_json("ff" * 32)), ev)
    assert other == {"status": "other weights", "weights_sha256": "ff" * 32}
    assert equal_time_table(None, ev) == {"status": "missing"}
