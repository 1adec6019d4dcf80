"""Tests for physdocs.report: cache, rendering, pages and the site build.

Most tests use a synthetic analysis (``synthetic_run``) that follows the results contract of
``physdocs.analysis.run.run_analysis`` without a model; figures are faked unless a test is
about rendering them.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path

import jinja2
import numpy as np
import pytest

from physdocs.benchmark import get_equation
from physdocs.grammar import token_type
from physdocs.report import build, cache, pages, render
from physdocs.report import figures as F

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = tuple(pages.COMPONENT_NAMES)
HOSTILE = '<script>alert("x")</script> [link](javascript:alert(1)) {: onclick=alert(1) } | *em*'


@dataclass(frozen=True)
class FakeAnalysisConfig:
    """Stands in for ``AnalysisConfig``: same role, no torch."""

    seed: int = 2026
    equation_ids: tuple[str, ...] | None = ("feynman_001", "feynman_046")
    weights: str | None = None
    n_boot: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def _shape(component: str, n_tok: int) -> tuple[int, int]:
    return {
        "encoder.isab1.mab1": (16, 50),
        "encoder.isab1.mab2": (50, 16),
        "encoder.isab2.mab1": (16, 50),
        "encoder.isab2.mab2": (50, 16),
        "encoder.pma": (1, 50),
        "diffuser.self": (n_tok, n_tok),
        "diffuser.cross": (n_tok, 51),
        "decoder.self": (n_tok, n_tok),
        "decoder.cross": (n_tok, 51),
    }[component]


def _trajectory(tokens: list[str], rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    width = len(tokens) + 3
    final = tokens + ["PAD"] * 3
    rows = [["BOS"] + ["MASK"] * (width - 1)]
    for step in range(1, 4):
        k = step * width // 3
        rows.append(final[:k] + ["MASK"] * (width - k))
    conf = rng.uniform(0.2, 1.0, size=(len(rows), width))
    conf[0] = np.nan
    traj = {
        "tokens": rows,
        "confidence": [[None if math.isnan(c) else round(float(c), 5) for c in r] for r in conf],
        "final": final,
        "status": "ok",
        "flicker_rate": 0.0,
    }
    return traj, conf.astype(np.float32)


def synthetic_run(cfg: FakeAnalysisConfig, *, names: dict[str, str] | None = None, value: float = 0.123456):
    """Results and arrays shaped like ``run_analysis`` output; ``value`` marks every statistic."""
    rng = np.random.default_rng(cfg.seed)
    ids = cfg.equation_ids or ("feynman_001",)
    records, arrays = [], {}
    for eq_id in ids:
        eq = get_equation(eq_id)
        models = {}
        for m_i, model in enumerate(("trained", "control")):
            models[model] = {
                "entropy": {c: {"nats": value + m_i, "normalised": value / 2} for c in COMPONENTS},
                "head_entropy": {c: [[value] * 4] * 4 for c in COMPONENTS},
                "received_by_type": {"diffuser.self": {"binary": value}, "decoder.self": {"binary": value}},
                "inducing_specialisation": value,
            }
            traj, conf = _trajectory(eq.tokens, rng)
            models[model]["trajectory"] = traj
            arrays[f"{model}/{eq_id}/trajectory_confidence"] = conf
            for c in COMPONENTS:
                q, k = _shape(c, len(eq.tokens))
                arrays[f"{model}/{eq_id}/{c}"] = rng.dirichlet(np.ones(k), size=(4, q)).astype(np.float32)
        records.append(
            {
                "id": eq.id,
                "name": (names or {}).get(eq.id, eq.name),
                "tier": eq.tier,
                "output": eq.output,
                "formula": eq.formula,
                "latex": eq.latex,
                "tokens": eq.tokens,
                "token_types": [token_type(t) for t in eq.tokens],
                "models": models,
            }
        )
    tiers = sorted({r["tier"] for r in records})
    entropy_rows = [
        {
            "tier": t,
            "model": model,
            "component": c,
            "nats": value,
            "normalised": value,
            "nats_ci": [value / 2, value * 2],
            "normalised_ci": [value / 2, value * 2],
        }
        for t in tiers
        for model in ("trained", "control", "uniform")
        for c in COMPONENTS
    ]
    type_rows = [
        {
            "tier": t,
            "model": model,
            "component": c,
            "type": "binary",
            "received": value,
            "uniform_share": value,
            "ratio": value,
        }
        for t in tiers
        for model in ("trained", "control")
        for c in ("diffuser.self", "decoder.self")
    ]
    claims = [
        {
            "key": key,
            "title": f"Claim {key}",
            "statistic_name": "Spearman rho",
            "value": value,
            "ci_low": value / 2,
            "ci_high": value * 2,
            "p_value": value / 10,
            "control_value": -value,
            "control_name": "random-initialised model",
            "holds": i % 2 == 0,
            "verdict": f"Holds: claim {key} (Spearman rho = {render.fmt(value)}).",
            "seed_reported": "1.778 nats (random weights)",
            "n": len(ids),
            "n_unit": "equations",
            "min_effect": 0.1,
            "min_effect_reason": "a small correlation",
            "p_text": f"p = {render.fmt(value / 10)}",
        }
        for i, key in enumerate(("inducing_specialisation", "entropy_tier_nats", "coarse_to_fine"))
    ]
    results = {
        "meta": {
            "weights": "physdiffuser.safetensors",
            "weights_sha256": "ab" * 32,
            "seed": cfg.seed,
            "n_equations": len(ids),
            "seconds": {"total": value},
            "trained_meta": {},
            "seed_entropy_by_tier": {"trivial": 1.778, "moderate": 2.327},
        },
        "equations": records,
        "tiers": {"entropy": entropy_rows, "token_type": type_rows},
        "claims": claims,
        "head_importance": {"trained": {"diffuser.self": [[value] * 4] * 4}},
        "single_slot": {"max_abs_deviation_from_one": 0.0, "n_maps": 16},
        "evaluation": None,
        "training_log": [],
    }
    return results, arrays


def evaluation_json(results: dict, sha: str | None = None, value: float = 0.654321) -> dict:
    rows = []
    for eq in results["equations"]:
        for decoder in ("diffusion", "ar"):
            rows.append(
                {
                    "id": eq["id"],
                    "tier": eq["tier"],
                    "model": "trained",
                    "decoder": decoder,
                    "prediction": "x1*x2",
                    "latex": "m c",
                    "status": "ok",
                    "constants": [],
                    "r2_test": value,
                    "exact": False,
                    "seconds": value,
                }
            )
    summary = [
        {
            "model": "trained",
            "decoder": d,
            "tier": t,
            "n": 2,
            "r2_gt_099": value,
            "exact": value,
            "median_r2": value,
            "mean_seconds": value,
        }
        for d in ("diffusion", "ar")
        for t in ("trivial", "all")
    ]
    meta = {
        "weights_sha256": sha or results["meta"]["weights_sha256"],
        "benchmark_sha256": "cd" * 32,
        "seed": 2026,
        "decoders": ["diffusion", "ar"],
        "seconds_total": value,
    }
    return {"meta": meta, "results": rows, "summary": summary}


def fake_render(jobs, workers=2):
    return {job.path: f"PNG {job.path}".encode() for job in jobs}


@pytest.fixture
def fake_figures(monkeypatch):
    monkeypatch.setattr(F, "render_jobs", fake_render)


@pytest.fixture
def weights(tmp_path) -> Path:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights-v1")
    return path


def _build_cfg(tmp_path, weights, **kw) -> build.BuildConfig:
    analysis = FakeAnalysisConfig(weights=str(weights))
    return build.BuildConfig(analysis=analysis, cache_dir=tmp_path / "cache", evaluation_path=None, **kw)


# ----------------------------------------------------------------- cache


def test_cache_key_tracks_weights_config_and_source(tmp_path, weights, monkeypatch):
    cfg = FakeAnalysisConfig(weights=str(weights)).to_dict()
    key = cache.cache_key(cfg, weights)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert cache.cache_key(cfg, weights) == key

    weights.write_bytes(b"weights-v2")
    assert cache.cache_key(cfg, weights) != key
    weights.write_bytes(b"weights-v1")
    assert cache.cache_key(cfg, weights) == key

    assert cache.cache_key({**cfg, "n_boot": 11}, weights) != key

    # a package source file: point the key at a copy of the package and edit one module
    pkg = tmp_path / "physdocs"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "weights"))
    monkeypatch.setattr(cache, "PACKAGE_DIR", pkg)
    base = cache.cache_key(cfg, weights)
    assert base == key
    with open(pkg / "report" / "render.py", "a") as f:
        f.write("\n# edited\n")
    assert cache.cache_key(cfg, weights) != base


def test_cache_key_ignores_templates_and_tracks_referenced_files(tmp_path, weights, monkeypatch):
    cfg = FakeAnalysisConfig(weights=str(weights)).to_dict()
    key = cache.cache_key(cfg, weights)
    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES_DIR, templates)
    (templates / "index.md.j2").write_text("changed\n")
    monkeypatch.setattr(render, "TEMPLATES_DIR", templates)
    assert cache.cache_key(cfg, weights) == key

    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n')
    with_log = cache.cache_key({**cfg, "training_log": str(log)}, weights)
    log.write_text('{"step": 2}\n')
    assert cache.cache_key({**cfg, "training_log": str(log)}, weights) != with_log


def test_cache_key_tracks_library_versions(weights, monkeypatch):
    cfg = FakeAnalysisConfig(weights=str(weights)).to_dict()
    key = cache.cache_key(cfg, weights)
    monkeypatch.setattr(cache, "library_versions", lambda: {"python": "0", "torch": "0"})
    assert cache.cache_key(cfg, weights) != key


def test_prune_keeps_the_newest_entries(tmp_path):
    import os

    for i, key in enumerate(("a", "b", "c")):
        path = cache.write_entry(tmp_path, key, {"i": i}, {})
        os.utime(path, (1000 + i, 1000 + i))
    removed = cache.prune(tmp_path, keep=2)
    assert [p.name for p in removed] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"]


def test_write_entry_failure_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        cache.write_entry(tmp_path, "k" * 64, {"x": float("nan")}, {})
    assert list(tmp_path.iterdir()) == []


def test_figure_digest_depends_on_data():
    a = np.zeros((2, 3), dtype=np.float32)
    d = cache.figure_digest("attention.attention_heads", 300, {"attn": a, "title": "t"})
    assert d == cache.figure_digest("attention.attention_heads", 300, {"attn": a.copy(), "title": "t"})
    assert d != cache.figure_digest("attention.attention_heads", 80, {"attn": a, "title": "t"})
    b = a.copy()
    b[0, 0] = 1
    assert d != cache.figure_digest("attention.attention_heads", 300, {"attn": b, "title": "t"})


# ----------------------------------------------------------------- render


def test_format_filters():
    assert render.fmt(0.123456) == "0.123"
    assert render.fmt(2.909) == "2.91"
    assert render.fmt(-1.5e-7) == "-1.50e-07"
    assert render.fmt(12) == "12"
    assert render.fmt(None) == render.fmt(float("nan")) == "—"
    assert render.pct(0.1234) == "12.3%"
    assert render.ci([0.1, 0.25]) == "[0.100, 0.250]"
    assert render.ci([None, 1.0]) == "—"


def test_strict_undefined_fails(tmp_path):
    (tmp_path / "t.md.j2").write_text("value {{ missing|fmt }}\n")
    env = render.make_environment(tmp_path)
    with pytest.raises(jinja2.UndefinedError):
        render.render("t.md.j2", env, present=1)
    (tmp_path / "u.md.j2").write_text("{{ row.nats }}\n")
    with pytest.raises(jinja2.UndefinedError):
        render.render("u.md.j2", env, row={"normalised": 1.0})


def test_hostile_strings_are_escaped(tmp_path):
    (tmp_path / "t.md.j2").write_text(
        "# {{ name }}\n\n| a |\n|---|\n| {{ name }} |\n<td>{{ name|html }}</td>\n"
    )
    out = render.render("t.md.j2", render.make_environment(tmp_path), name=HOSTILE)
    assert "<script>" not in out
    assert "&lt;script&gt;" in out
    markdown = out.split("<td>")[0]
    escaped = re.sub(r"&#?\w+;", "", str(render.md_escape(HOSTILE + " a_b #c `d`")))  # drop entities
    assert not re.search(r"(?<!\\)[{}\[\]*|_#`<>]", escaped)
    assert "&#34;" in markdown and "&\\#" not in markdown
    assert render.html("<b>") == "&lt;b&gt;"
    with pytest.raises(ValueError, match="unsafe link"):
        render.url("javascript:alert(1)")
    with pytest.raises(ValueError, match="cannot appear inside page math"):
        render.tex("x $ <script>")
    assert render.code("a|b<") == "<code>a&#124;b&lt;</code>"


def test_hostile_name_stays_text_through_markdown(tmp_path):
    md = pytest.importorskip("markdown")
    (tmp_path / "t.md.j2").write_text("# {{ name }}\n\n| a |\n|---|\n| {{ name }} |\n")
    out = render.render("t.md.j2", render.make_environment(tmp_path), name=HOSTILE)
    page = md.markdown(out, extensions=["attr_list", "tables", "toc"])
    tags = re.findall(r"<(\w+)([^>]*)>", page)
    assert {name for name, _ in tags} <= {"h1", "table", "thead", "tbody", "tr", "th", "td"}
    assert [attrs for _, attrs in tags if attrs] == [f' id="{re.search(r"id=.(.*?).>", page)[1]}"']
    assert page.count("<td>") == 1


def test_hostile_equation_name_in_built_pages(tmp_path, weights, fake_figures):
    names = {"feynman_001": HOSTILE}
    cfg = _build_cfg(tmp_path, weights)
    files = build.build_site(cfg, run_fn=lambda c: synthetic_run(c, names=names)).files
    for path, text in files.items():
        if path.endswith(".md"):
            assert "<script>" not in text, path
            assert not re.search(r"(?<!\\)\{: onclick", text), path
    assert "&lt;script&gt;" in files["equations/feynman_001.md"]


# ----------------------------------------------------------------- pages


_DECIMAL = re.compile(r"(?<![\w.])-?\d+\.\d+(?:e[+-]\d+)?")


def _formatted_values(obj, out: set[str]) -> set[str]:
    if isinstance(obj, dict):
        for v in obj.values():
            _formatted_values(v, out)
    elif isinstance(obj, list | tuple):
        for v in obj:
            _formatted_values(v, out)
    elif isinstance(obj, float):
        out.update([render.fmt(obj), render.pct(obj).rstrip("%")])
    elif isinstance(obj, str):
        out.update(_DECIMAL.findall(obj))
    return out


def test_pages_show_only_numbers_from_results():
    results, _ = synthetic_run(FakeAnalysisConfig())
    results = {**results, "evaluation": evaluation_json(results)}
    from physdocs.benchmark import get_equation

    variables = {i: [{"name": v.name, "token": v.token, "meaning": v.meaning, "low": v.low, "high": v.high}
                     for v in get_equation(i).variables] for i in ("feynman_001", "feynman_046")}
    rendered = pages.render_pages(results, figures=set(), variables=variables)
    allowed = _formatted_values(results, set()) | _formatted_values(variables, set())
    allowed.add("0.99")  # the recovery threshold, a definition
    assert "0.123" in rendered["findings.md"] and "0.654" in rendered["evaluation.md"]
    for path, text in rendered.items():
        stray = set(_DECIMAL.findall(text)) - allowed
        assert not stray, f"{path} shows numbers not in the results: {sorted(stray)}"


def test_pages_render_expected_content():
    results, _ = synthetic_run(FakeAnalysisConfig())
    rendered = pages.render_pages(results, figures={F.ENTROPY_PATH})
    expected = set(pages.SECTION_PAGES) | {"equations/feynman_001.md", "equations/feynman_046.md"}
    assert set(rendered) == expected
    index = rendered["index.md"]
    assert "reported in the seed (random weights)" in index.lower()
    assert "Not evaluated yet" in index and "Not evaluated yet" in rendered["evaluation.md"]
    assert "| trivial |" in rendered["entropy-scaling.md"]
    assert "1.78" in rendered["entropy-scaling.md"]  # the seed's column, from results meta
    assert "attention_entropy_by_tier.png" in rendered["diffuser-self-attention.md"]
    assert "token_type_attention.png" not in rendered["evidence.md"]  # not in this build
    assert "{: #entropy_tier_nats }" in rendered["findings.md"]
    assert "largest deviation of any weight" in rendered["cross-attention.md"]
    page = rendered["equations/feynman_046.md"]
    assert "$$" in page and "\\frac" in page
    assert "| 3 |" in page  # trajectory steps


def test_evaluation_tables_when_evaluated():
    results, _ = synthetic_run(FakeAnalysisConfig())
    results = {**results, "evaluation": evaluation_json(results)}
    rendered = pages.render_pages(results, figures=set())
    assert "Not evaluated yet" not in rendered["evaluation.md"]
    assert "trained model, ar decoder" in rendered["evaluation.md"]
    assert "0.654" in rendered["index.md"]
    assert "R², trained diffusion" in rendered["equations/index.md"]
    assert "$m c$" in rendered["equations/feynman_001.md"]


# ----------------------------------------------------------------- figures


def test_figure_jobs_follow_the_seed_index():
    cfg = FakeAnalysisConfig(equation_ids=("feynman_001", "feynman_021", "feynman_046", "feynman_002"))
    results, arrays = synthetic_run(cfg)
    seed_only = {j.path for j in F.figure_jobs(results, arrays, "seed-only")}
    expected = {
        f"figures/attention_maps/{i}_{m}.png"
        for i in ("feynman_001", "feynman_021", "feynman_046")
        for m in ("diffuser_self_attn", "diffuser_cross_attn", "decoder_self_attn", "decoder_cross_attn")
    } | {
        "figures/attention_maps/trajectory_feynman_021.png",
        "figures/attention_maps/encoder_isab_attention.png",
        "figures/attention_maps/attention_entropy_by_tier.png",
        "figures/attention_maps/token_type_attention.png",
    }
    assert seed_only == expected
    jobs = F.figure_jobs(results, arrays, "all")
    paths = {j.path for j in jobs}
    assert {f"figures/equations/{i}.png" for i in cfg.equation_ids} <= paths
    assert "figures/head_importance_trained.png" in paths
    assert all(j.dpi == F.DPI_PRINT for j in jobs if j.path.startswith(F.SEED_DIR))
    cross = next(j for j in jobs if j.path.endswith("feynman_001_diffuser_cross_attn.png"))
    assert cross.kwargs["key_labels"][-1] == "z" and cross.kwargs["key_labels"][0] == "p1"
    assert cross.kwargs["query_labels"] == get_equation("feynman_001").tokens


def test_plot_constants_match_the_plots_package():
    style = pytest.importorskip("physdocs.plots.style")
    assert (style.DPI_PRINT, style.DPI_WEB) == (F.DPI_PRINT, F.DPI_WEB)


def test_real_rendering_of_seed_maps():
    pytest.importorskip("physdocs.plots.attention")
    results, arrays = synthetic_run(FakeAnalysisConfig(equation_ids=("feynman_001",)))
    jobs = [j for j in F.figure_jobs(results, arrays, "all") if F.plot_name(j.plot).startswith("attention.")]
    jobs = [j for j in jobs if "diffuser_self" in j.path or j.path.startswith("figures/equations/")]
    out = F.render_jobs(jobs, workers=1)
    assert set(out) == {j.path for j in jobs}
    assert all(png.startswith(b"\x89PNG") for png in out.values())


@pytest.mark.slow
def test_pooled_rendering_matches_serial(monkeypatch):
    pytest.importorskip("physdocs.plots.attention")
    cfg = FakeAnalysisConfig(equation_ids=("feynman_001", "feynman_002"))
    results, arrays = synthetic_run(cfg)
    jobs = [F.overview_job(eq, arrays) for eq in results["equations"]]
    monkeypatch.setattr(F, "POOL_MIN_JOBS", 2)
    assert F.render_jobs(jobs, workers=2) == F.render_jobs(jobs, workers=1)


# ----------------------------------------------------------------- build


def test_build_small_site_then_warm_rebuild(tmp_path, weights, fake_figures):
    calls = []

    def run(cfg):
        calls.append(cfg)
        return synthetic_run(cfg)

    cfg = _build_cfg(tmp_path, weights)
    first = build.build_site(cfg, run_fn=run)
    assert not first.timings.cache_hit and first.timings.figures_rendered > 0
    files = first.files
    for path in (
        "index.md",
        "findings.md",
        "entropy-scaling.md",
        "equations/index.md",
        "equations/feynman_001.md",
        "figures/attention_maps/feynman_001_diffuser_self_attn.png",
        "figures/attention_maps/feynman_046_decoder_cross_attn.png",
        "figures/attention_maps/encoder_isab_attention.png",
        "figures/equations/feynman_046.png",
    ):
        assert path in files, path
    assert isinstance(files["figures/equations/feynman_046.png"], bytes)
    assert isinstance(files["index.md"], str)

    second = build.build_site(cfg, run_fn=run)
    assert len(calls) == 1
    assert second.timings.cache_hit and second.timings.figures_rendered == 0
    assert second.files == files


def test_build_over_budget_raises_and_writes_nothing(tmp_path, weights, fake_figures):
    ticks = iter([0.0, 212.0] + [212.0] * 10)
    cfg = _build_cfg(tmp_path, weights, budget_seconds=180.0)
    with pytest.raises(build.BuildError, match=r"took 212 s .* over the 180 s budget.*Fix:"):
        build.build_site(cfg, run_fn=synthetic_run, clock=lambda: next(ticks))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_build_over_budget_in_figures(tmp_path, weights, fake_figures):
    ticks = iter([0.0, 100.0, 100.0, 190.0] + [190.0] * 10)
    cfg = _build_cfg(tmp_path, weights, budget_seconds=180.0)
    with pytest.raises(build.BuildError, match="figure rendering 90 s"):
        build.build_site(cfg, run_fn=synthetic_run, clock=lambda: next(ticks))
    assert not (tmp_path / "cache").exists() or not any((tmp_path / "cache").iterdir())


def test_evaluation_for_other_weights_fails(tmp_path, weights, fake_figures):
    results, _ = synthetic_run(FakeAnalysisConfig())
    path = tmp_path / "evaluation.json"
    path.write_text(json.dumps(evaluation_json(results, sha="ff" * 32)))
    cfg = build.BuildConfig(
        analysis=FakeAnalysisConfig(weights=str(weights)), cache_dir=tmp_path / "c", evaluation_path=path
    )
    with pytest.raises(
        build.BuildError, match=r"evaluation.json is for other weights: run `nox -s evaluate`"
    ):
        build.build_site(cfg, run_fn=synthetic_run)
    path.write_text(json.dumps(evaluation_json(results)))
    files = build.build_site(cfg, run_fn=synthetic_run).files
    assert "figures/accuracy_by_tier.png" in files
    assert "Not evaluated yet" not in files["evaluation.md"]


def test_config_from_env():
    cfg = build.config_from_env(
        {
            "PHYSDOCS_EQUATIONS": "feynman_001, feynman_046",
            "PHYSDOCS_BUDGET": "60",
            "PHYSDOCS_CACHE_DIR": "/tmp/x",
        },
        analysis_factory=FakeAnalysisConfig,
    )
    assert cfg.analysis.equation_ids == ("feynman_001", "feynman_046")
    assert cfg.budget_seconds == 60.0 and cfg.cache_dir == Path("/tmp/x") and cfg.figures == "all"
    assert build.config_from_env({}, analysis_factory=FakeAnalysisConfig).analysis == FakeAnalysisConfig()
    with pytest.raises(build.BuildError, match="PHYSDOCS_BUDGET"):
        build.config_from_env({"PHYSDOCS_BUDGET": "soon"}, analysis_factory=FakeAnalysisConfig)
    with pytest.raises(build.BuildError, match="PHYSDOCS_FIGURES"):
        build.config_from_env({"PHYSDOCS_FIGURES": "some"}, analysis_factory=FakeAnalysisConfig)


def test_write_mode(tmp_path):
    (tmp_path / "index.md").write_text("# hand-written\n")
    assert build.write_mode("index.md", "generated", tmp_path) == "a"
    assert build.write_mode("findings.md", "generated", tmp_path) == "w"
    assert build.write_mode("figures/x.png", b"png", tmp_path) == "wb"


def test_reference_pages_list_every_module():
    from physdocs.report.reference import reference_pages

    ref = reference_pages(["physdocs.grammar", "physdocs.report.build"])
    assert ref["reference/physdocs.grammar.md"] == "# `physdocs.grammar`\n\n::: physdocs.grammar\n"
    assert "(physdocs.report.build.md)" in ref["reference/index.md"]


# ----------------------------------------------------------------- with the real analysis

run_module = importlib.util.find_spec("physdocs.analysis.run")


@pytest.mark.skipif(run_module is None, reason="physdocs.analysis.run has not landed yet")
def test_two_equation_site_from_the_real_analysis(tmp_path, tiny_weights, fake_figures, monkeypatch):
    """A 2-equation analysis of a tiny random checkpoint, through the build, cold then warm."""
    from physdocs.analysis.run import AnalysisConfig

    # key the cache on a snapshot of the source, so edits made meanwhile do not miss the cache
    snapshot = tmp_path / "physdocs"
    shutil.copytree(cache.PACKAGE_DIR, snapshot, ignore=shutil.ignore_patterns("__pycache__", "weights"))
    monkeypatch.setattr(cache, "PACKAGE_DIR", snapshot)
    analysis = AnalysisConfig(
        equation_ids=("feynman_001", "feynman_046"),
        weights=str(tiny_weights),
        n_boot=50,
        n_perm=50,
        head_importance=False,
    )
    cfg = build.BuildConfig(analysis=analysis, cache_dir=tmp_path / "c", evaluation_path=None)
    cold = build.build_site(cfg)
    assert not cold.timings.cache_hit
    files = cold.files
    assert "figures/attention_maps/feynman_046_diffuser_cross_attn.png" in files
    assert "figures/attention_maps/encoder_isab_attention.png" in files
    assert "equations/feynman_046.md" in files
    assert "Not evaluated yet" in files["evaluation.md"]
    assert "| trivial |" in files["entropy-scaling.md"]
    warm = build.build_site(cfg)
    assert warm.timings.cache_hit and warm.timings.figures_rendered == 0
    assert warm.files == files


@pytest.mark.slow
@pytest.mark.skipif(run_module is None, reason="physdocs.analysis.run has not landed yet")
def test_mkdocs_build_strict_small(tmp_path, tiny_weights):
    """``mkdocs build --strict`` of a 2-equation site: real analysis (tiny random model), figures, pages."""
    mkdocs = Path(sys.executable).with_name("mkdocs")
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DISABLE_MKDOCS_2_WARNING": "true",
        "NO_MKDOCS_2_WARNING": "1",
        "PHYSDOCS_EQUATIONS": "feynman_001,feynman_046",
        "PHYSDOCS_WEIGHTS": str(tiny_weights),
        "PHYSDOCS_CACHE_DIR": str(tmp_path / "cache"),
    }
    site = tmp_path / "site"
    out = subprocess.run(
        [str(mkdocs), "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    assert (site / "figures" / "attention_maps" / "feynman_001_diffuser_self_attn.png").is_file()
    assert (site / "equations" / "feynman_046" / "index.html").is_file()
    home = (site / "index.html").read_text()
    assert "reported in the seed (random weights)" in home.lower()
