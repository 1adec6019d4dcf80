"""The built site in a real browser: Playwright driving Debian's Chromium.

One small site is built per session (feynman_001, feynman_046 and the multi-step
feynman_101 renamed to a hostile string, from a custom benchmark file; a tiny random
checkpoint; a fresh cache) exactly as ``nox -s docs`` builds, and served over HTTP on
127.0.0.1. The browser may reach nothing else: any other request fails a test, so the
pages are checked to work offline. A failing test leaves a screenshot in ``test-artifacts/``.

Skipped, saying why, where ``chromium`` or the ``playwright`` package is missing.
"""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading
import urllib.parse
from html.parser import HTMLParser
from pathlib import Path

import pytest

from tests.page_checks import FIRST_COLUMNS_PROBLEMS, LAYOUT_PROBLEMS, RENDERING_PROBLEMS
from tests.sites import HOSTILE_NAME, ROOT, benchmark_toml, mkdocs_env, publish_build

pytestmark = [pytest.mark.browser, pytest.mark.slow]  # builds a site and drives Chromium: `nox -s slow`

CHROMIUM = shutil.which("chromium")
if CHROMIUM is None:
    pytest.skip(
        "Debian's chromium is not installed (apt-get install chromium): browser tests skipped",
        allow_module_level=True,
    )
sync_api = pytest.importorskip(
    "playwright.sync_api", reason="the playwright package is not installed (dependency group 'browser')"
)

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
EQUATIONS = ("feynman_001", "feynman_046", "feynman_101")
HOSTILE_ID = "feynman_101"
ARTIFACTS = ROOT / "test-artifacts"
TIMEOUT_MS = 15_000


# ----------------------------------------------------------------- the site, served


@pytest.fixture(scope="session")
def site(tmp_path_factory, tiny_weights) -> Path:
    tmp = tmp_path_factory.mktemp("browser-site")
    bench = tmp / "benchmark.toml"
    bench.write_text(benchmark_toml(EQUATIONS, {HOSTILE_ID: HOSTILE_NAME}), encoding="utf-8")
    env = mkdocs_env(tmp, weights=tiny_weights, benchmark=bench, cache_dir=tmp / "cache")
    out = publish_build(tmp / "site", env)
    assert out.returncode == 0, out.stderr[-4000:]
    return tmp / "site"


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args) -> None:  # keep the test output clean
        pass


@pytest.fixture(scope="session")
def base_url(site):
    handler = functools.partial(_QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.fixture(scope="session")
def browser():
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


class Watch:
    """What went wrong on a page: console errors, uncaught exceptions, failed or outside requests."""

    def __init__(self, page, base_url: str):
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(f"console: {m.text}"))
        page.on("pageerror", lambda e: self.errors.append(f"page error: {e}"))
        # Leaving a page cancels its requests still in flight (the search worker, the favicon):
        # net::ERR_ABORTED. A missing file shows as an HTTP error status instead.
        page.on(
            "requestfailed",
            lambda r: (
                r.failure != "net::ERR_ABORTED"
                and self.errors.append(f"request failed: {r.url} ({r.failure})")
            ),
        )
        page.on("response", lambda r: r.status >= 400 and self.errors.append(f"HTTP {r.status}: {r.url}"))
        page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))

        def route(r):
            if r.request.url.startswith(base_url) or r.request.url.startswith("data:"):
                r.continue_()
            else:
                self.errors.append(f"outside request: {r.request.url}")
                r.abort()

        page.route("**/*", route)


DESKTOP = {"width": 1400, "height": 900}
PHONE = {"width": 400, "height": 800}


def _new_page(browser, base_url: str, viewport: dict | None = None):
    context = browser.new_context(color_scheme="light", viewport=viewport or DESKTOP)
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    return context, page, Watch(page, base_url)


@pytest.fixture
def page(browser, base_url, request):
    context, pg, watch = _new_page(browser, base_url)
    pg.watch = watch
    yield pg
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        ARTIFACTS.mkdir(exist_ok=True)
        pg.screenshot(path=str(ARTIFACTS / f"{request.node.name}.png"), full_page=True)
    context.close()


def _settle(pg) -> None:
    """Wait for fonts and for every attention explorer on the page to finish loading."""
    pg.wait_for_function(
        "() => [...document.querySelectorAll('.attention-explorer')]"
        ".every(e => ['ready', 'error'].includes(e.getAttribute('data-ae-state')))"
    )
    pg.evaluate("() => document.fonts.ready.then(() => true)")


# ----------------------------------------------------------------- one visit per page

