"""Plots: every figure builds from small synthetic inputs and renders to deterministic PNG."""

import io
import struct

import numpy as np
import pytest
from matplotlib.figure import Figure

from physdocs import plots
from physdocs.plots import style
from physdocs.plots.trajectory import milestone_steps
from tests.conftest import assert_runs_clean

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TIERS = ("trivial", "simple", "moderate", "complex", "multi_step")
TOKENS = ["BOS", "mul", "x1", "pow", "x2", "2", "EOS"]
OBS = [f"p{i}" for i in range(1, 51)] + ["z"]
WEB_DPI = 40  # the smoke tests render small; resolution is tested once below


def softmax_maps(*shape: int, seed: int = 0) -> np.ndarray:
    x = np.random.default_rng(seed).normal(size=shape)
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def png_size(data: bytes) -> tuple[int, int]:
    """(width, height) from the IHDR chunk, which follows the signature."""
    assert data[:8] == PNG_SIGNATURE
    assert data[12:16] == b"IHDR"
    return struct.unpack(">II", data[16:24])


def renders(fig: Figure) -> bytes:
    assert isinstance(fig, Figure)
    data = plots.figure_png(fig, WEB_DPI)
    assert data.startswith(PNG_SIGNATURE)
    return data


def trajectory_inputs(n_steps: int = 8) -> tuple[list[list[str]], np.ndarray]:
    final = ["BOS", "add", "x1", "sin", "C", "EOS", "PAD", "PAD"]
    order = [3, 1, 4, 2]
    rows = []
    for step in range(n_steps + 1):
        row = ["BOS", "MASK", "MASK", "MASK", "MASK", "EOS", "PAD", "PAD"]
        for pos in order[: round(len(order) * step / n_steps)]:
            row[pos] = final[pos]
        rows.append(row)
    conf = np.random.default_rng(1).uniform(size=(n_steps + 1, len(final)))
    conf[0] = np.nan
    return rows, conf


def entropy_rows() -> list[dict]:
    rows = []
    for i, tier in enumerate(TIERS):
        for model in ("trained", "control", "uniform"):
            for comp in ("diffuser.self", "diffuser.cross", "decoder.self", "decoder.cross"):
                nats, norm = 1.5 + 0.3 * i, 0.8 - 0.05 * i
                rows.append(
                    {
                        "tier": tier,
                        "model": model,
                        "component": comp,
                        "nats": nats,
                        "normalised": norm,
                        "nats_ci": [nats - 0.1, nats + 0.1],
                        "normalised_ci": None if model == "uniform" else [norm - 0.02, norm + 0.03],
                    }
                )
    return rows


# --------------------------------------------------------------------------- style
def test_style_constants():
    assert style.DPI_PRINT == 300
    for key in ("binary", "unary", "variable", "constant", "special", "mask"):
        assert key in style.TYPE_COLOURS
    assert len(set(style.TYPE_COLOURS.values())) == len(style.TYPE_COLOURS)


def test_imports_neither_torch_nor_pyplot():
    code = (
        "import sys, physdocs.plots; "
        "bad = [m for m in ('torch', 'matplotlib.pyplot', 'physdocs.models') if m in sys.modules]; "
        "print(*bad); sys.exit(bool(bad))"
    )
    assert_runs_clean(code)


def test_figure_png_is_deterministic():
    maps = softmax_maps(4, 7, 7)
    a = plots.figure_png(plots.attention_heads(maps, TOKENS, TOKENS, "same"), WEB_DPI)
    b = plots.figure_png(plots.attention_heads(maps, TOKENS, TOKENS, "same"), WEB_DPI)
    assert a == b
    assert b"Software" not in a and b"matplotlib" not in a


def test_print_dpi_pixel_size():
    fig = style.new_figure(2.0, 1.5, constrained=False)
    fig.add_subplot().plot([0, 1], [0, 1])
    assert png_size(plots.figure_png(fig, style.DPI_PRINT)) == (600, 450)
    heads = plots.attention_heads(softmax_maps(2, 3, 3), TOKENS[:3], TOKENS[:3], "small")
    width, height = heads.get_size_inches() * style.DPI_PRINT
    w_px, h_px = png_size(plots.figure_png(heads, style.DPI_PRINT))
    assert abs(w_px - width) <= 1 and abs(h_px - height) <= 1


