"""Evaluation: per-equation records, the per-tier summary, first guess against refined, probes."""

import json
from pathlib import Path

import numpy as np
import pytest

from physdocs import probes
from physdocs.benchmark import get_equation
from physdocs.decoding.refine import RefineConfig
from physdocs.evaluation import (
    EvalConfig,
    best_decoder,
    exposure_stratum,
    generalisation,
    run_evaluation,
    summarise,
    summarise_synthetic,
)
from physdocs.grammar import parse_infix
from physdocs.intervals import rate_with_interval, wilson_interval
from physdocs.points import NOISE, equation_points, shifted_box


def row(model, decoder, tier, r2, exact, seconds=1.0, first=None):
    first = first if first is not None else (r2, exact)
    return {"model": model, "decoder": decoder, "tier": tier, "r2_test": r2, "exact": exact, "seconds": seconds,
            "status": "valid", "first": {"r2_test": first[0], "exact": first[1]}}


def test_summary_fractions_per_tier_and_overall():
    rows = [
        row("trained", "ar", "trivial", 0.999, True),
        row("trained", "ar", "trivial", 0.5, False),
        row("trained", "ar", "simple", None, False),
        row("trained", "diffusion", "trivial", 0.995, False, first=(0.3, False)),
    ]
    s = {(r["decoder"], r["tier"]): r for r in summarise(rows)}
    assert s[("ar", "trivial")]["r2_gt_099"] == 0.5 and s[("ar", "trivial")]["exact"] == 0.5
    assert s[("ar", "simple")]["r2_gt_099"] == 0.0  # a rejected prediction counts as a miss
    assert s[("ar", "all")]["n"] == 3
    assert s[("diffusion", "all")]["r2_gt_099"] == 1.0
    assert s[("diffusion", "all")]["first_r2_gt_099"] == 0.0  # refinement is credited apart
    assert best_decoder(summarise(rows)) == "diffusion"


def test_synthetic_summary_separates_seen_and_held_out():
    rows = [
        {"decoder": "ar", "split": "train", "r2_test": 0.999, "exact": True, "first": {"r2_test": 0.999, "exact": True}},
        {"decoder": "ar", "split": "heldout", "r2_test": 0.2, "exact": False, "first": {"r2_test": None, "exact": False}},
    ]
    s = {r["split"]: r for r in summarise_synthetic(rows)}
    assert s["train"]["r2_gt_099"] == 1.0 and s["heldout"]["r2_gt_099"] == 0.0


def test_run_evaluation_on_a_tiny_model(tiny_weights):
    cfg = EvalConfig(weights=str(tiny_weights), limit=2, workers=1, n_samples=2, beam_size=2, ar_samples=2,
                     restarts=1, refine=RefineConfig(rounds=1, parents=1, proposals=2), synthetic_per_split=1,
                     parts=("benchmark", "synthetic"))
    doc = run_evaluation(cfg, progress=False)
    assert len(doc["results"]) == 2 * 2 * 2  # models x equations x decoders, original boxes
    variants = doc["variants"]["results"]
    assert sorted((r["variant"], r["id"], r["decoder"]) for r in variants) == sorted(
        (v, e, d) for v in ("shifted", "noisy") for e in ("feynman_001", "feynman_002") for d in ("ar", "diffusion"))
    groups = {(r["decoder"], r["variant"], r["by"], r["group"]) for r in doc["variants"]["summary"]}
    assert ("ar", "shifted", "all", "all") in groups and ("diffusion", "noisy", "variables", "1-2") in groups
    assert {r["id"] for r in doc["results"]} == {"feynman_001", "feynman_002"}
    assert doc["meta"]["weights_sha256"] and doc["meta"]["benchmark_sha256"]
    for r in doc["results"]:
        assert r["status"] in ("valid", "repaired", "rejected")
        assert r["seconds"] >= 0 and "first" in r
    assert {r["split"] for r in doc["synthetic"]["results"]} == {"train", "heldout"}
    assert len(doc["audit"]["equations"]) == 120
    assert get_equation("feynman_001").tier == "trivial"
    json.dumps(doc, allow_nan=False)
    again = run_evaluation(cfg, progress=False)  # the budget is counted, so a seed repeats exactly
    assert again["summary"] == doc["summary"]
    assert [r["prediction"] for r in again["results"]] == [r["prediction"] for r in doc["results"]]


