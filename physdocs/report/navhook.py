"""mkdocs hook: the generated equation pages join the navigation, under "Equations".

The equation pages are generated at build time (one per analysed equation), so
``mkdocs.yml`` cannot list them. The nav names a section ``Equations`` holding the index;
this hook appends each ``equations/<id>.md`` page to that section, in id order, so the pages
are in the navigation (and the site's search and prev/next order) like every other page.
"""

from __future__ import annotations

import re
from typing import Any

SECTION = "Equations"
_PAGE = re.compile(r"^equations/(?!index\.md$)[^/]+\.md$")


def equation_pages(files: Any) -> list[Any]:
    """The generated equation pages among ``files``, sorted by path."""
    return sorted((f.page for f in files.documentation_pages() if _PAGE.match(f.src_uri) and f.page is not None),
                  key=lambda p: p.file.src_uri)


def on_nav(nav: Any, config: Any, files: Any) -> Any:
    section = next((item for item in nav.items if getattr(item, "title", None) == SECTION
                    and hasattr(item, "children")), None)
    if section is None:
        return nav
    for page in equation_pages(files):
        if page not in section.children:
            page.parent = section
            section.children.append(page)
            nav.pages.append(page)
    for prev, page in zip(nav.pages, nav.pages[1:], strict=False):
        prev.next_page, page.previous_page = page, prev
    return nav
