"""The report's apparatus: author, version, build date and citation on the home page, and a
bibliography with a link for every work the report cites."""

from __future__ import annotations

import re
from importlib import metadata

import pytest
import yaml

from physdocs.report import apparatus, build, pages
from physdocs.results.analysis import Results
from tests.report_fakes import ROOT, FakeAnalysisConfig, fake_build_config, synthetic_run
from tests.site_checks import to_html
from tests.sites import EPOCH

BIBLIOGRAPHY = (ROOT / "docs" / "bibliography.md").read_text(encoding="utf-8")

#: Every work the report cites: its anchor on the bibliography page and words its entry holds.
WORKS = {
    "seed-report": ("seed report",),
    "lee-2019": ("Lee, J.", "Set Transformer", "2019"),
    "ghazvininejad-2019": ("Ghazvininejad, M.", "Mask-Predict", "2019"),
    "chang-2022": ("Chang, H.", "MaskGIT", "2022"),
    "wang-2025": ("ReMDM", "Remasking discrete diffusion"),
    "burlacu-2020": ("Burlacu, B.", "Operon", "2020"),
    "gplearn": ("gplearn",),
    "udrescu-2020": ("Udrescu, S.-M.", "Tegmark, M.", "AI Feynman", "2020"),
    "jain-2019": ("Jain, S.", "Wallace, B. C.", "Attention is not explanation", "2019"),
    "wiegreffe-2019": ("Wiegreffe, S.", "Pinter, Y.", "Attention is not not explanation", "2019"),
    "michel-2019": ("Michel, P.", "sixteen heads", "2019"),
    "freedman-1983": ("Freedman, D.", "Lane, D.", "1983"),
    "holm-1979": ("Holm, S.", "1979"),
    "wilson-1927": ("Wilson, E. B.", "1927"),
    "mcnemar-1947": ("McNemar, Q.", "1947"),
    "newcombe-1998": ("Newcombe, R. G.", "1998"),
    "buckingham-1914": ("Buckingham, E.", "1914"),
}


def _entries() -> dict[str, str]:
    """``{anchor: entry text}``: each entry is a paragraph closed by its ``{: #anchor }`` line."""
    return {m[1]: m[0] for m in re.finditer(r"(?ms)^\*\*.*?^\{: #([\w-]+) \}$", BIBLIOGRAPHY)}


def test_build_date_follows_source_date_epoch():
    assert apparatus.build_date({"SOURCE_DATE_EPOCH": EPOCH}) == "2026-01-01"
    assert apparatus.build_date({"SOURCE_DATE_EPOCH": " 86400 "}) == "1970-01-02"
    # unset or not a number: the day of the build, as mkdocs dates its sitemap
    assert apparatus.build_date({}, now=lambda: 1767225600 + 86400 * 40) == "2026-02-10"
    assert apparatus.build_date({"SOURCE_DATE_EPOCH": "soon"}, now=lambda: 0) == "1970-01-01"


def test_about_names_the_installed_version_and_cites_it():
    about = apparatus.about_from_env({"SOURCE_DATE_EPOCH": EPOCH})
    assert about.version == metadata.version("physdocs") and about.author == "the physdocs authors"
    bib = about.bibtex()
    assert bib.startswith("@misc{physdocs,\n") and bib.endswith("\n}")
    assert "  author  = {{the physdocs authors}},\n" in bib  # braced: a group, not a surname
    assert "  year    = {2026},\n" in bib and f"  version = {{{about.version}}},\n" in bib
    assert bib.count("{") == bib.count("}")
    bare = apparatus.About("the physdocs authors", "t", None, "2026-01-01")
    assert "version" not in bare.bibtex()
    assert apparatus.package_version("physdocs-no-such-package") is None


def test_the_home_page_ends_with_author_version_date_and_citation():
    results, _ = synthetic_run(FakeAnalysisConfig())
    about = apparatus.About("the physdocs authors", apparatus.TITLE, "9.8.7", "2026-01-01")
    index = pages.render_pages(Results.from_json(results), figures=set(), about=about)["index.md"]
    tail = index[index.index("## About this report"):]
    assert index.rstrip().endswith("</code></pre>")  # the last section
    assert "Written by the physdocs authors. Built on 2026-01-01 (UTC) by version 9.8.7 of\nthe `physdocs` package" in tail
    assert "[bibliography](bibliography.md)" in tail
    html = to_html(index)
    code = re.search(r'<pre><code class="language-bibtex">(.*?)</code></pre>', html, re.S)[1]
    assert code == about.bibtex()  # nothing of it escaped twice, nothing lost
    without = pages.render_pages(Results.from_json(results), figures=set())["index.md"]
    assert "## About this report" not in without


def test_the_build_stamps_its_date_and_renders_again_when_it_changes(tmp_path, weights, fake_figures, monkeypatch):
    cfg = fake_build_config(tmp_path, weights)
    monkeypatch.setenv("SOURCE_DATE_EPOCH", EPOCH)
    first = build.build_site(cfg, run_fn=synthetic_run)
    assert "Built on 2026-01-01 (UTC)" in first.files["index.md"]
    monkeypatch.setenv("SOURCE_DATE_EPOCH", str(int(EPOCH) + 86400))
    second = build.build_site(cfg, run_fn=synthetic_run)
    assert not second.timings.pages_cached and "Built on 2026-01-02 (UTC)" in second.files["index.md"]


@pytest.mark.parametrize("anchor", sorted(WORKS))
def test_every_cited_work_has_an_entry(anchor):
    entry = _entries().get(anchor)
    assert entry is not None, f"no entry {{: #{anchor} }}"
    text = " ".join(entry.split()).lower()
    for words in WORKS[anchor]:
        assert words.lower() in text, (anchor, words)
    if anchor == "seed-report":  # unpublished: the entry says so, and links to what it is
        assert "not published" in text
        assert "(glossary.md#seed-report)" in entry
    else:
        assert re.search(r"\]\(https://[^)\s]+\)", entry), f"{anchor} has no link"


def test_the_bibliography_is_reachable():
    assert set(_entries()) == set(WORKS)  # no entry without a citation, none twice
    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    assert {"Bibliography": "bibliography.md"} in nav
    methodology = (ROOT / "docs" / "methodology.md").read_text()
    cited = set(re.findall(r"\(bibliography\.md#([\w-]+)\)", methodology))
    assert {"jain-2019", "wiegreffe-2019", "freedman-1983", "holm-1979", "michel-2019"} <= cited <= set(WORKS)
    html = to_html(BIBLIOGRAPHY)
    assert all(f'id="{a}"' in html for a in WORKS)  # each anchor lands on its entry
