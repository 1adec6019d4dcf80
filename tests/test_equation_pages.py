"""The equation pages and the site's apparatus of reading: a verdict per method, every answer as
mathematics in the equation's names, the pipeline said plainly when Operon alone beats it, the
equations index marked and sortable, the capture note once, and every figure a link to its PNG."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

import pytest

from physdocs.benchmark import get_equation
from physdocs.report import answers as A
from physdocs.report import build, pages
from physdocs.results.analysis import Results
from physdocs.results.evaluation import Evaluation, Guess, Meta, ResultRow
from tests.report_fakes import ROOT, FakeAnalysisConfig, evaluation_json, synthetic_run
from tests.site_checks import figure_images, to_html, unlinked_figures

IDS = ("feynman_001", "feynman_021", "feynman_046")
CAPTURE = "Maps were captured on the true canvas at noise levels 0.25, 0.5, 0.75 (test note)."


class Every:
    """A figure set that holds every figure: each page shows all the figures it can."""

    def __contains__(self, path: object) -> bool:
        return True


def _row(eq_id: str, model: str, decoder: str, r2: float, exact: bool = False, prediction: str | None = "x1",
         latex: str | None = None, status: str = "valid", note: str | None = None) -> ResultRow:
    return ResultRow(id=eq_id, tier="trivial", model=model, decoder=decoder, prediction=prediction, r2_test=r2,
                     exact=exact, source=decoder, status=status, match_reason="", r2_support=r2, seconds=1.5,
                     first=Guess(prediction, r2, exact, decoder), latex=latex, note=note,
                     constants=() if latex or note else None)  # the evaluation writes them together


def _variables(ids=IDS) -> dict:
    return {i: list(get_equation(i).variables) for i in ids}


def _render(rows, ids=IDS, capture: str = "", figures=frozenset()):
    results, _ = synthetic_run(FakeAnalysisConfig(equation_ids=ids))
    results["meta"]["capture"] = capture
    results["evaluation"] = Evaluation(Meta("ab" * 32), results=tuple(rows)).to_json() if rows is not None else None
    return pages.render_pages(Results.from_json(results), figures=figures, variables=_variables(ids))


#: feynman_001 (E = m c², m is x1, c is x2) under five methods.
ROWS = (
    _row("feynman_001", "trained", "pipeline", 0.9999, exact=True, prediction="c**2*m", latex="1.0 c^{2} m"),
    _row("feynman_001", "baseline", "operon", 1.0, exact=True, prediction="c**2*m", latex="c^{2} m"),
    _row("feynman_001", "baseline", "gplearn", 0.995, prediction="I*x1*x2**2 + 0.123456789*x1"),
    _row("feynman_001", "trained", "diffusion", 0.5, prediction="m*c", latex="m c", status="repaired",
         note="filled 1 missing operand(s) with C"),
    _row("feynman_001", "control", "ar", float("nan"), prediction="x1.real"),
)


def _section(page: str, start: str, end: str) -> str:
    return page[page.index(start):page.index(end, page.index(start))]


# ----------------------------------------------------------------- verdicts and answers


def test_every_method_gets_a_verdict_near_the_top():
    page = _render(ROWS)["equations/feynman_001.md"]
    top = page[:page.index("## Variables")]
    assert top.index("$$") < top.index("<table>")  # the equation first, then the verdicts
    cells = re.findall(r'<tr><td><a href="#answer-\d+">([^<]+)</a></td><td>([^<]+)</td><td>([^<]+)</td>', top)
    verdicts = {method: (derived, exact) for method, derived, exact in cells}
    assert verdicts == {
        "model + Operon": ("✓ derived", "✓ exact"),
        "Operon alone": ("✓ derived", "✓ exact"),
        "PhysDiffuser": ("✗ not derived", "✗ not exact"),
        "gplearn": ("✓ derived", "✗ not exact"),  # 0.995 > 0.99
        "control, AR decoder": ("✗ not derived", "✗ not exact"),  # no usable answer (nan)
    }
    assert list(verdicts) == ["model + Operon", "Operon alone", "PhysDiffuser", "gplearn", "control, AR decoder"]
    assert "derived (held-out R² &gt; 0.99)" in top


def test_every_answer_is_mathematics_in_the_equations_names():
    page = _render(ROWS)["equations/feynman_001.md"]
    answers = _section(page, "## Derivations", "## Attention")
    blocks = re.findall(r"\$\$\n(.*?)\n\$\$", answers)
    # gplearn's text over tokens: x1 is m, x2 is c, sympy's I the imaginary unit i
    assert "i c^{2} m + 0.1235 m" in blocks
    assert "x1" not in "".join(blocks) and "x2" not in "".join(blocks)
    assert "**gplearn**: here i is the imaginary unit (sympy&#39;s I)" in answers
    assert "1.0 c^{2} m" in blocks and "m c" in blocks  # the evaluation's own LaTeX
    assert "**PhysDiffuser** (repaired): filled 1 missing operand(s) with C." in answers
    # an answer sympy is not given: shown as code, and the page says so
    assert "<code>x1.real</code>" in answers
    assert "**control, AR decoder**: shown as written: it holds text that is not a formula." in answers
    # each verdict's method links to its answer
    for n in range(1, 6):
        assert f'<a href="#answer-{n}">' in page and f"{{: #answer-{n} }}" in answers
    assert '<p id="answer-4"><strong>gplearn</strong>' in to_html(page)


def test_answer_tex_reads_tokens_and_names_and_nothing_else():
    variables = get_equation("feynman_003").variables  # V = I R: a variable named I
    assert A.answer_tex("I*x1*x2", variables) == (r"i I R", A.IMAGINARY)  # over tokens: I is the unit
    assert A.answer_tex("I*R", variables) == ("I R", None)  # over names: I is the current
    assert A.answer_tex("sqrt(x1)/x2 + pi", variables)[0] == r"\frac{\sqrt{I}}{R} + \pi"
    for text in ("__import__('os').system('true')", "x1.real", "lambda: 1", "x1[0]", "R; I", "'I'"):
        latex, why = A.answer_tex(text, variables)
        assert latex is None and why == "it holds text that is not a formula", text
    assert A.answer_tex("I*R*Q", variables) == (None, "it names Q, which is not one of this equation's variables")
    assert A.answer_tex("open(R)", variables) == (None, "it names open, which is not one of this equation's variables")
    assert A.answer_tex("x1**", variables) == (None, "sympy could not read it (SyntaxError)")


def test_the_pipeline_below_operon_alone_is_said_plainly():
    page = _render(ROWS)["equations/feynman_001.md"]
    top = page[:page.index("## Variables")]
    assert '!!! warning "model + Operon scores below Operon alone here"' in top
    # 0.9999 and 1 both print as 1.00: the sentence takes the digits that tell them apart
    assert ("On this equation model + Operon scores below Operon alone: held-out R² 0.9999 against 1.000. "
            "Both derive it (R² &gt; 0.99).") in top
    level = _render((_row("feynman_001", "trained", "pipeline", 1.0), _row("feynman_001", "baseline", "operon", 1.0)))
    assert "scores below" not in level["equations/feynman_001.md"]
    behind = A.behind_operon((_row("e", "trained", "pipeline", float("nan")), _row("e", "baseline", "operon", 0.999)))
    assert behind.sentence == ("On this equation model + Operon has no usable answer, and Operon alone reaches a "
                               "held-out R² of 0.999. Operon alone derives it (R² > 0.99) and model + Operon does not.")
    assert A.behind_operon((_row("e", "baseline", "operon", 0.5),)) is None  # no pipeline row


def test_an_equation_without_an_evaluation_says_so():
    assert "Not evaluated yet" in _render(None)["equations/feynman_001.md"]
    page = _render((_row("feynman_046", "baseline", "operon", 1.0),))["equations/feynman_001.md"]
    assert "This equation is not in the evaluation." in page and "## Derivations" not in page


# ----------------------------------------------------------------- the equations index


def test_the_index_marks_each_method_and_sorts():
    rows = (*ROWS, _row("feynman_046", "trained", "pipeline", 0.5), _row("feynman_046", "baseline", "operon", 0.999))
    index = _render(rows)["equations/index.md"]
    head = next(line for line in index.splitlines() if line.startswith("| <span data-sortable"))
    methods = re.findall(r'<span data-sortable="number">([^<]+)</span>', head)
    assert methods == ["Tier", "entropy", "model + Operon", "Operon alone", "PhysDiffuser"]
    line = {r.split(" | ")[0]: r for r in index.splitlines() if r.startswith("| [feynman")}
    assert line["| [feynman\\_001](feynman_001.md)"].endswith("| ✓ 1.000 | ✓ 1.00 | ✗ 0.500 |")
    assert line["| [feynman\\_046](feynman_046.md)"].endswith("| ✗ 0.500 | ✓ 0.999 | — |")
    assert '<span data-sort="1">simple</span>' in line["| [feynman\\_021](feynman_021.md)"]  # tiers sort in order
    html = to_html(index)
    assert html.count('data-sortable="') == 7 and "<th><span data-sortable" in html
    text = (ROOT / "mkdocs.yml").read_text()
    assert "  - assets/tablesort.js\n" in text
    script = (ROOT / "docs" / "assets" / "tablesort.js").read_text()
    assert not re.search(r"https?://", script)  # offline


def test_the_sort_script_orders_marks_and_numbers(tmp_path):
    node = shutil.which("node")
    if node is None:
        pytest.skip("node is not installed")
    script = ROOT / "docs" / "assets" / "tablesort.js"
    probe = f"""
    const t = require({json.dumps(str(script))});
    const cells = ["✓ 1.00", "—", "✗ 0.530", "✗ -2.10e+03", "✓ 0.999", "✗ 0.530"];
    const keys = cells.map(c => t.keyOf(c, "number"));
    const names = ["beta", "Alpha", "", "gamma"].map(c => t.keyOf(c, "text"));
    process.stdout.write(JSON.stringify({{keys, up: t.order(keys, "number", false),
      down: t.order(keys, "number", true), names: t.order(names, "text", false)}}));
    """
    got = json.loads(subprocess.run([node, "-e", probe], check=True, capture_output=True, text=True,
                                    timeout=60).stdout)
    assert got["keys"] == [1, None, 0.53, -2100, 0.999, 0.53]
    assert got["up"] == [3, 2, 5, 4, 0, 1]  # ties keep their order, no number last
    assert got["down"] == [0, 4, 2, 5, 3, 1]  # still last when descending
    assert got["names"] == [1, 0, 3, 2]


# ----------------------------------------------------------------- the capture note, once


def test_how_the_maps_were_captured_is_said_once_on_methodology():
    rendered = _render(ROWS, capture=CAPTURE)
    holding = [path for path, text in rendered.items() if CAPTURE in text]
    assert holding == ["methodology.md"]
    assert rendered["methodology.md"].count(CAPTURE) == 1
    assert "\n## How these maps were captured\n" in rendered["methodology.md"]
    # appended to the hand-written page, which links to it and does not say it again
    assert build.write_mode("methodology.md", rendered["methodology.md"], ROOT / "docs") == "a"
    prose = (ROOT / "docs" / "methodology.md").read_text()
    assert "How these maps were captured" not in prose.replace("[how these maps were captured]", "")
    assert "(#how-these-maps-were-captured)" in prose
    link = "methodology.md#how-these-maps-were-captured"
    for path in ("diffuser-self-attention.md", "cross-attention.md", "decoder.md", "trajectories.md"):
        assert rendered[path].count(f"]({link})") == 1, path
        assert "!!! note" not in rendered[path][:300], path
    page = rendered["equations/feynman_001.md"]
    assert page.count(f"](../{link})") == 1
    assert page.index(f"](../{link})") > page.index("## Attention") > page.index("$$")


# ----------------------------------------------------------------- figures open full size


def test_every_figure_is_a_link_to_its_png():
    rows = json.loads(json.dumps(evaluation_json(synthetic_run(FakeAnalysisConfig(equation_ids=IDS))[0])))
    results, _ = synthetic_run(FakeAnalysisConfig(equation_ids=IDS))
    results["evaluation"] = rows
    rendered = pages.render_pages(Results.from_json(results), figures=Every(), variables=_variables())
    shown = {}
    for path, page in rendered.items():
        html = to_html(page)
        assert not unlinked_figures(html), path
        shown[path] = [src for src, _ in figure_images(html)]
    with_figures = {p for p, s in shown.items() if s}
    assert {"index.md", "encoder.md", "diffuser-self-attention.md", "cross-attention.md", "decoder.md",
            "trajectories.md", "evidence.md", "entropy-scaling.md", "evaluation.md"} <= with_figures
    assert sum(map(len, shown.values())) >= 15
    assert '<figure class="report-figure">\n<a href="figures/summary.png"' in rendered["index.md"]


def test_the_figure_check_finds_a_bare_image():
    bare = to_html("![A figure](figures/x.png)\n\n[![B](figures/y.png)](figures/other.png)\n\n"
                   "[![C](figures/z.png)](figures/z.png)\n")
    assert unlinked_figures(bare) == ["figures/x.png (link: None)", "figures/y.png (link: figures/other.png)"]
