"""Every figure the report draws is legible at the content width, keeps its text inside the
canvas and apart, names every colour it draws, and compares models on one scale.

The checks (``tests/figure_checks.py``) run on every figure job of a synthetic build with an
evaluation, and on figures with a defect planted, so that they are shown to fail.
"""

from __future__ import annotations

import numpy as np
import pytest
from matplotlib.patches import Patch

from physdocs.plots.style import (
    CONTENT_WIDTH_IN,
    MIN_TEXT_PT,
    TYPE_CMAP,
    TYPE_COLOURS,
    mark_compared,
    new_figure,
    panel_grid,
    style_context,
)
from physdocs.report import figures as F
from physdocs.results.analysis import Results
from tests.figure_checks import (
    every_problem,
    legend_mismatches,
    overlapping_texts,
    text_outside_canvas,
    too_small,
    unlabelled_colours,
    unmarked_comparisons,
    unshared_scales,
)
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
    trained = results["head_importance"]["trained"]  # the control beside it, twenty times weaker
    results["head_importance"]["control"] = {c: (np.asarray(v) * 0.05).tolist() for c, v in trained.items()}
    return F.figure_jobs(Results.from_json(results), arrays, "all")


def test_the_jobs_cover_every_kind_of_figure(jobs):
    names = {F.plot_name(j.plot) for j in jobs}
    assert {"attention.attention_heads", "attention.encoder_maps", "trajectory.trajectory",
            "aggregate.entropy_by_tier", "aggregate.token_type_attention", "aggregate.head_importance",
            "aggregate.training_curves", "accuracy.accuracy_by_method", "summary.summary_figure",
            "accuracy.capability_grid", "accuracy.data_dependence"} <= names


@pytest.mark.slow
def test_every_figure_passes_every_check(jobs):
    problems = {}
    for job in jobs:
        bad = every_problem(job.plot(**job.kwargs))
        if bad:
            problems[job.path] = bad[:5]
    assert not problems


def test_one_figure_of_each_kind_passes_every_check(jobs):
    """The default run's share of the slow test above: the first job of each plot."""
    seen, problems = set(), {}
    for job in jobs:
        name = F.plot_name(job.plot)
        if name in seen:
            continue
        seen.add(name)
        bad = every_problem(job.plot(**job.kwargs))
        if bad:
            problems[job.path] = bad[:5]
    assert len(seen) >= 11 and not problems


def test_the_figures_that_compare_models_are_checked_for_one_scale(jobs):
    """The scale check is not vacuous: the figures that put the trained model beside its control
    mark their panels, and the check reads two models in each."""
    from tests.figure_checks import _compared

    for path in (F.TOKEN_TYPE_PATH, F.HEAD_IMPORTANCE_PATH):
        job = next(j for j in jobs if j.path == path)
        groups = _compared(job.plot(**job.kwargs))
        assert groups and all(set(by_model) == {"trained", "control"} for by_model in groups.values()), path


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


def _two_panels(titles=("left", "right")):
    with style_context():
        fig = new_figure(6.0, 3.0)
        axes = fig.subplots(1, 2)
        for ax, title in zip(axes, titles, strict=True):
            ax.set_title(title)
            ax.set_xticks([])  # no tick labels to crowd each other at the corners
            ax.set_yticks([])
    return fig, axes


def test_a_legend_cut_off_at_the_edge_is_found():
    """The old entropy figure's defect: a legend below the panel, its last entry past the canvas."""
    with style_context():
        fig = new_figure(4.0, 4.0, constrained=False)
        fig.subplots_adjust(bottom=0.5)
        ax = fig.subplots()
        for i in range(14):
            ax.plot([0, 1], [i, i + 1], label=f"series {i}")
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.15), ncol=1)
    found = text_outside_canvas(fig)
    assert any("'series 13'" in f for f in found) and not any("'series 0'" in f for f in found)
    with style_context():  # the same legend, placed by the layout outside the axes: inside the canvas
        fig = new_figure(4.0, 3.0)
        ax = fig.subplots()
        for i in range(8):
            ax.plot([0, 1], [i, i + 1], label=f"series {i}")
        fig.legend(loc="outside lower center", ncol=4)
    assert text_outside_canvas(fig) == []


def test_a_title_cut_off_is_found():
    with style_context():
        fig, (ax,) = panel_grid(1, 1, 1.5, 1.5, left=0.3, right=0.3, bottom=0.3, top=0.3, wgap=0, hgap=0)
        ax.set_title("a panel title much wider than its narrow figure")
    assert text_outside_canvas(fig)
    with style_context():
        fig, (ax,) = panel_grid(1, 1, 1.5, 1.5, left=0.3, right=0.3, bottom=0.3, top=0.3, wgap=0, hgap=0,
                                title="a figure title much wider than its narrow figure, broken into lines")
        ax.set_xticks([0.2, 0.8])
        ax.set_yticks([0.2, 0.8])
    assert text_outside_canvas(fig) == [] and overlapping_texts(fig) == []