def test_synthetic_cases_are_fresh_and_on_their_side_of_the_split():
    from physdocs.training.generator import skeleton_split

    for split in probes.SPLITS:
        a = probes.synthetic_case(split, 0, 2026)
        assert skeleton_split(a.skeleton) == split
        assert a.tokens == probes.synthetic_case(split, 0, 2026).tokens
        assert a.support.x.shape[0] == 50 and a.test.x.shape[0] == 200


def test_memorisation_audit_counts_training_draws(tmp_path):
    from physdocs.benchmark import load_benchmark
    from physdocs.training.generator import SkeletonIndex

    eqs = load_benchmark()
    key = SkeletonIndex.from_benchmark().key_by_id["feynman_001"]
    path = tmp_path / "counts.json"
    path.write_text(json.dumps({"samples": 1000, "counts": {key: 7}}))
    audit = probes.memorisation_audit(eqs, path)
    first = audit["equations"][0]
    assert first["id"] == "feynman_001" and first["training_draws"] == 7 and first["split"] == "train"
    assert audit["training_samples"] == 1000
    assert probes.memorisation_audit(eqs, None)["equations"][0]["training_draws"] is None


@pytest.mark.parametrize(
    ("prediction", "expected"),
    [("3*x1*x2", "x1*x2"), ("x1/x2", "x1/x2"), ("(x1+x2)/2", "x1+x2"), ("x1*x2 + 1", "other"),
     ("x1*x2**2", "other")],
)
def test_grid_classifies_up_to_a_constant_factor(prediction, expected):
    names = {f"x{i}": f"x{i}" for i in range(1, 10)}
    x = np.random.default_rng(0).uniform(1, 5, size=(50, 2))
    assert probes.classify(parse_infix(prediction, names), (), 2, x) == expected


def test_confusion_counts_each_cell():
    rows = [{"decoder": "ar", "n_vars": 2, "shape": "x1*x2", "final": "x1*x2", "first": "other"},
            {"decoder": "ar", "n_vars": 2, "shape": "x1/x2", "final": "x1*x2", "first": "x1/x2"}]
    table = probes.confusion(rows, "ar")[2]
    labels = table["labels"]
    assert table["counts"][0][labels.index("x1*x2")] == 1 and table["counts"][1][labels.index("x1*x2")] == 1
    assert probes.confusion(rows, "ar", "first")[2]["counts"][1][labels.index("x1/x2")] == 1


def test_gplearn_program_becomes_a_tree_and_is_matched():
    pytest.importorskip("gplearn")
    from physdocs.baselines import GPConfig, program_to_tree, run_gplearn

    x = np.random.default_rng(0).uniform(1, 5, (50, 2))
    xt = np.random.default_rng(1).uniform(1, 5, (80, 2))
    names = {f"x{i}": f"x{i}" for i in range(1, 10)}
    truth = parse_infix("x1*x2", names)
    row = run_gplearn(x, x[:, 0] * x[:, 1], xt, xt[:, 0] * xt[:, 1], truth, seed=0,
                      cfg=GPConfig(population_size=200, generations=5))
    assert row["r2_test"] is not None and set(row["first"]) == {"prediction", "r2_test", "exact", "source"}

    class F:
        def __init__(self, name, arity):
            self.name, self.arity = name, arity

    tree, consts = program_to_tree([F("add", 2), F("inv", 1), 0, F("mul", 2), 1.5, 1])
    assert str(tree) and consts == (1.5,)
    from physdocs.grammar import evaluate

    v = evaluate((tree,), np.array([[2.0, 4.0]]), consts).values
    assert v[0] == pytest.approx(1 / 2.0 + 1.5 * 4.0)


def test_evaluation_runs_the_baseline_beside_the_decoders(tiny_weights):
    pytest.importorskip("gplearn")
    from physdocs.baselines import GPConfig

    cfg = EvalConfig(weights=str(tiny_weights), limit=1, workers=1, n_samples=2, beam_size=2, ar_samples=2,
                     restarts=1, refine=None, models=("trained",), parts=("benchmark",), baselines=("gplearn",),
                     gp=GPConfig(population_size=100, generations=2))
    doc = run_evaluation(cfg, progress=False)
    assert {(r["model"], r["decoder"]) for r in doc["results"]} == {
        ("trained", "ar"), ("trained", "diffusion"), ("baseline", "gplearn")}
    assert any(r["model"] == "baseline" and r["tier"] == "all" for r in doc["summary"])