@pytest.mark.parametrize(
    ("n", "expected"),
    [(7, list(range(7))), (24, list(range(24))), (51, [0, 5, 10, 15, 20, 25, 30, 35, 40, 45, 50])],
)
def test_thinned_ticks(n, expected):
    labels = [f"p{i}" for i in range(n)]
    pos, lab = style.thinned_ticks(labels)
    assert pos == expected
    assert lab == [labels[i] for i in expected]


def test_type_category():
    assert [style.type_category(t) for t in ("MASK", "PAD", "BOS", "add", "sin", "x3", "C")] == [
        "mask", "pad", "special", "binary", "unary", "variable", "constant",
    ]  # fmt: skip


# --------------------------------------------------------------------------- attention
@pytest.mark.parametrize(("n_q", "keys"), [(7, TOKENS), (7, OBS)])
def test_attention_heads(n_q, keys):
    fig = plots.attention_heads(softmax_maps(4, n_q, len(keys)), TOKENS[:n_q], keys, "heads")
    renders(fig)
    heads = [ax for ax in fig.axes if ax.get_title().startswith("head")]
    assert len(heads) == 4
    assert heads[0].get_xlabel() == "key" and heads[0].get_ylabel() == "query"
    shown = [t.get_text() for t in heads[0].get_xticklabels()]
    assert len(shown) <= 30 and shown[-1] == keys[-1]


def test_attention_heads_rejects_wrong_labels():
    with pytest.raises(ValueError, match="key labels"):
        plots.attention_heads(softmax_maps(4, 7, 7), TOKENS, TOKENS[:-1], "bad")


def test_encoder_maps_draws_the_panels_it_is_given():
    from physdocs.analysis.metrics import induced_map

    mab1, mab2 = softmax_maps(4, 16, 50), softmax_maps(4, 50, 16, seed=1)
    panels = [
        ("ISAB 1 MAB1", mab1, "inducing points", "observations"),
        ("ISAB 1 MAB2", mab2, "observations", "inducing points"),
        ("PMA", softmax_maps(4, 1, 50, seed=4), "seed", "observations"),
        ("ISAB 1 induced", induced_map(mab1, mab2).mean(0), "observations", "observations"),
    ]
    fig = plots.encoder_maps(panels, "encoder")
    renders(fig)
    assert sum(1 for ax in fig.axes if ax.images) == 4
    first = next(ax for ax in fig.axes if ax.get_title().startswith("ISAB 1 MAB1"))
    assert (first.get_ylabel(), first.get_xlabel()) == ("inducing points", "observations")
    with pytest.raises(ValueError):
        plots.encoder_maps([], "none")


def test_pixel_png_has_one_pixel_per_cell_coloured_by_weight():
    from matplotlib.image import imread

    from physdocs.plots.pixels import gradient_stops, pixel_png
    from physdocs.plots.style import map_scale

    a = np.zeros((3, 5))
    a[1, 4] = 0.5  # the largest weight: the top of the scale
    a[2, 0] = np.nan  # transparent
    png = pixel_png(a)
    assert png.startswith(PNG_SIGNATURE) and png == pixel_png(a.copy())
    img = imread(io.BytesIO(png))  # [rows, cols, RGBA] floats
    assert img.shape == (3, 5, 4)
    assert img[2, 0, 3] == 0 and img[0, 0, 3] == 1
    stops = gradient_stops(2)
    assert "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in img[1, 4, :3])) == stops[-1]
    assert "#{:02x}{:02x}{:02x}".format(*(round(c * 255) for c in img[0, 0, :3])) == stops[0]
    assert map_scale(a) == 0.5 and map_scale(np.zeros((2, 2))) == 1.0
    with pytest.raises(ValueError, match="shape"):
        pixel_png(np.zeros((4,)))
    with pytest.raises(ValueError, match="vmax"):
        pixel_png(a, vmax=0.0)


# --------------------------------------------------------------------------- trajectory
def test_milestone_steps():
    assert milestone_steps(20) == [0, 5, 10, 15, 20]
    assert milestone_steps(2) == [0, 1, 2]


def test_trajectory_handles_nan_row_and_crops_pad():
    tokens, conf = trajectory_inputs()
    fig = plots.trajectory(tokens, conf, "trajectory")
    renders(fig)
    ax_tok = fig.axes[0]
    assert ax_tok.images[0].get_array().shape == (9, 6)  # cropped after EOS
    texts = [t.get_text() for t in ax_tok.texts]
    assert texts.count("BOS") == len(milestone_steps(8)) and "PAD" not in texts
    assert "sin" in texts and "MASK" in texts