PAGE_FACTS = """() => ({
  images: [...document.images].map(i => ({src: i.currentSrc || i.src, w: i.naturalWidth})),
  links: [...document.querySelectorAll('a[href]')].map(a => a.href),
  ids: [...document.querySelectorAll('[id]')].map(e => e.id),
  math: document.querySelectorAll('.arithmatex').length,
  unrendered: [...document.querySelectorAll('.arithmatex')]
      .filter(e => e.getAttribute('data-katex') !== 'rendered' || !e.querySelector('.katex')
                   || e.querySelector('.katex-error'))
      .map(e => e.textContent.slice(0, 80)),
})"""


def _pages(site: Path) -> list[str]:
    return sorted(p.relative_to(site).as_posix() for p in site.rglob("*.html"))


@pytest.fixture(scope="session")
def crawl(site, base_url, browser) -> dict[str, dict]:
    """Every HTML page of the site visited once at 1400 px: ``{path: facts}`` (see
    :data:`PAGE_FACTS`), with the rendering and layout problems found on it."""
    context, pg, watch = _new_page(browser, base_url)
    out = {}
    for path in _pages(site):
        start = len(watch.errors)
        pg.goto(base_url + path, wait_until="load")
        _settle(pg)
        facts = pg.evaluate(PAGE_FACTS)
        facts["errors"] = watch.errors[start:]
        facts["rendering"] = pg.evaluate(RENDERING_PROBLEMS)
        facts["layout"] = pg.evaluate(LAYOUT_PROBLEMS)
        out[path] = facts
        if (facts["errors"] or facts["unrendered"] or facts["rendering"] or facts["layout"]
                or any(i["w"] == 0 for i in facts["images"])):
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"crawl-{path.replace('/', '_')}.png"), full_page=True)
    context.close()
    return out


@pytest.fixture(scope="session")
def phone_visit(site, base_url, browser) -> dict[str, dict]:
    """Every page at 400 px: ``{path: {"layout": problems, "first_columns": problems, "tables": n}}``."""
    context, pg, _ = _new_page(browser, base_url, PHONE)
    out = {}
    for path in _pages(site):
        if path.startswith("reference/"):
            continue  # mkdocstrings' pages: no tables or figures of ours
        pg.goto(base_url + path, wait_until="load")
        _settle(pg)
        out[path] = {"layout": pg.evaluate(LAYOUT_PROBLEMS), "first_columns": pg.evaluate(FIRST_COLUMNS_PROBLEMS),
                     "tables": pg.evaluate("() => document.querySelectorAll('article table').length")}
        if out[path]["layout"] or out[path]["first_columns"]:
            ARTIFACTS.mkdir(exist_ok=True)
            pg.screenshot(path=str(ARTIFACTS / f"phone-{path.replace('/', '_')}.png"), full_page=True)
    context.close()
    return out


def test_every_page_loads_without_errors_or_outside_requests(crawl):
    assert len(crawl) > 20 and "equations/feynman_046/index.html" in crawl
    problems = {path: facts["errors"] for path, facts in crawl.items() if facts["errors"]}
    assert not problems


def test_every_image_loads(crawl):
    images = [(path, img) for path, facts in crawl.items() for img in facts["images"]]
    assert len(images) >= 10
    assert not [(path, img["src"]) for path, img in images if img["w"] <= 0]


def test_maths_is_rendered_offline_by_katex(crawl):
    assert sum(facts["math"] for facts in crawl.values()) >= 5
    assert crawl["equations/feynman_046/index.html"]["math"] >= 1
    assert not {path: facts["unrendered"] for path, facts in crawl.items() if facts["unrendered"]}


class _Anchors(HTMLParser):
    """``<a href>`` (noscript fallbacks included, which the live DOM does not hold) and ids."""

    def __init__(self):
        super().__init__()
        self.hrefs: list[str] = []
        self.ids: set[str] = set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if a.get("id"):
            self.ids.add(a["id"])
        if tag == "a" and a.get("href"):
            self.hrefs.append(a["href"])


def _target_file(site: Path, path: str) -> Path:
    path = urllib.parse.unquote(path).lstrip("/")
    target = site / path
    return target / "index.html" if path == "" or path.endswith("/") or target.is_dir() else target