# ------------------------------------------------------------------ generalisation


@pytest.mark.parametrize(("k", "n", "low", "high"), [(0, 30, 0.0, 0.1135), (30, 30, 0.8865, 1.0), (15, 30, 0.3315, 0.6685)])
def test_wilson_interval_matches_the_closed_form(k, n, low, high):
    lo, hi = wilson_interval(k, n)
    assert lo == pytest.approx(low, abs=1e-4) and hi == pytest.approx(high, abs=1e-4)
    with pytest.raises(ValueError, match="successes"):
        wilson_interval(5, 3)


def test_rate_with_interval_counts_successes():
    r = rate_with_interval([True, False, True, True])
    assert (r["n"], r["k"], r["rate"]) == (4, 3, 0.75) and r["low"] < 0.75 < r["high"]


def test_shifted_boxes_move_by_decades_and_stay_finite():
    eq = get_equation("feynman_010")
    box = shifted_box(eq, 2026)
    assert box is not None
    again = shifted_box(eq, 2026)
    assert np.array_equal(box[0], again[0]) and np.array_equal(box[1], again[1])  # seeded
    own_low = np.array([v.low for v in eq.variables])
    own_width = np.array([v.high - v.low for v in eq.variables])
    factor = box[0] / own_low
    assert np.all((factor >= 0.01) & (factor <= 100)) and not np.allclose(factor, 1)
    widen = (box[1] - box[0]) / (own_width * factor)
    assert np.all((widen >= 1) & (widen <= 4))
    support, _ = equation_points(eq, 2026, 50, 200, "shifted")
    assert np.all(np.isfinite(support.y))
    assert np.all(support.x >= box[0]) and np.all(support.x <= box[1])


def test_noisy_variant_perturbs_only_the_support_target():
    eq = get_equation("feynman_010")
    clean, test = equation_points(eq, 2026, 50, 200)
    noisy, test_n = equation_points(eq, 2026, 50, 200, "noisy")
    assert np.array_equal(clean.x, noisy.x) and np.array_equal(test.y, test_n.y)
    rel = noisy.y / clean.y - 1
    assert 0.5 * NOISE < np.std(rel) < 2 * NOISE


def test_generalisation_strata_use_the_training_draws():
    audit = [{"id": "a", "training_draws": 0}, {"id": "b", "training_draws": 5}, {"id": "c", "training_draws": 4000}]
    rows = [{"model": "trained", "decoder": "ar", "variant": "original", "id": i, "tier": "trivial", "n_vars": n,
             "r2_test": r2, "exact": r2 > 0.99} for i, n, r2 in (("a", 1, 0.5), ("b", 3, 0.999), ("c", 6, 1.0))]
    out = {(r["by"], r["group"]): r for r in generalisation(rows, audit)}
    assert out[("exposure", "never drawn")]["r2_gt_099"]["k"] == 0
    assert out[("exposure", "1,000+ draws")]["r2_gt_099"]["k"] == 1
    assert out[("variables", "5-9")]["r2_gt_099"]["n"] == 1 and out[("all", "all")]["r2_gt_099"]["k"] == 2
    assert exposure_stratum(None) is None and exposure_stratum(999) == "1-999 draws"


