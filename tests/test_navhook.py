"""The nav hook puts the generated equation pages under the Equations section."""

from types import SimpleNamespace as NS

from physdocs.report.navhook import on_nav


def page(uri):
    p = NS(title=None, parent=None, next_page=None, previous_page=None)
    p.file = NS(src_uri=uri, page=p)
    return p


def test_equation_pages_join_their_section_in_id_order():
    index, home = page("equations/index.md"), page("index.md")
    eqs = [page("equations/feynman_046.md"), page("equations/feynman_001.md")]
    section = NS(title="Equations", children=[index])
    nav = NS(items=[home, section], pages=[home, index])
    files = NS(documentation_pages=lambda: [p.file for p in (home, index, *eqs)] + [NS(src_uri="x.md", page=None)])
    on_nav(nav, None, files)
    assert [p.file.src_uri for p in section.children] == [
        "equations/index.md", "equations/feynman_001.md", "equations/feynman_046.md"]
    assert eqs[1].parent is section and index.next_page is eqs[1] and eqs[0].previous_page is eqs[1]
    on_nav(nav, None, files)  # idempotent
    assert len(section.children) == 3


def test_a_nav_without_the_section_is_left_alone():
    nav = NS(items=[page("index.md")], pages=[])
    assert on_nav(nav, None, NS(documentation_pages=lambda: [])) is nav
