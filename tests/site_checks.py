"""Checks over generated pages that need no browser: Markdown to HTML with the site's extensions,
and whether every figure opens full size (its ``<img>`` inside a link to the same PNG).

Used on the rendered Markdown (``tests/test_equation_pages.py``) and on a built site
(``tests/test_build.py``), and on pages with a defect planted, to show the check can fail.
"""

from __future__ import annotations

from html.parser import HTMLParser

#: The site's Markdown extensions (mkdocs.yml), as the checks convert a page.
EXTENSIONS = ["admonition", "attr_list", "tables", "toc", "pymdownx.arithmatex", "pymdownx.superfences",
              "pymdownx.details"]


def to_html(page: str) -> str:
    """A generated page's Markdown (front matter dropped) as HTML, with the site's extensions."""
    import markdown
    from mkdocs.utils.meta import get_data

    body, _ = get_data(page)
    return markdown.markdown(body, extensions=EXTENSIONS,
                             extension_configs={"pymdownx.arithmatex": {"generic": True}})


class _Images(HTMLParser):
    """Each ``<img>`` with the href of the link it sits in (None: in none)."""

    def __init__(self):
        super().__init__()
        self.links: list[str | None] = []
        self.images: list[tuple[str, str | None]] = []

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if tag == "a":
            self.links.append(a.get("href"))
        elif tag == "img":
            self.images.append((a.get("src") or "", self.links[-1] if self.links else None))

    def handle_endtag(self, tag):
        if tag == "a" and self.links:
            self.links.pop()


def figure_images(html: str) -> list[tuple[str, str | None]]:
    """``(src, enclosing link's href)`` of every figure image: PNG files, not embedded ``data:`` maps."""
    parser = _Images()
    parser.feed(html)
    return [(src, href) for src, href in parser.images if not src.startswith("data:")]


def unlinked_figures(html: str) -> list[str]:
    """The figure images that do not open full size: not inside a link to their own PNG."""
    return [f"{src} (link: {href})" for src, href in figure_images(html) if not src.endswith(".png") or href != src]
