"""Every figure the report draws is legible at the content width, and its legends match its marks.

The checks (``tests/figure_checks.py``) run on every figure job of a synthetic build with an
evaluation, and on figures with a defect planted, so that they are shown to fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Patch

from physdocs.plots.style import CONTENT_WIDTH_IN, MIN_TEXT_PT, new_figure, style_context
from physdocs.report import figures as F
from physdocs.results.analysis import Results
from tests.figure_checks import legend_mismatches, too_small
from tests.report_fakes import FakeAnalysisConfig, evaluation_json, synthetic_run

# short, long and multi-step equations: the widest maps and trajectories the seed draws
EQUATIONS = ("feynman_001", "feynman_021", "feynman_046", "feynman_048", "feynman_101")


def _training_log() -> list[dict]:
    return [{"kind": "train", "step": s, "ar_loss": 2.0 / (s + 1), "diff_loss": 3.0 / (s + 1), "lr": 1e-3}
            for s in range(0, 60, 10)] + [
        {"kind": "val", "step": s, "ar_loss": 2.1, "diff_loss": 3.1, "ar_token_acc": 0.5,
         "diff_token_acc": 0.4, "ar_loss_shuffled": 2.6, "diff_real_loss": 3.0, "diff_real_loss_shuffled": 3.4}
        for s in (20, 40)]


def _grid() -> dict:
    table = {"shapes": ["x1*x2", "x1/x2", "x1 + x2"], "labels": ["x1*x2", "x1/x2", "x1 + x2", "other"],
             "counts": [[2, 0, 0, 0], [1, 1, 0, 0], [0, 0, 1, 1]]}
    return {"confusion": {d: {"final": {"2": table, "3": table}, "first": {"2": table}} for d in ("ar", "diffusion")}}


@pytest.fixture(scope="module")
def jobs():
    results, arrays = synthetic_run(FakeAnalysisConfig(equation_ids=EQUATIONS))
    results["evaluation"] = {**evaluation_json(results), "grid": _grid()}
    results["training_log"] = _training_log()
    return F.figure_jobs(Results.from_json(results), arrays, "all")


def test_the_jobs_cover_every_kind_of_figure(jobs):
    names = {F.plot_name(j.plot) for j in jobs}
    assert {"attention.attention_heads", "attention.encoder_maps", "trajectory.trajectory",
            "aggregate.entropy_by_tier", "aggregate.token_type_attention", "aggregate.head_importance",
            "aggregate.training_curves", "accuracy.accuracy_by_method", "summary.summary_figure",
            "accuracy.capability_grid", "accuracy.data_dependence"} <= names


@pytest.mark.slow
def test_every_figure_is_legible_and_its_legends_match_its_marks(jobs):
    problems = {}
    for job in jobs:
        fig = job.plot(**job.kwargs)
        bad = too_small(fig)[:3] + legend_mismatches(fig)
        if bad or fig.get_figwidth() > CONTENT_WIDTH_IN + 1e-6:
            problems[job.path] = (round(float(fig.get_figwidth()), 2), bad)
    assert not problems


def test_one_figure_of_each_kind_is_legible_and_its_legends_match(jobs):
    """The default run's share of the slow test above: the first job of each plot."""
    seen, problems = set(), {}
    for job in jobs:
        name = F.plot_name(job.plot)
        if name in seen:
            continue
        seen.add(name)
        fig = job.plot(**job.kwargs)
        bad = too_small(fig)[:3] + legend_mismatches(fig)
        if bad or fig.get_figwidth() > CONTENT_WIDTH_IN + 1e-6:
            problems[job.path] = (round(float(fig.get_figwidth()), 2), bad)
    assert len(seen) >= 11 and not problems


# ----------------------------------------------------------------- the checks can fail


def test_small_text_is_found_and_a_wide_figure_shrinks_its_text():
    with style_context():
        fig = new_figure(4.0, 3.0)
        ax = fig.subplots()
        ax.set_title("fine", fontsize=10)
        ax.text(0.5, 0.5, "tiny", fontsize=6)
    assert [t for t, _ in too_small(fig)] == ["tiny"]
    with style_context():
        wide = new_figure(2 * CONTENT_WIDTH_IN, 3.0)
        wide.subplots().set_title("ten points, halved", fontsize=10)
    assert ("ten points, halved", 5.0) in too_small(wide)
    assert MIN_TEXT_PT == 8.0


def test_a_legend_that_does_not_match_its_marks_is_found():
    """The old accuracy figure's defect: the legend taken from another panel, its colours wrong."""
    with style_context():
        fig = new_figure(6.0, 3.0)
        left, right = fig.subplots(1, 2)
        left.bar([0, 1], [1, 2], color="#0072B2", label="trained")
        left.bar([0.4, 1.4], [1, 2], color="#E69F00", hatch="///", label="control")
        right.bar([0, 1], [1, 2], color="#E69F00", label="trained")  # the same label, another colour
        right.legend()
    assert not legend_mismatches(fig)  # 'trained' is drawn orange somewhere: the legend is not wrong yet
    with style_context():
        fig = new_figure(6.0, 3.0)
        ax = fig.subplots()
        ax.bar([0, 1], [1, 2], color="#E69F00", label="control")
        ax.plot([0, 1], [1, 2], color="#0072B2", marker="o", label="trained")
        ax.legend(handles=[Patch(facecolor="#0072B2", label="control"),
                           Patch(facecolor="#E69F00", hatch="///", label="trained, exact")])
    found = legend_mismatches(fig)
    assert any("'control'" in f for f in found)
    assert any("'trained, exact'" in f for f in found)


def test_a_matching_legend_passes():
    with style_context():
        fig = new_figure(6.0, 3.0)
        ax = fig.subplots()
        ax.errorbar([0, 1], [0.5, 0.6], yerr=[[0.1, 0.1], [0.1, 0.1]], fmt="o", color="#0072B2", label="a")
        ax.plot(np.arange(3), np.arange(3), color="#D55E00", linestyle="--", label="b")
        ax.bar([0, 1], [1, 2], color="#009E73", hatch="///", label="c")
        ax.legend()
    assert legend_mismatches(fig) == []
