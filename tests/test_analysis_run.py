"""The analysis run on a few equations with a tiny random checkpoint."""

import json

import numpy as np
import pytest

from physdocs.analysis import causal as K
from physdocs.analysis.run import COMPONENTS, AnalysisConfig, AnalysisError, run_analysis
from physdocs.results.analysis import Results
from tests.conftest import assert_runs_clean

IDS = ("feynman_001", "feynman_046", "feynman_101")


@pytest.fixture(scope="module")
def causal_artifact(tiny_weights, tmp_path_factory):
    """The causal interventions for the tiny weights on IDS, as `physdocs causal` ships them (quick settings)."""
    from physdocs.analysis.causal_artifact import compute_causal, write_causal

    cfg = K.CausalConfig(weights=str(tiny_weights), argmax=1, samples=1, steps=3, n_boot=20, n_perm=20,
                         random_heads=1, levels=(0.5,))
    return write_causal(compute_causal(cfg, equation_ids=IDS, progress=lambda line: None),
                        tmp_path_factory.mktemp("causal") / "causal.json")


@pytest.fixture(scope="module")
def analysis(tiny_weights, causal_artifact):
    return run_analysis(AnalysisConfig(equation_ids=IDS, weights=str(tiny_weights), n_boot=50, n_perm=50,
                                       causal=str(causal_artifact)))


def test_results_are_plain_json_and_complete(analysis):
    results, arrays = analysis
    json.dumps(results, allow_nan=False)
    assert [e["id"] for e in results["equations"]] == list(IDS)
    for eq in results["equations"]:
        for model in ("trained", "control"):
            assert set(eq["models"][model]["entropy"]) == set(COMPONENTS)
    from physdocs.analysis.findings import REGISTRY

    # every registered finding is computed (the tiny checkpoint runs every stage)
    assert [c["key"] for c in results["claims"]] == [f.key for f in REGISTRY]
    assert all(isinstance(c["holds"], bool) and "Tested against" in c["verdict"] for c in results["claims"])
    causal = results["causal"]
    assert set(causal["models"]) == {"trained", "control"} and causal["per_equation"] == {}  # arrays: findings only
    for model in causal["models"].values():
        assert [r["name"] for r in model["cross"]] == [*K.CONDITIONS, K.RESAMPLED]
        assert len(model["heads"]) == 2 * 2 * 4  # self and cross, 2 layers x 4 heads of the tiny model
    assert Results.from_json(results).to_json() == results  # the records write back what they read


def test_arrays_are_trimmed_attention_rows(analysis):
    results, arrays = analysis
    n = len(results["equations"][0]["tokens"])
    cross = arrays["trained/feynman_001/diffuser.cross"]
    assert cross.shape == (4, n, 51)
    np.testing.assert_allclose(cross.sum(-1), 1.0, rtol=1e-4)
    dec = arrays["trained/feynman_001/decoder.self"]
    assert dec.shape == (4, n, n) and np.allclose(np.triu(dec, 1), 0)
    assert arrays["trained/feynman_001/encoder.isab1.mab1"].shape == (4, 16, 50)


def test_single_slot_memory_is_computed_constant(analysis):
    results, _ = analysis
    assert results["single_slot"]["max_abs_deviation_from_one"] == 0.0
    assert results["single_slot"]["n_keys"] == 1


def test_uniform_rows_in_tier_table_are_length_matched(analysis):
    results, _ = analysis
    rows = [r for r in results["tiers"]["entropy"] if r["model"] == "uniform" and r["component"] == "diffuser.cross"]
    assert rows and all(r["nats"] == pytest.approx(np.log(51), rel=1e-3) for r in rows)


def test_the_operators_together_have_a_row_of_their_own(analysis):
    """The findings group binary and unary operators: the tier table carries that group, with
    the two types' shares added (uniform and received alike) before the ratio is taken."""
    results, _ = analysis
    rows = {(r["tier"], r["model"], r["component"], r["type"]): r for r in results["tiers"]["token_type"]}
    merged = [k for k in rows if k[3] == "operator"]
    assert merged
    for tier, model, comp, _ in merged:
        parts = [rows.get((tier, model, comp, t)) for t in ("binary", "unary")]
        got = sum(p["received"] for p in parts if p)
        base = sum(p["uniform_share"] for p in parts if p)
        row = rows[(tier, model, comp, "operator")]
        assert row["received"] == pytest.approx(got, abs=2e-4) and row["uniform_share"] == pytest.approx(base, abs=2e-4)
        assert row["ratio"] == pytest.approx(got / base, rel=2e-3)


def test_deterministic(tiny_weights, analysis, causal_artifact):
    again, _ = run_analysis(AnalysisConfig(equation_ids=IDS, weights=str(tiny_weights), n_boot=50, n_perm=50,
                                           causal=str(causal_artifact)))
    first = dict(analysis[0]["meta"])
    for doc in (first, again["meta"]):
        doc.pop("seconds")
    assert again["claims"] == analysis[0]["claims"]
    assert again["equations"] == analysis[0]["equations"]


def test_unknown_equation_is_named(tiny_weights):
    with pytest.raises(AnalysisError, match="feynman_777"):
        run_analysis(AnalysisConfig(equation_ids=("feynman_777",), weights=str(tiny_weights)))


def test_the_analysis_reaches_neither_the_evaluation_nor_training():
    """Layers: the analysis reads the benchmark's points (physdocs.points), never the
    evaluation, and nothing it imports, directly or through another module, is training."""
    code = (
        "import sys, physdocs.analysis.run, physdocs.analysis.causal, physdocs.points; "
        "from physdocs.benchmark import load_benchmark; "
        "physdocs.points.equation_points(load_benchmark()[0], 2026, 50, 20); "
        "bad = [m for m in sys.modules if m.startswith(('physdocs.training', 'physdocs.evaluation', "
        "'physdocs.probes'))]; print(*bad); sys.exit(bool(bad))"
    )
    assert_runs_clean(code)


def test_records_and_evidence_need_no_torch():
    code = ("import sys, physdocs.analysis.records, physdocs.results.analysis, physdocs.trajectory; "
            "sys.exit('torch' in sys.modules)")
    assert_runs_clean(code)