def test_no_broken_internal_links_or_anchors(crawl, site, base_url):
    parsed = {}
    for path in crawl:
        p = _Anchors()
        p.feed((site / path).read_text(encoding="utf-8"))
        parsed[path] = p
    broken, checked = [], 0
    for path, facts in crawl.items():
        page_url = base_url + path
        hrefs = set(facts["links"]) | {urllib.parse.urljoin(page_url, h) for h in parsed[path].hrefs}
        for href in sorted(hrefs):
            if not href.startswith(base_url):
                continue  # external links (none are followed: the browser may reach nothing else)
            url = urllib.parse.urlsplit(href)
            target = _target_file(site, url.path)
            checked += 1
            if not target.is_file():
                broken.append(f"{path} -> {href}: no {target.relative_to(site)}")
                continue
            fragment = urllib.parse.unquote(url.fragment)
            if fragment and target.suffix == ".html":
                rel = target.relative_to(site).as_posix()
                ids = parsed[rel].ids | set(crawl[rel]["ids"]) if rel in parsed else set()
                if fragment not in ids:
                    broken.append(f"{path} -> {href}: no id {fragment!r} in {rel}")
    assert checked > 100
    assert not broken


# ----------------------------------------------------------------- interaction


def _search(page, text: str) -> None:
    """Type ``text`` into Material's search box (the header's box at desktop width)."""
    box = page.locator("input.md-search__input")
    box.click()
    box.press_sequentially(text, delay=20)


def test_search_finds_coulomb(page, base_url):
    page.goto(base_url)
    _search(page, "Coulomb")
    hit = page.locator(".md-search-result__item", has_text="Coulomb").first
    hit.wait_for(state="visible")
    assert page.watch.errors == []


def _explorer_state(page) -> tuple[str | None, list[str]]:
    return page.evaluate(
        """() => {
          const bars = document.querySelector('.attention-explorer .ae-bars');
          return [bars.getAttribute('data-query-index'),
                  [...bars.querySelectorAll('.ae-bar')].map(b => b.getAttribute('data-weight'))];
        }"""
    )


def test_clicking_a_query_token_changes_the_explorer_row(page, base_url):
    page.goto(base_url + "equations/feynman_046/")
    page.locator(".attention-explorer[data-ae-state='ready']").wait_for()
    index, first = _explorer_state(page)
    assert index == "0" and first
    queries = page.locator(".attention-explorer .ae-query")
    assert queries.count() > 3
    changed = False
    for i in range(1, queries.count()):
        queries.nth(i).click()
        index, weights = _explorer_state(page)
        assert index == str(i)
        assert queries.nth(i).get_attribute("aria-pressed") == "true"
        if weights != first:
            changed = True
            break
    assert changed, "every query row shows the same weights"
    assert page.watch.errors == []


def test_overview_labels_line_up_with_the_map_cells(page, base_url):
    """Each row label sits on its image row and each key label under its column (within a pixel)."""
    page.goto(base_url + "equations/feynman_046/")
    maps = page.evaluate(
        """() => [...document.querySelectorAll('.attention-map')].map(fig => {
          const img = fig.querySelector('img').getBoundingClientRect();
          const centre = (r, axis) => axis === 'y' ? r.top + r.height / 2 : r.left + r.width / 2;
          const lines = (el, axis) => {  // one text line per label: the centre of each line's box
            const node = el.firstChild, out = [];
            let start = 0;
            for (const label of node.data.split('\\n')) {
              const range = document.createRange();
              range.setStart(node, start);
              range.setEnd(node, start + label.length);
              out.push(centre(range.getBoundingClientRect(), axis));
              start += label.length + 1;
            }
            return out;
          };
          const rows = lines(fig.querySelector('.attention-map-rows'), 'y');
          const cols = lines(fig.querySelector('.attention-map-cols'), 'x');
          return {top: img.top, left: img.left, w: img.width, h: img.height, rows, cols,
                  natural: [fig.querySelector('img').naturalHeight, fig.querySelector('img').naturalWidth]};
        })"""
    )
    assert len(maps) == 4
    for m in maps:
        n_rows, n_cols = m["natural"]
        assert (len(m["rows"]), len(m["cols"])) == (n_rows, n_cols)
        cell_h, cell_w = m["h"] / n_rows, m["w"] / n_cols
        assert cell_h >= 8 and abs(cell_h - cell_w) < 0.5  # square cells, scaled up
        for i, y in enumerate(m["rows"]):
            assert abs(y - (m["top"] + (i + 0.5) * cell_h)) <= 1, (i, y)
        for j, x in enumerate(m["cols"]):
            assert abs(x - (m["left"] + (j + 0.5) * cell_w)) <= 1, (j, x)
    assert page.watch.errors == []


def test_palette_toggle_switches_to_dark_and_back(page, base_url):
    page.goto(base_url)
    scheme = "() => document.body.getAttribute('data-md-color-scheme')"
    assert page.evaluate(scheme) == "default"
    toggle = page.locator("form[data-md-component='palette'] label:not([hidden])")
    toggle.click()
    page.wait_for_function(f"() => ({scheme})() === 'slate'")
    toggle = page.locator("form[data-md-component='palette'] label:not([hidden])")
    toggle.click()
    page.wait_for_function(f"() => ({scheme})() === 'default'")
    assert page.watch.errors == []


