"""The nav hook puts the generated equation pages under the Equations section, one subsection per tier."""

from types import SimpleNamespace as NS

from physdocs.report.navhook import by_tier, on_nav, page_tier, tier_title


def page(uri, tier="trivial"):
    p = NS(title=None, parent=None, next_page=None, previous_page=None, tier=tier)
    p.file = NS(src_uri=uri, page=p, content_string=f"---\ntitle: x\ntier: {tier}\n---\n\n# x\n")
    return p


def tier_of(p):
    return p.tier


def test_equation_pages_join_tier_subsections_in_reading_order():
    index, home, ref = page("equations/index.md"), page("index.md"), page("reference/index.md")
    eqs = [page("equations/feynman_046.md", "simple"), page("equations/feynman_001.md"),
           page("equations/feynman_002.md")]
    section = NS(title="Equations", children=[index], parent=None)
    index.parent = section
    nav = NS(items=[home, section, ref], pages=[home, index, ref])
    files = NS(documentation_pages=lambda: [p.file for p in (home, index, ref, *eqs)] + [NS(src_uri="x.md", page=None)])
    on_nav(nav, None, files)
    subs = section.children[1:]
    assert [s.title for s in subs] == ["Trivial (2)", "Simple (1)"]
    assert [p.file.src_uri for p in subs[0].children] == ["equations/feynman_001.md", "equations/feynman_002.md"]
    assert eqs[1].parent is subs[0] and subs[0].parent is section
    # Reading order: the index, the tiers' pages, then what followed the section.
    assert [p.file.src_uri for p in nav.pages] == [
        "index.md", "equations/index.md", "equations/feynman_001.md", "equations/feynman_002.md",
        "equations/feynman_046.md", "reference/index.md"]
    assert index.next_page is eqs[1] and eqs[0].next_page is ref and ref.previous_page is eqs[0]
    on_nav(nav, None, files)  # idempotent
    assert len(section.children) == 3 and len(nav.pages) == 6


def test_tiers_follow_the_benchmark_order_and_unknown_tiers_come_last():
    pages = [page("a.md", "multi_step"), page("b.md", "zeta"), page("c.md", "trivial")]
    assert [t for t, _ in by_tier(pages, tier_of)] == ["trivial", "multi_step", "zeta"]
    assert tier_title("multi_step", 20) == "Multi-step (20)"


def test_the_tier_is_read_from_front_matter():
    assert page_tier(page("equations/feynman_001.md", "complex")) == "complex"
    bare = NS(file=NS(content_string="# no front matter\n"))
    assert page_tier(bare) == "other"


def test_a_nav_without_the_section_is_left_alone():
    nav = NS(items=[page("index.md")], pages=[])
    assert on_nav(nav, None, NS(documentation_pages=lambda: [])) is nav


def test_pages_a_dirty_build_skipped_get_their_source_read():
    from physdocs.report.navhook import on_env

    read = []
    skipped = NS(markdown=None, read_source=lambda config: read.append(config))
    built = NS(markdown="# x", read_source=lambda config: read.append("again"))
    files = NS(documentation_pages=lambda: [NS(page=skipped), NS(page=built), NS(page=None)])
    env = object()
    assert on_env(env, "cfg", files) is env
    assert read == ["cfg"]


def test_the_navigation_puts_the_answers_first_and_the_developers_last():
    import yaml

    from tests.report_fakes import ROOT

    nav = yaml.safe_load((ROOT / "mkdocs.yml").read_text())["nav"]
    titles = [next(iter(item)) for item in nav]
    assert titles == ["Home", "Evaluation", "Findings", "Causal tests", "Analysis", "Equations", "Methodology",
                      "Glossary", "Bibliography", "For developers"]
    developers = nav[-1]["For developers"]
    assert developers == [{"API reference": "reference/index.md"}, {"Rebuilding the report": "rebuild.md"}]
    assert {"Equations": ["equations/index.md"]} in nav  # the section the hook fills, by title


def test_a_passthrough_block_skips_markdown_and_comes_back_as_written():
    import markdown
    import pytest

    from physdocs.report.navhook import on_page_content, on_page_markdown
    from physdocs.report.render import passthrough

    block = '<div class="grid">\n<span>*not emphasis*</span>\n\n<p>a</p>\n</div>'
    page = NS(file=NS(src_uri="equations/x.md"))
    source = f"# Title\n\nBefore.\n\n{passthrough(block)}\n\nAfter *this*.\n"
    cut = on_page_markdown(source, page)
    assert block not in cut and "Before." in cut and "After *this*." in cut
    html = on_page_content(markdown.markdown(cut), page)
    assert block in html  # as written, not converted
    assert "<em>this</em>" in html and html.index("Before.") < html.index(block) < html.index("After")
    # A page without blocks is untouched; a slot Markdown lost is an error, not a silent drop.
    assert on_page_content("<p>x</p>", NS(file=NS(src_uri="other.md"))) == "<p>x</p>"
    on_page_markdown(source, page)
    with pytest.raises(ValueError, match="equations/x.md: the slot of pass-through block 0 is missing"):
        on_page_content("<p>nothing</p>", page)