def test_trajectory_rejects_mismatched_confidence():
    tokens, conf = trajectory_inputs()
    with pytest.raises(ValueError, match="confidence shape"):
        plots.trajectory(tokens, conf[:, :3], "bad")


# --------------------------------------------------------------------------- aggregate
def legend_texts(fig: Figure) -> list[str]:
    legends = [ax.get_legend() for ax in fig.axes if ax.get_legend()] + list(fig.legends)
    for sub in getattr(fig, "subfigs", []):
        legends += list(sub.legends)
    return [t.get_text() for lg in legends for t in lg.get_texts()]


def test_entropy_by_tier_with_seed_line():
    seed = {"trivial": 1.778, "simple": 2.255, "moderate": 2.327, "complex": 2.826, "multi_step": 2.909}
    fig = plots.entropy_by_tier(entropy_rows(), seed)
    renders(fig)
    assert any("reported in the seed" in t for t in legend_texts(fig))
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == [t.replace("_", "-") for t in TIERS]


def test_entropy_by_tier_without_seed():
    fig = plots.entropy_by_tier(entropy_rows())
    assert isinstance(fig, Figure)
    assert not any("reported in the seed" in t for t in legend_texts(fig))


def test_entropy_by_tier_draws_the_statistic_its_verdicts_rest_on():
    """Raw entropy rises with length: panel (d) draws the length-partialled statistic, the
    control's value and the band the verdict must leave, and names the verdict."""
    verdicts = [{"statistic_name": "partial Spearman rho(tier, entropy | length)", "outcome": "opposite",
                 "value": -0.4, "ci_low": -0.5, "ci_high": -0.3, "control_value": 0.02, "min_effect": 0.1,
                 "diff": -0.42, "diff_low": -0.55, "diff_high": -0.3}]
    fig = plots.entropy_by_tier(entropy_rows(), verdicts=verdicts)
    renders(fig)
    verdict_ax = fig.axes[-1]
    trained = [c for c in verdict_ax.containers if c.get_label() == "trained model"]
    assert trained and trained[0].lines[0].get_xdata()[0] == -0.4
    band = next(c for c in verdict_ax.containers if c.get_label() == "control ± the minimum effect")[0]
    assert band.get_x() == pytest.approx(-0.08) and band.get_width() == pytest.approx(0.2)
    assert "the opposite holds" in verdict_ax.get_yticklabels()[0].get_text()
    assert len(plots.entropy_by_tier(entropy_rows()).axes) == 3  # without verdicts: no panel (d)


def test_token_type_attention():
    rows = [
        {"tier": tier, "model": model, "component": "diffuser.self", "type": typ,
         "received": 0.3, "uniform_share": 0.25, "ratio": 1.2 if typ != "unary" or i > 1 else float("nan")}
        for i, tier in enumerate(TIERS)
        for model in ("trained", "control")
        for typ in ("binary", "unary", "variable", "constant", "operator")
    ]  # fmt: skip
    rows = [{**r, "ratio": 0.5} if r["model"] == "control" else r for r in rows]
    fig = plots.token_type_attention(rows)
    renders(fig)
    assert any("uniform" in t for t in legend_texts(fig))
    # the operators as the claim groups them: one line per tier with a ratio, not a bar
    trained = fig.axes[0]
    lines = [ln for ln in trained.lines if ln.get_color() == "black"]
    assert len(lines) == len(TIERS) and "operators (binary and unary together)" in legend_texts(fig)
    assert len(trained.patches) == 4 * len(TIERS) - 2  # binary, unary, variable, constant; unary nan twice
    # the control's panel keeps the trained panel's scale, though its bars are lower
    assert fig.axes[1].get_ylim() == trained.get_ylim()


@pytest.mark.parametrize(("shift", "cmap"), [(0.0, "viridis"), (3.0, "PuOr_r")])
def test_head_importance(shift, cmap):
    values = (np.arange(16).reshape(4, 4) - shift) * 0.01  # [layer, head]; shift 3: both signs
    control = values * 0.05  # twenty times weaker: it must look twenty times paler
    fig = plots.head_importance(
        {"trained": {"diffuser.self": values.tolist(), "decoder.cross": values.T.tolist()},
         "control": {"diffuser.self": control.tolist(), "decoder.cross": control.T.tolist()}}, "heads"
    )
    maps = [ax for ax in fig.axes if ax.images]
    assert len(maps) == 4 and maps[0].images[0].get_cmap().name == cmap
    assert len(maps[0].texts) == 16
    assert len({(ax.images[0].norm.vmin, ax.images[0].norm.vmax) for ax in maps}) == 1
    assert "random-initialised control" in maps[2].get_title()
    if shift:  # one render is enough
        renders(fig)


