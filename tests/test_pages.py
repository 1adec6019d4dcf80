"""Pages: only numbers from the results, the expected content, evaluation tables."""

from __future__ import annotations

import dataclasses
import re

from physdocs.benchmark import get_equation
from physdocs.report import figures as F
from physdocs.report import pages, render
from physdocs.results.analysis import Results
from tests.report_fakes import FakeAnalysisConfig, evaluation_json, synthetic_run

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

    variables = {i: [{"name": v.name, "token": v.token, "meaning": v.meaning, "low": v.low, "high": v.high}
                     for v in get_equation(i).variables] for i in ("feynman_001", "feynman_046")}
    rendered = pages.render_pages(Results.from_json(results), figures=set(), variables=variables)
    allowed = _formatted_values(results, set()) | _formatted_values(variables, set())
    allowed.add("0.99")  # the recovery threshold, a definition
    assert "0.123" in rendered["findings.md"] and "0.654" in rendered["evaluation.md"]
    for path, text in rendered.items():
        stray = set(_DECIMAL.findall(text)) - allowed
        assert not stray, f"{path} shows numbers not in the results: {sorted(stray)}"


def test_pages_render_expected_content():
    results, _ = synthetic_run(FakeAnalysisConfig())
    rendered = pages.render_pages(Results.from_json(results), figures={F.ENTROPY_PATH})
    expected = set(pages.SECTION_PAGES) | {"equations/feynman_001.md", "equations/feynman_046.md", "architecture.svg"}
    assert set(rendered) == expected
    index = rendered["index.md"]
    assert "reported in the seed (random weights)" in rendered["findings.md"].lower()
    # the summary answers first: the findings' sentence (no accuracy sentence without an evaluation)
    found = re.search(r"^- \*\*What the attention analysis found\.\*\* \d+ of \d+ findings", index, re.M)
    assert found and found.start() < index.index("## This build") and "**Does it work?**" not in index
    # the claims table is on the findings page only; the home page links to it
    assert "| Claim | Verdict |" in rendered["findings.md"] and "| Claim | Verdict |" not in index
    assert "findings.md#" not in index and "(findings.md)" in index
    assert "](glossary.md#control)" in index  # a term's first use links to the glossary
    assert "Not evaluated yet" in index and "Not evaluated yet" in rendered["evaluation.md"]
    assert "| trivial |" in rendered["entropy-scaling.md"]
    assert "1.78" in rendered["entropy-scaling.md"]  # the seed's column, from results meta
    assert "attention_entropy_by_tier.png" in rendered["diffuser-self-attention.md"]
    assert "token_type_attention.png" not in rendered["evidence.md"]  # not in this build
    assert "{: #entropy_tier_nats }" in rendered["findings.md"]
    assert "largest deviation of any weight" in rendered["cross-attention.md"]
    page = rendered["equations/feynman_046.md"]
    assert "$$" in page and "\\frac" in page
    assert '<div class="token-grid">' in page  # the trajectory, as a token grid


def test_evaluation_tables_when_evaluated():
    results, _ = synthetic_run(FakeAnalysisConfig())
    results = {**results, "evaluation": evaluation_json(results)}
    rendered = pages.render_pages(Results.from_json(results), figures=set())
    assert "Not evaluated yet" not in rendered["evaluation.md"]
    assert "**Trained model, ar decoder**" in rendered["evaluation.md"]
    page = rendered["evaluation.md"]
    # the reader's order: accuracy first, then the stages, never-drawn skeletons, ranges and noise
    order = ["## Accuracy by method and tier", "## What each stage contributes", "## Seen against never-drawn",
             "## Other ranges and noise", "## The decoding budget", "## Training"]
    assert [page.index(h) for h in order] == sorted(page.index(h) for h in order)
    # the method x tier table: exact first, each cell k/n with its Wilson interval
    assert "<td>PhysDiffuser</td><td>exact</td><td>0% (0–79%, 0/1)</td>" in page
    # the shifted copy's rate with its Wilson interval and count, and the computed comparison
    assert "| ar | all | 67% (21–94%, 2/3) | 33% (6–79%, 1/3) |" in page
    assert "ar: shifted 33% against 67% on the own boxes, -33 points" in page
    assert "| diffusion | 5-9 |" in page
    assert "## What each stage contributes" in page
    assert "Seeding Operon with the model changes exact recovery by +33 points" in page
    assert "<td>model + Operon</td><td>exact</td><td>67% (21–94%, 2/3)</td>" in page
    assert "0.654" in rendered["index.md"]
    assert '<span data-sortable="number">PhysDiffuser</span>' in rendered["equations/index.md"]
    # the evaluation ran the decoders only: no sentence names the pipeline, Operon alone or the model alone
    assert "**Does it work?**" not in rendered["index.md"] and "What each decoder contributes" not in rendered["index.md"]
    assert "\n$$\nm c\n$$\n" in rendered["equations/feynman_001.md"]  # the answer as displayed maths


def test_the_credit_verdict_says_when_the_model_adds_nothing():
    from physdocs.report.evaluation_page import credit_tables
    from physdocs.results.evaluation import CreditRow, Evaluation, Meta, Rate

    same = tuple(CreditRow(m, "final", "all", n=3, r2_gt_099=Rate.of([True] * 3),
                           exact=Rate.of([True, False, False]), median_size=7.0, median_true_size=5.0)
                 for m in ("Operon alone", "model + Operon"))
    verdict = credit_tables(Evaluation(Meta("ab" * 32), credit=same))["verdict"]
    assert verdict.startswith("The model adds nothing over Operon alone")


def test_trajectory_token_grid_keeps_the_steps_that_change_and_marks_new_tokens():
    steps = [{"step": 0, "tokens": ["BOS", "MASK", "MASK"]}, {"step": 1, "tokens": ["BOS", "MASK", "MASK"]},
             {"step": 10, "tokens": ["BOS", "mul", "MASK"]}, {"step": 20, "tokens": ["BOS", "mul", "<x>"]}]
    html = str(pages.token_grid(steps, 3))
    assert re.findall(r"<th>(\d+)</th>", html.split("</thead>")[0]) == ["0", "10", "20"]  # step 1 changed nothing
    rows = re.findall(r"<tr><th>(\d+)</th>(.*?)</tr>", html.split("<tbody>")[1])
    assert [r[0] for r in rows] == ["0", "1", "2"]  # one row per position
    assert rows[1][1] == '<td class="mask">·</td><td class="new">mul</td><td>mul</td>'
    assert rows[2][1].endswith('<td class="new">&lt;x&gt;</td>') and "<x>" not in html


def test_the_causal_page_shows_the_artifact_and_says_when_there_is_none():
    """Behaviour as kept and gained with intervals, every head, control moves in nats, the
    command and weights it came from; without an artifact, the command that makes one."""
    results, _ = synthetic_run(FakeAnalysisConfig())
    typed = Results.from_json(results)
    page = pages.render_pages(typed, figures=set())["causal.md"]
    assert "physdocs causal --json physdocs/data/causal.json" in page and "abababababababab" in page
    assert "| observations resampled | trained |" in page and "| self L1H1 |" in page and "| cross L1H1 |" in page
    assert r"1/2 \[0.0617, 0.247\]" in page  # kept: k/n with its Wilson interval
    assert "control: move (nats)" in page and "not decoded" in page  # a head without behaviour says so
    bare = pages.render_pages(dataclasses.replace(typed, causal=None), figures=set())["causal.md"]
    assert "physdocs causal --weights PATH --json FILE" in bare and "PHYSDOCS_CAUSAL" in bare