def test_the_pipeline_and_operon_alone_share_points_budget_and_credit(tiny_weights):
    from physdocs.decoding.operon import OperonConfig
    from physdocs.decoding.search import SearchConfig

    tiny = SearchConfig(beam_size=2, ar_samples=2, n_samples=2, restarts=1, n_seeds=2,
                        operon=OperonConfig(max_evaluations=1_000, generations=3, population_size=30))
    cfg = EvalConfig(weights=str(tiny_weights), limit=2, workers=1, parts=("pipeline",),
                     baselines=("operon", "operon-3x", "pipeline-units"), search=tiny, models=("trained",))
    doc = run_evaluation(cfg, progress=False)
    by = {(r["decoder"], r["id"]): r for r in doc["results"]}
    assert {d for d, _ in by} == {"pipeline", "model", "operon", "operon-3x", "pipeline-units"}
    assert all("groups" in by[("pipeline-units", eq)]["counts"]["units"] for eq in ("feynman_001", "feynman_002"))
    for eq in ("feynman_001", "feynman_002"):  # three times Operon's own evaluations, the same extra
        extra = by[("operon", eq)]["counts"]["operon"]["max_evaluations"] - tiny.operon.max_evaluations
        assert by[("operon-3x", eq)]["counts"]["operon"]["max_evaluations"] == 3 * tiny.operon.max_evaluations + extra
    for eq in ("feynman_001", "feynman_002"):
        assert by[("pipeline", eq)]["first"]["prediction"] == by[("model", eq)]["prediction"]
        # the model alone is timed as its own stage of the search, not given the whole run's seconds
        stage = by[("pipeline", eq)]["counts"]["model_seconds"]
        assert by[("model", eq)]["seconds"] == stage < by[("pipeline", eq)]["seconds"]
        assert by[("operon", eq)]["counts"]["operon"]["max_evaluations"] > tiny.operon.max_evaluations
        assert by[("pipeline", eq)]["true_size"] == by[("operon", eq)]["true_size"] > 0
    methods = {r["method"] for r in doc["credit"]}
    assert {"model alone", "Operon alone", "Operon alone, 3× budget", "model + Operon"} <= methods
    assert {(r["tier"], r["r2_gt_099"]["n"]) for r in doc["credit"]} == {("trivial", 2), ("all", 2)}
    assert best_decoder(doc["summary"]) is None  # no ar/diffusion rows: the pipeline is not a decoder


def test_the_method_registry_is_whole():
    """Every method has one key, one label and one look; its runner exists; the evaluation
    and the command line accept exactly the registry's baselines and decoders."""
    from physdocs import methods
    from physdocs.cli import build_parser
    from physdocs.evaluation import RUNNERS

    keys = [m.key for m in methods.REGISTRY]
    assert len(set(keys)) == len(keys)
    assert len({m.label for m in methods.REGISTRY}) == len(keys)
    assert len({(m.model, m.decoder) for m in methods.REGISTRY}) == len(keys)
    assert len({(m.colour, m.marker) for m in methods.REGISTRY}) == len(keys)
    assert all(m.runner is None or m.runner == "decoder" or m.runner in RUNNERS for m in methods.REGISTRY)
    assert set(methods.BASELINES) == {"operon", "operon-3x", "pipeline-units", "gplearn"} and set(methods.DECODERS) == {"ar", "diffusion"}
    EvalConfig(baselines=methods.BASELINES, decoders=methods.DECODERS)
    with pytest.raises(ValueError, match="baselines"):
        EvalConfig(baselines=("pysr",))
    args = build_parser().parse_args(["evaluate", *[a for b in methods.BASELINES for a in ("--baseline", b)]])
    assert tuple(args.baseline) == methods.BASELINES


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
@pytest.mark.parametrize("eq_id", ["feynman_001", "feynman_047", "feynman_048"])
def test_the_shipped_rows_are_reproduced_one_equation_at_a_time(eq_id):
    """Each equation's randomness comes from its own id, so one equation re-run alone (as
    ``--tier``/``--limit`` run it) gives the shipped evaluation's predictions exactly."""
    import torch

    from physdocs.evaluation import evaluate_equation, pipeline_row
    from physdocs.evaluation.jobs import cpu_model
    from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint, sha256

    shipped = json.loads((Path(__file__).resolve().parents[1] / "physdocs/data/evaluation.json").read_text())
    assert shipped["meta"]["weights_sha256"] == sha256(DEFAULT_WEIGHTS), "evaluation.json is for other weights"
    rows = {(r["model"], r["decoder"]): r for r in shipped["results"] if r["id"] == eq_id}
    torch.set_num_threads(1)  # as the evaluation's workers run
    model, eq, cfg = load_checkpoint(None).model, get_equation(eq_id), EvalConfig()
    for decoder in ("ar", "diffusion"):
        row = evaluate_equation(model, eq, decoder, cfg, "original")
        assert row["prediction"] == rows["trained", decoder]["prediction"], decoder
    # Operon's rows reproduce exactly only on the processor model that made them (cpu_model)
    if shipped["meta"].get("cpu") != cpu_model():
        pytest.skip(f"the pipeline and Operon rows were made on {shipped['meta'].get('cpu') or 'an unrecorded processor'}, "
                    f"not this {cpu_model()}: they reproduce exactly only there (the decoders' rows did)")
    assert pipeline_row(model, eq, cfg)["prediction"] == rows["trained", "pipeline"]["prediction"]
    assert pipeline_row(model, eq, cfg, alone=True)["prediction"] == rows["baseline", "operon"]["prediction"]