def test_training_curves():
    from physdocs.methods import BY_KEY
    from physdocs.results.analysis import LOG_LABELS

    records = [
        {"kind": "train", "step": s, "ar_loss": 3.0 / (s + 1), "diff_loss": 4.0 / (s + 1),
         "lr": 1e-3 * min(1.0, s / 10), "ar_token_acc": 0.5}
        for s in range(0, 100, 5)
    ] + [
        {"kind": "val", "step": s, "ar_loss": 3.2 / (s + 1), "diff_loss": 4.1 / (s + 1),
         "ar_token_acc": s / 100, "diff_token_acc": s / 120, "ar_seq_acc": s / 200}
        for s in range(0, 100, 25)
    ]  # fmt: skip
    fig = plots.training_curves(records)
    renders(fig)
    assert fig.axes[0].get_yscale() == "log"
    texts = legend_texts(fig)
    assert LOG_LABELS["ar_seq_acc"] in texts and not any("_" in t for t in texts)  # words, not log keys
    # each decoder's lines in its method's colour, the same as in the evaluation's figures
    colours = {ln.get_label(): ln.get_color() for ln in fig.axes[1].lines}
    assert colours[LOG_LABELS["ar_token_acc"]] == BY_KEY["ar"].colour
    assert colours[LOG_LABELS["diff_token_acc"]] == BY_KEY["diffusion"].colour


def method_rows(tiers=(*TIERS, "all")) -> list[dict]:
    cell = {"rate": 0.5, "low": 0.3, "high": 0.7, "k": 10, "n": 20}
    return [{"method": m, "measure": label, "key": key, "cells": [cell] * len(tiers)}
            for key, label in (("exact", "exact"), ("r2_gt_099", "R² > 0.99"))
            for m in ("model + Operon", "Operon alone", "PhysDiffuser", "control, PhysDiffuser")]


def test_accuracy_by_method_draws_a_point_and_interval_per_method_and_tier():
    from physdocs.plots.accuracy import accuracy_by_method

    tiers = (*TIERS, "all")
    fig = accuracy_by_method(method_rows(tiers), tiers)
    renders(fig)
    top, bottom = fig.axes
    assert top.get_ylabel() == "share, exact" and bottom.get_ylabel() == "share, R² > 0.99"
    labels = [t.get_text() for t in bottom.get_xticklabels()]
    assert labels[0] == "trivial\nn=20" and labels[-1].startswith("all")
    assert len(top.containers) == 4  # one errorbar per method
    assert legend_texts(fig) == ["model + Operon", "Operon alone", "PhysDiffuser", "control, PhysDiffuser"]
    with pytest.raises(ValueError):
        accuracy_by_method([], tiers)


def finding_rows() -> list[dict]:
    """Four findings: one per verdict with a paired interval, and one judged against a threshold."""
    return [{"title": "A holds", "outcome": "holds", "diff": 0.5, "diff_low": 0.3, "diff_high": 0.7, "min_effect": 0.1},
            {"title": "B fails", "outcome": "does not hold", "diff": 0.02, "diff_low": -0.1, "diff_high": 0.14,
             "min_effect": 0.1},
            {"title": "C flips", "outcome": "opposite", "diff": -0.4, "diff_low": -0.6, "diff_high": -0.2,
             "min_effect": 0.1},
            {"title": "D threshold", "outcome": "holds", "diff": None, "diff_low": None, "diff_high": None,
             "min_effect": 0.0}]


def paired_rows() -> list[dict]:
    return [{"tier": t, "measure": m, "n": 20, "diff": 0.1, "low": -0.05, "high": 0.25, "p": 0.2}
            for t in (*TIERS, "all") for m in ("exact", "r2_gt_099")]