def test_overlapping_titles_are_found():
    """The old encoder figure's defect: neighbouring panels' long titles run into each other."""
    long = "encoder ISAB 1, MAB1 (inducing points ← observations)"
    fig, _ = _two_panels((long, long.replace("MAB1", "MAB2")))
    assert any("MAB1" in f and "MAB2" in f for f in overlapping_texts(fig))
    fig, _ = _two_panels(("ISAB 1, MAB1", "ISAB 1, MAB2"))
    assert overlapping_texts(fig) == []


def test_rotated_labels_overlap_only_when_their_glyphs_do():
    """Rotated tick labels have overlapping boxes but apart glyphs: only real crowding counts."""
    labels = ["trivial", "simple", "moderate", "complex", "multi-step"]
    with style_context():
        fig = new_figure(3.0, 2.5)
        ax = fig.subplots()
        ax.set_xticks(range(5), labels, rotation=40, ha="right")
    assert overlapping_texts(fig) == []
    with style_context():
        fig = new_figure(3.0, 2.5)
        ax = fig.subplots()
        ax.set_xticks(np.arange(5) * 0.15, labels, rotation=40, ha="right")
        ax.set_xlim(0, 10)  # the five labels crowded into a tenth of the axis
    assert overlapping_texts(fig)


def test_compared_panels_on_different_scales_are_found():
    """The old head-importance defect: the control's map on +-0.02, the trained model's on +-0.4."""
    def maps(control_top):
        fig, axes = _two_panels(("trained model", "random-initialised control"))
        for ax, model, top in zip(axes, ("trained", "control"), (0.4, control_top), strict=True):
            mark_compared(ax, model, "head importance")
            ax.imshow(np.linspace(-top, top, 16).reshape(4, 4), cmap="PuOr_r", vmin=-top, vmax=top)
        return fig

    assert any("head importance" in f for f in unshared_scales(maps(0.02)))
    assert unshared_scales(maps(0.4)) == []

    def bars(sharey):
        with style_context():
            fig = new_figure(6.0, 3.0)
            axes = fig.subplots(1, 2, sharey=sharey)
            for ax, model, h in zip(axes, ("trained", "control"), (2.0, 1.0), strict=True):
                mark_compared(ax, model, "received")
                ax.bar([0, 1], [h, h / 2])
        return fig

    assert unshared_scales(bars(False)) and unshared_scales(bars(True)) == []


def test_a_panel_naming_a_model_must_be_marked_as_compared():
    """A comparison that forgets its mark would escape the scale check: the title gives it away."""
    fig, axes = _two_panels(("diffuser, trained model", "diffuser, random-initialised control"))
    assert len(unmarked_comparisons(fig)) == 2
    mark_compared(axes[0], "trained", "q")
    mark_compared(axes[1], "control", "q")
    assert unmarked_comparisons(fig) == []


def test_a_category_colour_without_a_legend_entry_is_found():
    """The trajectory figure's defect: a constant drawn in its colour, with no 'constant' entry."""
    codes = np.array([[0, 2, 3], [0, 2, 2]])  # binary, variable, constant (TYPE_CMAP's order)

    def drawn(named):
        with style_context():
            fig = new_figure(4.0, 3.0)
            ax = fig.subplots()
            ax.imshow(codes, cmap=TYPE_CMAP, vmin=-0.5, vmax=TYPE_CMAP.N - 0.5)
            fig.legend(handles=[Patch(facecolor=TYPE_COLOURS[c], label=c) for c in named], loc="outside lower center")
        return fig

    found = unlabelled_colours(drawn(["binary", "variable"]))
    assert found == [f"colour {TYPE_COLOURS['constant'].lower()} (category 3) is drawn but no legend names it"]
    assert unlabelled_colours(drawn(["binary", "variable", "constant"])) == []


def test_the_shipped_training_log_draws_without_a_defect():
    # The real log has many legs, some short: their names once overlapped above the panel.
    import json

    from physdocs import plots
    from physdocs.models.checkpoint import DEFAULT_WEIGHTS, metrics_log

    records = [json.loads(line) for line in metrics_log(DEFAULT_WEIGHTS).read_text().splitlines() if line.strip()]
    assert every_problem(plots.training_curves(records)) == []
