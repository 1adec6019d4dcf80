"""The analysis results' records: each reads back the JSON it writes, and the cached results.json."""

from __future__ import annotations

import json

from physdocs.results.analysis import LogRecord, Results
from physdocs.results.causal import Behaviour, Effect, Intervention, PatchRow
from physdocs.results.evaluation_rows import Rate
from tests.report_fakes import HOSTILE, FakeAnalysisConfig, evaluation_json, fake_causal, synthetic_run


def test_synthetic_results_read_back_what_they_write():
    results, _ = synthetic_run(FakeAnalysisConfig(), names={"feynman_001": HOSTILE})
    assert json.loads(json.dumps(results, allow_nan=False)) == results
    assert Results.from_json(results).to_json() == results
    evaluated = {**results, "evaluation": evaluation_json(results)}
    assert Results.from_json(evaluated).to_json() == evaluated


def test_records_read_by_attribute():
    results, _ = synthetic_run(FakeAnalysisConfig())
    typed = Results.from_json(results)
    eq = typed.equation("feynman_046")
    assert eq is not None and typed.equation("feynman_777") is None
    assert eq.models["trained"].entropy["diffuser.self"].nats == results["equations"][1]["models"]["trained"][
        "entropy"]["diffuser.self"]["nats"]
    assert eq.models["trained"].trajectory.stats.first_equation_step == 1
    assert typed.causal == fake_causal(0.123456, 2)


def test_queries_find_rows_by_their_keys():
    """The report asks the records, not dicts it builds: each query gives the row or None."""
    results, _ = synthetic_run(FakeAnalysisConfig())
    typed = Results.from_json(results)
    row = typed.tiers.entropy_row("diffuser.self", "trivial", "uniform")
    assert row is not None and (row.component, row.tier, row.model) == ("diffuser.self", "trivial", "uniform")
    assert typed.tiers.entropy_row("diffuser.self", "complex", "trained") is None
    share = typed.tiers.token_type_row("decoder.self", "trivial", "binary", "control")
    assert share is not None and share.model == "control"
    assert typed.tiers.token_type_row("encoder.pma", "trivial", "binary", "control") is None
    assert typed.meta.seed_entropy("trivial") == 1.778 and typed.meta.seed_entropy("complex") is None
    assert typed.head_roles_of("trained") is None  # the run measured none
    model = typed.causal.models["control"]
    assert model.head("self", 1, 1) is model.heads[0] and model.head("self", 2, 1) is None
    assert model.head("cross", 1, 1) is model.heads[1]
    assert model.condition("z blocked") is model.cross[1] and model.condition("nothing") is None
    assert model.patching.layer_row(1) is model.patching.layers[0] and model.patching.layer_row(9) is None
    record = typed.equation("feynman_001").models["trained"]
    assert record.entropy_of("diffuser.self") is record.entropy["diffuser.self"]
    assert record.entropy_of("no.component") is None
    assert Results.from_json(results).to_json() == results  # the indexes are no part of the JSON


def test_the_training_log_reads_as_typed_lines_and_is_written_as_it_was():
    results, _ = synthetic_run(FakeAnalysisConfig())
    log = [{"kind": "train", "step": 25, "samples_per_s": 100.0, "lr": 1e-4},
           {"kind": "val", "step": 50, "elapsed": 60.0, "ar_gap": 0.5, "leg": "refine"}]
    typed = Results.from_json({**results, "training_log": log})
    assert [(r.kind, r.step, r.samples_per_s, r.ar_gap) for r in typed.log] == [
        ("train", 25, 100.0, None), ("val", 50, None, 0.5)]
    assert typed.log[1] == LogRecord("val", 50, elapsed=60.0, ar_gap=0.5, leg="refine")
    assert typed.to_json()["training_log"] == log  # keys the report does not read are kept


def test_an_intervention_without_decodes_reads_back_as_it_was_written():
    """The control is not decoded for most interventions: its rows carry no behaviour."""
    loss = Effect(0.1, None, None, 3)
    row = Intervention("z blocked", 3, loss)
    assert row.to_json()["behaviour"] is None and Intervention.from_json(row.to_json()) == row
    kept, gained = Rate.of([True, True, False]), Rate.of([False, True])
    b = Behaviour(kept, gained, p_value=1.0)
    assert (b.lost, b.net, b.changed) == (1, 0, 2)
    decoded = Intervention("observations blocked", 3, loss, behaviour=b, displacement=float("nan"))
    assert decoded.to_json()["displacement"] is None  # nan is JSON's null
    assert Intervention.from_json(decoded.to_json()).behaviour == b
    assert PatchRow.from_json(PatchRow(1, loss).to_json()) == PatchRow(1, loss)


def test_a_small_measure_is_kept_to_significant_figures_never_rounded_to_zero():
    """A random model's divergence of 1.75e-6, rounded to five places, was stored (and printed) as 0."""
    from physdocs.results import finite, significant

    assert finite(1.7527e-6, 5) == 0.0  # the rounding that lost it
    assert significant(1.7527336e-6) == 1.7527e-06 and significant(123.456789) == 123.46
    assert significant(0.0) == 0.0 and significant(None) is None and significant(float("nan")) is None
