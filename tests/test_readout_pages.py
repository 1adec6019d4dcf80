"""The faithfulness and readout pages, their figure and the sentence comparing the decoders."""

from __future__ import annotations

from dataclasses import replace

import pytest

from physdocs.report import figures as F
from physdocs.report import readout_page as RP
from physdocs.report.pages import render_pages
from physdocs.results.analysis import Results
from physdocs.results.readout import DECODERS, Estimate, LensRow
from tests.report_fakes import FakeAnalysisConfig, fake_readout, synthetic_run


@pytest.fixture(scope="module")
def run():
    raw, arrays = synthetic_run(FakeAnalysisConfig())
    return Results.from_json(raw), arrays


@pytest.fixture(scope="module")
def results(run) -> Results:
    return run[0]


def test_results_keep_the_readout(results):
    assert results.readout == Results.from_json(results.to_json()).readout
    assert Results.from_json({**results.to_json(), "readout": None}).readout is None


def test_pages_show_every_table_and_the_comparison(results):
    pages = render_pages(results, {F.READOUT_PATH})
    faithful, readout = pages["faithfulness.md"], pages["readout.md"]
    assert "## Cross-attention: the observations" in faithful and "### By the type of the key lost" in faithful
    assert faithful.count("| yes |") == len(results.readout.knockouts)  # every planted row in the weights' order
    assert "local slope" in faithful and "\\|y\\|" in faithful  # a table cell's bars escaped
    assert "logit_lens.png" in readout and "## Path patching" in readout
    assert "**The diffuser against the AR decoder.** The diffuser&#39;s masked operators come and stay on top after " \
        "layer 2.00" in readout and "as wide in both" in readout


def test_pages_without_the_readout_say_so(results):
    pages = render_pages(replace(results, readout=None), set())
    for page in ("faithfulness.md", "readout.md"):
        assert "were not run for this build" in pages[page]


def _lens(decoder: str, type_: str, decision: float, late: float, n: int = 10) -> LensRow:
    return LensRow(decoder, type_, n, (0.0, 0.5, 1.0), (0.0, 1.0 - late, late), Estimate(decision, 0, 0, 3))


def test_the_comparison_is_computed_from_the_rows():
    rows = [_lens("diffuser", "operator", 1.0, 0.5), _lens("diffuser", "variable", 2.0, 1.0),
            _lens("diffuser", "constant", 2.0, 1.0, n=30),
            _lens("ar_decoder", "operator", 1.5, 0.0), _lens("ar_decoder", "variable", 1.75, 0.0)]
    readout = replace(fake_readout(0.1, 3), lens=tuple(rows))
    where = {d["decoder"]: d for d in RP.where_decided(readout)}
    assert where["diffuser"]["gap"] == pytest.approx(1.0) and where["ar_decoder"]["gap"] == pytest.approx(0.25)
    assert where["diffuser"]["late"] == pytest.approx((5 + 10 + 30) / 50)
    sentence = RP.comparison_sentence(readout)
    assert "(+1.00 layers)" in sentence and "(+0.25)" in sentence and "wider in the diffuser" in sentence
    assert "90% (diffuser) and 0% (AR decoder)" in sentence
    assert RP.comparison_sentence(replace(readout, lens=tuple(r for r in rows if r.decoder == "diffuser"))) is None


def test_the_readout_figure_is_a_job_and_draws_legibly(run):
    from physdocs.plots.readout import logit_lens, readout_labels
    from tests.figure_checks import legend_mismatches, too_small

    results, arrays = run
    job = next(j for j in F.figure_jobs(results, arrays, "all") if j.path == F.READOUT_PATH)
    fig = job.plot(**job.kwargs)
    assert len(fig.axes) == len(DECODERS) and not too_small(fig) and not legend_mismatches(fig)
    assert [t.get_text() for t in fig.axes[0].get_xticklabels()] == readout_labels(5) == ["emb", "L1", "L2", "L3", "L4"]
    assert len(fig.axes[0].lines) == 2 * 4  # each type: on top at the readout, and from there on
    assert F.READOUT_PATH not in {j.path for j in F.figure_jobs(replace(results, readout=None), arrays, "all")}
    with pytest.raises(ValueError, match="no rows"):
        logit_lens([], {"diffuser": "d"})
