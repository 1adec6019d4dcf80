"""The site build: cold and warm, the budget, evaluations, configuration, the real analysis."""

from __future__ import annotations

import importlib.util
import json
import re
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest

from physdocs.report import build, cache
from tests.report_fakes import ROOT, FakeAnalysisConfig, evaluation_json, fake_build_config, synthetic_run

# ----------------------------------------------------------------- build


def test_build_small_site_then_warm_rebuild(tmp_path, weights, fake_figures, monkeypatch):
    calls = []

    def run(cfg):
        calls.append(cfg)
        return synthetic_run(cfg)

    cfg = fake_build_config(tmp_path, weights)
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
    ):
        assert path in files, path
    assert isinstance(files["figures/attention_maps/encoder_isab_attention.png"], bytes)
    assert isinstance(files["index.md"], str)
    # The page draws its overview in HTML: four maps, each an embedded pixel image.
    page = files["equations/feynman_046.md"]
    assert page.count('<figure class="attention-map"') == 4
    assert page.count('src="data:image/png;base64,') == 4
    assert not any(p.startswith("figures/equations/") for p in files)

    # Warm: the entry's figure manifest names every PNG; no figure job is built.
    def no_jobs(*args, **kwargs):
        raise AssertionError("a warm build built figure jobs")

    with monkeypatch.context() as m:
        m.setattr(build.F, "figure_jobs", no_jobs)
        m.setattr(build, "overview_html", no_jobs)  # overview blocks come from the entry too
        m.setattr(build.X, "explorer_payload", no_jobs)
        second = build.build_site(cfg, run_fn=run)
    assert len(calls) == 1
    assert second.timings.cache_hit and second.timings.figures_rendered == 0
    assert second.timings.pages_cached and not first.timings.pages_cached
    assert second.files == files

    # Another figure set has no manifest yet: its jobs are built, and the PNGs they share are reused.
    seed_only = build.build_site(replace(cfg, figures="seed-only"), run_fn=run)
    assert seed_only.timings.figures_rendered == 0 and seed_only.timings.figures_cached > 0


def test_build_over_budget_warns_and_still_caches(tmp_path, weights, fake_figures):
    """A busy machine never fails the build: over budget, the pages are built, the analysis is
    cached for the next build, and the warning names the slow stage and the fix."""
    ticks = iter([0.0, 212.0] + [212.0] * 10)
    cfg = fake_build_config(tmp_path, weights, budget_seconds=180.0)
    site = build.build_site(cfg, run_fn=synthetic_run, clock=lambda: next(ticks))
    assert "index.md" in site.files
    assert re.search(r"took 212 s .* over the 180 s budget; the slow stage is the analysis", site.timings.over_budget)
    assert "cached" in site.timings.over_budget and "PHYSDOCS_EQUATIONS" in site.timings.over_budget
    assert build.build_site(cfg, run_fn=None).timings.cache_hit  # the next build reads what was computed


def test_build_over_budget_in_figures_names_them(tmp_path, weights, fake_figures):
    ticks = iter([0.0, 10.0, 10.0, 190.0] + [190.0] * 10)
    cfg = fake_build_config(tmp_path, weights, budget_seconds=180.0)
    site = build.build_site(cfg, run_fn=synthetic_run, clock=lambda: next(ticks))
    assert "figure rendering 180 s" in site.timings.over_budget and "slow stage is figure rendering" in \
        site.timings.over_budget
    within = build.build_site(replace(cfg, budget_seconds=1e6), run_fn=synthetic_run)
    assert within.timings.over_budget is None


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


def test_the_equal_time_comparison_is_shown_for_the_evaluations_weights(tmp_path, weights, fake_figures):
    """An equal-time file for the evaluation's weights is a table on the evaluation page; one for
    other weights, or none, is said not to have been run; a changed file renders the pages again."""
    from tests.evaluation_fakes import equal_time_json

    results, _ = synthetic_run(FakeAnalysisConfig())
    evaluation, equal_time = tmp_path / "evaluation.json", tmp_path / "equal_time.json"
    evaluation.write_text(json.dumps(evaluation_json(results)))
    cfg = fake_build_config(tmp_path, weights, evaluation_path=evaluation, equal_time_path=equal_time)
    not_run = "The equal-time comparison was not run for these weights"
    assert not_run in build.build_site(cfg, run_fn=synthetic_run).files["evaluation.md"]  # no file yet
    equal_time.write_text(json.dumps(equal_time_json(results["meta"]["weights_sha256"])))
    page = build.build_site(cfg, run_fn=synthetic_run).files["evaluation.md"]
    assert "## At equal time" in page and not_run not in page
    assert '<th colspan="3">our 2 equations</th><th colspan="3">2 held-out synthetic skeletons</th>' in page
    equal_time.write_text(json.dumps(equal_time_json("ff" * 32)))
    site = build.build_site(cfg, run_fn=synthetic_run)
    assert not site.timings.pages_cached and f"{not_run}: `physdocs/data/equal_time.json` was" in \
        site.files["evaluation.md"]
    equal_time.write_text('{"cpu_count": 2}')
    with pytest.raises(build.BuildError, match=r"equal_time.json is not an equal-time benchmark"):
        build.build_site(cfg, run_fn=synthetic_run)


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
    # the seed's numbers (random weights) appear only labelled as such, beside each finding
    findings = (site / "findings" / "index.html").read_text()
    assert "reported in the seed (random weights)" in findings.lower()
    # every figure on the built site opens full size: its <img> inside a link to the same PNG
    from tests.site_checks import figure_images, unlinked_figures

    built = {p.relative_to(site).as_posix(): p.read_text() for p in site.rglob("*.html")}
    assert not {path: bad for path, html in built.items() if (bad := unlinked_figures(html))}
    assert sum(len(figure_images(html)) for html in built.values()) >= 10
    # the maps' capture note stands once, on methodology, where the pages' links land
    methodology = built["methodology/index.html"]
    assert 'id="how-these-maps-were-captured"' in methodology
    assert 'href="../methodology/#how-these-maps-were-captured"' in built["decoder/index.html"]
    assert "assets/tablesort.js" in built["equations/index.html"] and (site / "bibliography" / "index.html").is_file()


def test_pages_are_rendered_again_when_a_template_changes(tmp_path, monkeypatch):
    from physdocs.report import render

    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES_DIR, templates)
    monkeypatch.setattr(build, "TEMPLATES_DIR", templates)
    before = build._templates_digest()
    (templates / "index.md.j2").write_text("changed\n")
    assert build._templates_digest() != before