def test_hostile_equation_name_shows_as_text(page, base_url, site):
    page.goto(base_url + f"equations/{HOSTILE_ID}/")
    _settle(page)
    assert HOSTILE_NAME in page.title()
    assert HOSTILE_NAME in page.locator("article h1").inner_text()
    region = page.locator(".attention-explorer")
    assert HOSTILE_NAME in region.get_attribute("aria-label")
    page.goto(base_url + "equations/")
    assert HOSTILE_NAME in page.locator("article table").inner_text()
    _search(page, "onerror")
    page.locator(".md-search-result__item").first.wait_for(state="visible")
    page.wait_for_timeout(300)
    assert page.evaluate('() => document.querySelectorAll(\'img[src="x"], img[src$="/x"]\').length') == 0
    assert page.watch.dialogs == []
    assert page.watch.errors == []
    # and in the files themselves: the name never appears as markup
    for html_file in site.rglob("*.html"):
        text = html_file.read_text(encoding="utf-8")
        assert not re.search(r"<img[^>]*\bonerror", text), html_file
        assert "</title><img" not in text, html_file


# ----------------------------------------------------------------- rendering and layout


def test_no_page_shows_raw_markdown_or_escaped_characters(crawl):
    assert {"index.html", "evaluation/index.html", "findings/index.html"} <= set(crawl)
    assert not {path: facts["rendering"] for path, facts in crawl.items() if facts["rendering"]}


def test_nothing_overflows_at_desktop_width(crawl):
    assert not {path: facts["layout"] for path, facts in crawl.items() if facts["layout"]}


def test_at_phone_width_tables_scroll_in_their_own_box_with_every_column_reachable(phone_visit):
    assert len(phone_visit) > 10
    assert not {path: v["layout"] for path, v in phone_visit.items() if v["layout"]}


def test_at_phone_width_the_first_two_columns_of_every_table_are_in_view(phone_visit):
    """A reader on a phone sees each row's name and its first value before scrolling sideways."""
    assert sum(v["tables"] > 0 for v in phone_visit.values()) > 5  # the check reads tables
    assert not {path: v["first_columns"] for path, v in phone_visit.items() if v["first_columns"]}


def test_the_first_columns_check_finds_a_name_that_pushes_the_values_off_screen(browser, base_url):
    context, pg, _ = _new_page(browser, base_url, PHONE)
    pg.goto(base_url + "findings/")
    _settle(pg)
    assert pg.evaluate(FIRST_COLUMNS_PROBLEMS) == []
    wide = ("<table><thead><tr><th style='min-width: 380px'>a name set wider than the phone</th><th>value</th>"
            "</tr></thead><tbody><tr><td>x</td><td>1.0</td></tr></tbody></table>")
    pg.evaluate("html => document.querySelector('article').insertAdjacentHTML('beforeend', html)", wide)
    found = pg.evaluate(FIRST_COLUMNS_PROBLEMS)
    assert any('"value"' in f for f in found), found
    context.close()


@pytest.mark.parametrize("path", ["", "entropy-scaling/", "encoder/"])
def test_at_phone_width_a_tap_on_a_figure_opens_it_full_size(browser, base_url, path):
    """A figure shrunk to the phone's column opens as its own PNG, at its drawn size."""
    context = browser.new_context(color_scheme="light", viewport=PHONE, has_touch=True)
    pg = context.new_page()
    pg.set_default_timeout(TIMEOUT_MS)
    pg.goto(base_url + path)
    _settle(pg)
    img = pg.locator("article a > img[src$='.png']").first
    shown = img.evaluate("i => i.getBoundingClientRect().width")
    with pg.expect_navigation():
        img.tap()
    assert pg.url.endswith(".png")
    natural = pg.evaluate("() => document.images[0].naturalWidth")
    assert natural > 2 * shown  # drawn at 300 DPI: the full image is several screens wide
    context.close()


def test_the_content_column_is_as_wide_as_the_figures_are_drawn(page, base_url):
    """Figures are drawn at most CONTENT_WIDTH_IN wide, so that at 1400 px none is scaled down."""
    from physdocs.plots.style import CONTENT_WIDTH_IN

    page.goto(base_url + "evaluation/")
    width = page.evaluate("""() => { const a = document.querySelector('article');
      const cs = getComputedStyle(a);
      return a.clientWidth - parseFloat(cs.paddingLeft) - parseFloat(cs.paddingRight); }""")
    assert width >= CONTENT_WIDTH_IN * 96 - 1


