"""The analysis results' records: each reads back the JSON it writes, and the cached results.json."""

from __future__ import annotations

import json

from physdocs.results.analysis import Results
from physdocs.results.causal import Ablation, CrossCondition, Effect, HeadAblation, PatchShare
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


def test_keys_a_model_without_decodes_lacks_are_left_out():
    """The control derives nothing intact: its rows carry no derived share and no kept share."""
    loss = Effect(0.1, None, None, 3)
    row = CrossCondition("z blocked", loss, derived_clean=0.0)
    assert row.to_json() == {"condition": "z blocked", "loss": {"value": 0.1, "ci_low": None, "ci_high": None,
                                                                 "n": 3}, "derived_clean": 0.0}
    assert CrossCondition.from_json(row.to_json()) == row
    head = HeadAblation(1, 2, zero=Ablation(loss), mean=Ablation(loss, kept=Effect(0.4, 0.2, 0.6, 5)))
    assert "kept" not in head.to_json()["zero"] and HeadAblation.from_json(head.to_json()) == head
    assert not head.needed  # zeroing it decodes nothing to keep
    assert HeadAblation(1, 2, zero=Ablation(loss, kept=Effect(0.4, 0.2, 0.6, 5)), mean=Ablation(loss)).needed
    assert "head" not in PatchShare(1, float("nan"), None, None, 0).to_json()
    assert PatchShare(1, float("nan"), None, None, 0).to_json()["value"] is None  # nan is JSON's null
