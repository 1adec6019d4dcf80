"""Evaluation: per-equation records and the per-tier summary."""

from physdocs.benchmark import get_equation
from physdocs.evaluation import EvalConfig, best_decoder, run_evaluation, summarise


def row(model, decoder, tier, r2, exact, seconds=1.0):
    return {"model": model, "decoder": decoder, "tier": tier, "r2_test": r2, "exact": exact, "seconds": seconds}


def test_summary_fractions_per_tier_and_overall():
    rows = [
        row("trained", "ar", "trivial", 0.999, True),
        row("trained", "ar", "trivial", 0.5, False),
        row("trained", "ar", "simple", None, False),
        row("trained", "diffusion", "trivial", 0.995, False),
    ]
    s = {(r["decoder"], r["tier"]): r for r in summarise(rows)}
    assert s[("ar", "trivial")]["r2_gt_099"] == 0.5 and s[("ar", "trivial")]["exact"] == 0.5
    assert s[("ar", "simple")]["r2_gt_099"] == 0.0  # a rejected prediction counts as a miss
    assert s[("ar", "all")]["n"] == 3
    assert s[("diffusion", "all")]["r2_gt_099"] == 1.0
    assert best_decoder(summarise(rows)) == "diffusion"


def test_run_evaluation_on_a_tiny_model(tiny_weights):
    cfg = EvalConfig(weights=str(tiny_weights), limit=2, workers=1, n_samples=2, beam_size=2, restarts=1)
    doc = run_evaluation(cfg, progress=False)
    assert len(doc["results"]) == 2 * 2 * 2  # models x equations x decoders
    assert {r["id"] for r in doc["results"]} == {"feynman_001", "feynman_002"}
    assert doc["meta"]["weights_sha256"] and doc["meta"]["benchmark_sha256"]
    for r in doc["results"]:
        assert r["status"] in ("valid", "repaired", "rejected")
        assert r["seconds"] >= 0
    assert get_equation("feynman_001").tier == "trivial"