def _markdown_html(text: str) -> str:
    """``text`` converted by Python-Markdown with the site's extensions (from ``mkdocs.yml``)."""
    import markdown
    import yaml

    class _Loader(yaml.SafeLoader):
        pass

    _Loader.add_multi_constructor("", lambda loader, suffix, node: None)  # !!python/name tags
    cfg = yaml.load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"), Loader=_Loader)
    names = [e if isinstance(e, str) else next(iter(e)) for e in cfg["markdown_extensions"]]
    return markdown.markdown(text, extensions=[n for n in names if not n.startswith("pymdownx.arithmatex")])


#: The defects the checks exist for, written as they were once generated.
PLANTED_MARKDOWN = {
    "a table in an HTML block without markdown processing": (
        "<details><summary>Per equation</summary>\n\n| Equation | tier |\n|---|---|\n"
        "| [feynman\\_001](equations/feynman\\_001.md) | trivial |\n\n</details>\n",
        ("raw Markdown table", "literal Markdown link", "escaped character"),
    ),
    "a header whose cells were joined into one escaped string": (
        "| layer | head | binary \\| unary |\n|---|---|---|---|\n| 1 | 1 | 0.1 | 0.2 |\n",
        ("raw Markdown table",),
    ),
}


@pytest.mark.parametrize("defect", sorted(PLANTED_MARKDOWN))
def test_the_rendering_check_finds_a_planted_defect(page, base_url, defect):
    text, expected = PLANTED_MARKDOWN[defect]
    page.goto(base_url + "findings/")
    assert page.evaluate(RENDERING_PROBLEMS) == []
    page.evaluate("html => document.querySelector('article').insertAdjacentHTML('beforeend', html)",
                  _markdown_html(text))
    found = page.evaluate(RENDERING_PROBLEMS)
    for kind in expected:
        assert any(f.startswith(kind) for f in found), (kind, found)


def test_the_rendering_check_finds_an_escaped_nav_title(page, base_url):
    """The tier's title as the nav hook once made it, from a Markdown-escaped front matter."""
    from physdocs.report.navhook import tier_title

    page.goto(base_url)
    assert page.evaluate(RENDERING_PROBLEMS) == []
    page.evaluate("t => { document.querySelector('.md-nav__link').textContent = t; }",
                  tier_title("multi\\_step", 20))
    assert any("navigation" in f and "Multi" in f for f in page.evaluate(RENDERING_PROBLEMS))


WIDE_TABLE = "<table class='plain'><thead><tr>" + "".join(f"<th>column {i}</th>" for i in range(30)) + \
    "</tr></thead><tbody><tr>" + "".join(f"<td>{i}.000</td>" for i in range(30)) + "</tr></tbody></table>"


@pytest.mark.parametrize("viewport", [DESKTOP, PHONE], ids=["1400", "400"])
def test_the_layout_check_finds_planted_overflow(browser, base_url, viewport):
    context, pg, _ = _new_page(browser, base_url, viewport)
    pg.goto(base_url + "findings/")
    _settle(pg)
    assert pg.evaluate(LAYOUT_PROBLEMS) == []
    pg.evaluate("html => document.querySelector('article').insertAdjacentHTML('beforeend', html)", WIDE_TABLE)
    found = pg.evaluate(LAYOUT_PROBLEMS)
    assert any("<table.plain>" in f for f in found), found
    if viewport is PHONE:
        assert any("scrolls sideways" in f for f in found), found
    context.close()


def test_the_layout_check_finds_a_column_that_cannot_be_reached(browser, base_url):
    context, pg, _ = _new_page(browser, base_url, PHONE)
    pg.goto(base_url + "findings/")
    _settle(pg)
    pg.evaluate("""() => { const w = document.querySelector('.md-typeset__scrollwrap');
      w.style.overflowX = 'hidden'; }""")
    found = pg.evaluate(LAYOUT_PROBLEMS)
    assert any("cannot be reached" in f or "does not scroll" in f for f in found), found
    context.close()


def test_the_layout_check_finds_a_planted_wide_figure(browser, base_url):
    context, pg, _ = _new_page(browser, base_url, DESKTOP)
    pg.goto(base_url + "encoder/")
    _settle(pg)
    assert pg.evaluate(LAYOUT_PROBLEMS) == []
    pg.evaluate("""() => { const img = document.querySelector('article img');
      img.style.maxWidth = 'none'; img.style.width = '1600px'; }""")
    assert any(f.startswith("image") for f in pg.evaluate(LAYOUT_PROBLEMS))
    context.close()
