"""mkdocs hook: the generated equation pages join the navigation, under "Equations", by tier;
and large HTML blocks skip Markdown (:func:`on_page_markdown`, :func:`on_page_content`).

The equation pages are generated at build time (one per analysed equation), so
``mkdocs.yml`` cannot list them. The nav names a section ``Equations`` holding the index;
this hook adds one subsection per tier (in the benchmark's tier order, each page in id
order), read from the ``tier`` field of each page's front matter, so the pages are in the
navigation (and the site's search and prev/next order) like every other page. With
Material's ``navigation.prune`` only the open tier's pages are written into each page's
sidebar, which keeps every page small and the build fast.
"""

from __future__ import annotations

import re
from typing import Any

from mkdocs.structure.nav import Section
from mkdocs.utils.meta import get_data

from physdocs.benchmark import TIERS
from physdocs.report.render import PASSTHROUGH_END, PASSTHROUGH_START

SECTION = "Equations"
_PAGE = re.compile(r"^equations/(?!index\.md$)[^/]+\.md$")
UNKNOWN_TIER = "other"


def equation_pages(files: Any) -> list[Any]:
    """The generated equation pages among ``files``, sorted by path."""
    return sorted((f.page for f in files.documentation_pages() if _PAGE.match(f.src_uri) and f.page is not None),
                  key=lambda p: p.file.src_uri)


def page_tier(page: Any) -> str:
    """The ``tier`` of a page's front matter, or :data:`UNKNOWN_TIER`."""
    _, meta = get_data(page.file.content_string)
    return str(meta.get("tier") or UNKNOWN_TIER)


def tier_title(tier: str, count: int) -> str:
    return f"{tier.replace('_', '-').capitalize()} ({count})"


def by_tier(pages: list[Any], tier_of=page_tier) -> list[tuple[str, list[Any]]]:
    """``[(tier, pages)]`` in the benchmark's tier order, unknown tiers after, pages kept in order."""
    groups: dict[str, list[Any]] = {}
    for page in pages:
        groups.setdefault(tier_of(page), []).append(page)
    order = {tier: i for i, tier in enumerate(TIERS)}
    return sorted(groups.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))


def _within(item: Any, section: Any) -> bool:
    while item is not None:
        if item is section:
            return True
        item = getattr(item, "parent", None)
    return False


def on_nav(nav: Any, config: Any, files: Any, tier_of=page_tier) -> Any:
    section = next((item for item in nav.items if getattr(item, "title", None) == SECTION
                    and hasattr(item, "children")), None)
    if section is None:
        return nav
    placed = {id(p) for p in nav.pages}
    new = [p for p in equation_pages(files) if id(p) not in placed]
    # The tiers' pages follow the section's own pages in the reading (prev/next) order.
    own = [i for i, p in enumerate(nav.pages) if _within(p, section)]
    at = own[-1] + 1 if own else len(nav.pages)
    for tier, pages in by_tier(new, tier_of):
        sub = Section(tier_title(tier, len(pages)), pages)
        sub.parent = section
        for page in pages:
            page.parent = sub
        section.children.append(sub)
        nav.pages[at:at] = pages
        at += len(pages)
    for prev, page in zip(nav.pages, nav.pages[1:], strict=False):
        prev.next_page, page.previous_page = page, prev
    return nav


def on_env(env: Any, config: Any, files: Any) -> Any:
    """Give every page its title in dirty builds (``mkdocs serve --dirty``).

    A dirty build neither reads nor converts an unchanged page, so its title, and with it its
    nav entry and prev/next links on the rebuilt pages, would be empty. Reading the source
    (front matter and first heading, no conversion) is cheap and fills them in.
    """
    for file in files.documentation_pages():
        if file.page is not None and file.page.markdown is None:
            file.page.read_source(config)
    return env


# ----------------------------------------------------------------- pass-through blocks

_BLOCK = re.compile(re.escape(PASSTHROUGH_START) + r"\n(.*?)\n" + re.escape(PASSTHROUGH_END), re.S)
_SLOT = "PHYSDOCSPASSTHROUGH{}"
_held: dict[str, list[str]] = {}  # a page's blocks, from its Markdown to its HTML (one build)


def on_page_markdown(markdown: str, page: Any, **_: Any) -> str:
    """Cut every pass-through block (``render.passthrough``) out of the page's Markdown, leaving
    a slot: Markdown would pass the HTML through unchanged, after scanning it."""
    blocks: list[str] = []

    def cut(m: re.Match) -> str:
        blocks.append(m.group(1))
        return f"\n\n{_SLOT.format(len(blocks) - 1)}\n\n"

    out = _BLOCK.sub(cut, markdown)
    if blocks:
        _held[page.file.src_uri] = blocks
    return out


def on_page_content(html: str, page: Any, **_: Any) -> str:
    """Put the page's pass-through blocks back in their slots, as they were written."""
    for i, block in enumerate(_held.pop(page.file.src_uri, ())):
        slot = f"<p>{_SLOT.format(i)}</p>"
        if slot not in html:
            raise ValueError(f"{page.file.src_uri}: the slot of pass-through block {i} is missing after Markdown")
        html = html.replace(slot, block, 1)
    return html
