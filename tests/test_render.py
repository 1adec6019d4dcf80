"""Rendering: number formats, strict templates, escaping of hostile strings."""

from __future__ import annotations

import re

import jinja2
import pytest

from physdocs.report import build, render
from tests.report_fakes import HOSTILE, fake_build_config, synthetic_run

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
    cfg = fake_build_config(tmp_path, weights)
    files = build.build_site(cfg, run_fn=lambda c: synthetic_run(c, names=names)).files
    for path, text in files.items():
        if path.endswith(".md"):
            assert "<script>" not in text, path
            assert not re.search(r"(?<!\\)\{: onclick", text), path
    assert "&lt;script&gt;" in files["equations/feynman_001.md"]
