"""Figure jobs: the seed's index, real rendering, the pooled renderer."""

from __future__ import annotations

import pytest

from physdocs.benchmark import get_equation
from physdocs.report import figures as F
from physdocs.results.analysis import Results
from tests.report_fakes import FakeAnalysisConfig, synthetic_run

# ----------------------------------------------------------------- figures


def test_figure_jobs_follow_the_seed_index():
    cfg = FakeAnalysisConfig(equation_ids=("feynman_001", "feynman_021", "feynman_046", "feynman_002"))
    results, arrays = synthetic_run(cfg)
    seed_only = {j.path for j in F.figure_jobs(Results.from_json(results), arrays, "seed-only")}
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
    jobs = F.figure_jobs(Results.from_json(results), arrays, "all")
    paths = {j.path for j in jobs}
    assert not any(p.startswith("figures/equations/") for p in paths)  # drawn in HTML by the pages
    assert "figures/head_importance.png" in paths
    cross = next(j for j in jobs if j.path.endswith("feynman_001_diffuser_cross_attn.png"))
    assert cross.kwargs["key_labels"][-1] == "z" and cross.kwargs["key_labels"][0] == "p1"
    assert cross.kwargs["query_labels"] == get_equation("feynman_001").tokens


def test_real_rendering_of_seed_maps():
    pytest.importorskip("physdocs.plots.attention")
    results, arrays = synthetic_run(FakeAnalysisConfig(equation_ids=("feynman_001",)))
    jobs = [j for j in F.figure_jobs(Results.from_json(results), arrays, "all") if F.plot_name(j.plot).startswith("attention.")]
    jobs = [j for j in jobs if "diffuser_self" in j.path]
    out = F.render_jobs(jobs, workers=1)
    assert set(out) == {j.path for j in jobs}
    assert all(png.startswith(b"\x89PNG") for png in out.values())


@pytest.mark.slow
def test_pooled_rendering_matches_serial(monkeypatch):
    pytest.importorskip("physdocs.plots.attention")
    cfg = FakeAnalysisConfig(equation_ids=("feynman_001", "feynman_002"))
    results, arrays = synthetic_run(cfg)
    jobs = [j for j in F.figure_jobs(Results.from_json(results), arrays, "seed-only") if "self_attn" in j.path]
    assert len(jobs) >= 2
    monkeypatch.setattr(F, "POOL_MIN_JOBS", 2)
    assert F.render_jobs(jobs, workers=2) == F.render_jobs(jobs, workers=1)