def test_summary_figure_draws_one_row_per_finding_coloured_by_its_verdict():
    from matplotlib.colors import to_hex

    from physdocs.plots.summary import OUTCOME_LOOK, summary_figure
    from tests.figure_checks import legend_mismatches, too_small

    findings = finding_rows()
    fig = summary_figure(findings, paired_rows())
    renders(fig)
    forest, pairs = fig.axes
    assert [t.get_text() for t in forest.get_yticklabels()] == ["A holds", "B fails", "C flips", "D threshold"]
    # one errorbar per verdict present, at the rows (top to bottom) and in the verdict's colour,
    # in multiples of the minimum effect
    drawn = {c.get_label(): c for c in forest.containers}
    assert set(drawn) == {"holds", "does not hold", "the opposite holds"}
    for outcome, (colour, _, label) in OUTCOME_LOOK.items():
        line = drawn[label][0]
        assert to_hex(line.get_color()) == colour.lower()
        rows = [i for i, f in enumerate(findings) if f["outcome"] == outcome and f["diff"] is not None]
        assert list(line.get_ydata()) == [len(findings) - 1 - i for i in rows]
    assert list(drawn["holds"][0].get_xdata()) == pytest.approx([5.0])
    # the finding without a paired interval is named, in its verdict's colour, not drawn as a point
    note = next(t for t in forest.texts if "judged against its threshold" in t.get_text())
    assert to_hex(note.get_color()) == OUTCOME_LOOK["holds"][0].lower()
    assert any(p.get_label() == "smaller than the minimum effect" for p in forest.patches)
    assert len(pairs.containers) == 2 and len(pairs.get_xticklabels()) == len(TIERS) + 1
    assert not too_small(fig) and not legend_mismatches(fig)
    # without paired rows: the forest plot alone
    assert len(summary_figure(findings).axes) == 1
    with pytest.raises(ValueError, match="no findings"):
        summary_figure([])


@pytest.mark.parametrize(
    "func",
    [plots.entropy_by_tier, plots.token_type_attention, plots.training_curves],
)
def test_empty_rows_raise(func):
    with pytest.raises(ValueError, match="no rows"):
        func([])


def test_accuracy_page_figures_draw_and_refuse_empty_input():
    import pytest

    from physdocs.plots.accuracy import capability_grid, data_dependence

    records = [{"kind": "val", "step": s, "ar_loss": 1.0, "ar_loss_shuffled": 1.5, "diff_real_loss": 2.0,
                "diff_real_loss_shuffled": 2.2} for s in (100, 200)]
    assert data_dependence(records).axes
    with pytest.raises(ValueError, match="shuffled"):
        data_dependence([{"kind": "val", "step": 1, "ar_loss": 1.0}])
    table = {"2": {"shapes": ["x1*x2", "x1/x2"], "labels": ["x1*x2", "x1/x2", "other"],
                   "counts": [[2, 0, 0], [1, 0, 1]]}}
    assert len(capability_grid(table, "grid").axes) == 1
    two = dict(table, **{"3": table["2"]})
    assert len(capability_grid(two, "grid").axes) == 2
    with pytest.raises(ValueError):
        capability_grid({}, "grid")


def test_training_curves_show_the_legs_of_one_run():
    import numpy as np

    from physdocs.results.analysis import log_legs

    def leg(name, steps, t0):
        return [{"kind": kind, "step": s, "elapsed": t0 + s, "ar_loss": 1.0 + (s % 50) / 100, "lr": 1e-3,
                 "ar_token_acc": 0.5, **({"leg": name} if name else {})}
                for s in steps for kind in ("train", "val")]

    records = leg(None, range(10, 110, 10), 0.0) + leg("refine", range(110, 210, 10), 5.0)
    legs = log_legs(records)
    assert [(x.name, x.start, x.end) for x in legs] == [("first", 0, 100), ("refine", 100, 200)]
    assert legs[1].minutes == pytest.approx((205.0 - 100.0) / 60)
    fig = plots.training_curves(records)
    renders(fig)
    loss, _, lr = fig.axes[:3]
    assert "2 legs" in fig._suptitle.get_text()
    # A dotted line where the second leg starts, and no curve drawn across it.
    assert any(tuple(ln.get_xdata()) == (100, 100) for ln in lr.lines)
    x = np.asarray(loss.lines[0].get_xdata(), dtype=float)
    gap = int(np.flatnonzero(np.isnan(x))[0])
    assert x[gap - 1] == 100 and x[gap + 1] == 110
    assert {t.get_text() for t in lr.texts} == {"1", "2"}  # numbered; the key names them
    assert "1\u00a0first, 2\u00a0refine" in fig.axes[3].texts[0].get_text()
    # One leg: no divider, no names.
    one = plots.training_curves(leg(None, range(10, 110, 10), 0.0))
    assert not one.axes[2].texts and "legs" not in one._suptitle.get_text()
