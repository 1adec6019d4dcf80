"""The site as published: explorer data, hostile names, atomic publishing, byte-identical rebuilds."""

from __future__ import annotations

import html as html_lib
import json
import os
import re
import subprocess
from html.parser import HTMLParser
from pathlib import Path

import pytest

from physdocs.report import build, explorer
from physdocs.report import figures as F
from physdocs.report.overview import overview_html
from physdocs.report.publish import FALLBACK_EPOCH, build_and_swap, build_env, source_date_epoch
from physdocs.results.analysis import Results
from tests.report_fakes import FakeAnalysisConfig, fake_render, synthetic_run
from tests.sites import HOSTILE_NAME, ROOT, mkdocs_env, publish_build

IDS = ("feynman_001", "feynman_046")


@pytest.fixture
def weights(tmp_path) -> Path:
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights-v1")
    return path


def _cfg(tmp_path: Path, weights: Path, cache: str = "cache") -> build.BuildConfig:
    return build.BuildConfig(
        analysis=FakeAnalysisConfig(weights=str(weights)), cache_dir=tmp_path / cache, evaluation_path=None
    )


# ----------------------------------------------------------------- the explorer, wired


def test_every_equation_gets_explorer_data_and_an_explorer(tmp_path, weights, monkeypatch):
    monkeypatch.setattr(F, "render_jobs", fake_render)
    site = build.build_site(_cfg(tmp_path, weights), run_fn=synthetic_run)
    for eq_id in IDS:
        data = site.files[f"equations/data/{eq_id}.json"]
        assert isinstance(data, bytes) and len(data) <= explorer.MAX_PAYLOAD_BYTES
        payload = json.loads(data)
        assert payload["format"] == explorer.FORMAT and payload["id"] == eq_id
        page = site.files[f"equations/{eq_id}.md"]
        assert f'<div class="attention-explorer" data-src="../data/{eq_id}.json"' in page
        assert "&lt;div" not in page  # the block is markup, not double-escaped text
    t = site.timings
    assert t.explorer_files == 2 and t.explorer_bytes == sum(
        len(site.files[f"equations/data/{i}.json"]) for i in IDS
    )
    assert t.explorer_largest == max(len(site.files[f"equations/data/{i}.json"]) for i in IDS)
    assert re.search(r"explorer data \d+\.\d s \(2 files, \d+\.\d KB, largest \d+\.\d KB\)", t.summary())


def test_mkdocs_config_ships_the_scripts_and_styles():
    text = (ROOT / "mkdocs.yml").read_text()
    for asset in ("assets/explorer.js", "assets/katex/katex.min.js", "assets/katex-init.js"):
        assert f"  - {asset}\n" in text and (ROOT / "docs" / asset).is_file()
    for asset in ("assets/explorer.css", "assets/katex/katex.min.css"):
        assert f"  - {asset}\n" in text and (ROOT / "docs" / asset).is_file()
    katex = ROOT / "docs" / "assets" / "katex"
    assert (katex / "LICENSE").is_file() and "KaTeX 0.19.1" in (katex / "VERSION").read_text()
    fonts = set(re.findall(r"url\(([^)]+)\)", (katex / "katex.min.css").read_text()))
    assert fonts and all(f.endswith(".woff2") and (katex / f).is_file() for f in fonts)
    assert not re.search(r"https?://", (ROOT / "docs" / "assets" / "katex-init.js").read_text())


# ----------------------------------------------------------------- a hostile equation name


class _Tags(HTMLParser):
    def __init__(self):
        super().__init__()
        self.tags: list[tuple[str, dict]] = []

    def handle_starttag(self, tag, attrs):
        self.tags.append((tag, dict(attrs)))


def _html(markdown_page: str) -> tuple[dict, str]:
    """(front matter, HTML body) of a page, with the site's Markdown extensions."""
    markdown = pytest.importorskip("markdown")
    meta = pytest.importorskip("mkdocs.utils.meta")
    body, front = meta.get_data(markdown_page)
    html = markdown.markdown(
        body,
        extensions=[
            "admonition",
            "attr_list",
            "tables",
            "toc",
            "pymdownx.arithmatex",
            "pymdownx.superfences",
        ],
        extension_configs={"pymdownx.arithmatex": {"generic": True}},
    )
    return front, html


def test_hostile_name_is_escaped_on_pages_and_in_the_explorer_block(tmp_path, weights, monkeypatch):
    monkeypatch.setattr(F, "render_jobs", fake_render)
    names = {"feynman_001": HOSTILE_NAME}
    files = build.build_site(_cfg(tmp_path, weights), run_fn=lambda c: synthetic_run(c, names=names)).files
    for path in ("equations/feynman_001.md", "equations/index.md"):
        page = files[path]
        # The page's own images are the overview maps (data: URLs); the name's tag is text.
        assert "<img src=x" not in page and "</title>" not in page, path
        assert all(src.startswith("data:image/png;base64,") for src in re.findall(r'<img src="([^"]*)"', page))
        front, html = _html(page)
        parser = _Tags()
        parser.feed(html)
        live = [
            (t, a)
            for t, a in parser.tags
            if t in ("title", "script") or "onerror" in a or a.get("src") == "x"
        ]
        assert not live, path
        assert "&lt;/title&gt;&lt;img src=x onerror=alert(1)&gt;" in html, path
    front, html = _html(files["equations/feynman_001.md"])
    # Material writes page.meta.title into <title> as it is: it must be escaped already
    assert front["title"] == "feynman_001: &lt;/title&gt;&lt;img src=x onerror=alert(1)&gt;"
    block = re.search(r'<div class="attention-explorer"[^>]*>', html)[0]
    assert 'aria-label="Attention explorer: &lt;/title&gt;&lt;img src=x onerror=alert(1)&gt;"' in block
    assert 'data-src="../data/feynman_001.json"' in block  # the path comes from the id alone
    assert HOSTILE_NAME not in files["equations/data/feynman_001.json"].decode()  # the JSON holds no name


def test_inline_code_keeps_markdown_syntax_as_written():
    from physdocs.report.render import code

    formula = "q1*q2/(4*pi*r**2) + c_out_1 | [x]{: y }"
    front, html = _html(f"In the file: {code(formula)} end\n")
    assert "<em>" not in html and "<strong>" not in html and "<a " not in html
    parser = _Tags()
    parser.feed(html)
    assert [t for t, _ in parser.tags] == ["p", "code"]
    text = html_lib.unescape(re.search(r"<code>(.*)</code>", html)[1])
    assert text == formula


# ----------------------------------------------------------------- publishing


def test_build_and_swap_publishes_only_a_finished_build(tmp_path):
    site = tmp_path / "site"
    site.mkdir()
    (site / "old.html").write_text("old")

    def fails(tmp: Path) -> None:
        (tmp / "half.html").write_text("half")
        raise RuntimeError("build failed")

    with pytest.raises(RuntimeError, match="build failed"):
        build_and_swap(fails, site)
    assert [p.name for p in tmp_path.iterdir()] == ["site"]
    assert [p.name for p in site.iterdir()] == ["old.html"]

    build_and_swap(lambda tmp: (tmp / "new.html").write_text("new"), site)
    assert [p.name for p in tmp_path.iterdir()] == ["site"]
    assert [p.name for p in site.iterdir()] == ["new.html"]
    umask = os.umask(0)
    os.umask(umask)
    assert site.stat().st_mode & 0o777 == 0o777 & ~umask

    fresh = tmp_path / "deeper" / "site"
    build_and_swap(lambda tmp: (tmp / "index.html").write_text("x"), fresh)
    assert (fresh / "index.html").read_text() == "x"


def test_source_date_epoch(tmp_path):
    assert source_date_epoch(tmp_path) == str(FALLBACK_EPOCH)  # not a git checkout
    head = subprocess.run(
        ["git", "-C", str(ROOT), "log", "-1", "--format=%ct"], capture_output=True, text=True
    )
    if head.returncode == 0 and head.stdout.strip():
        assert source_date_epoch(ROOT) == head.stdout.strip()
    assert build_env({"SOURCE_DATE_EPOCH": "5"}, ROOT)["SOURCE_DATE_EPOCH"] == "5"
    assert build_env({}, tmp_path) == {"SOURCE_DATE_EPOCH": str(FALLBACK_EPOCH)}


# ----------------------------------------------------------------- reproducible bytes


def test_payload_and_figure_bytes_are_identical_across_renders(tmp_path, weights, monkeypatch):
    pytest.importorskip("physdocs.plots.attention")
    monkeypatch.setattr(F, "render_jobs", fake_render)
    cold = build.build_site(_cfg(tmp_path, weights, "a"), run_fn=synthetic_run)
    warm = build.build_site(_cfg(tmp_path, weights, "a"), run_fn=synthetic_run)  # arrays from the cache
    other = build.build_site(_cfg(tmp_path, weights, "b"), run_fn=synthetic_run)
    assert warm.timings.cache_hit and not other.timings.cache_hit
    data = {p: b for p, b in cold.files.items() if p.endswith(".json")}
    assert len(data) == 2
    assert data == {p: warm.files[p] for p in data} == {p: other.files[p] for p in data}

    results, arrays = synthetic_run(FakeAnalysisConfig(equation_ids=("feynman_001",)))
    job = F.seed_jobs(Results.from_json(results), arrays)[0]
    first, second = F.render_job(job), F.render_job(job)
    assert first[1].startswith(b"\x89PNG") and first == second
    assert overview_html(results["equations"][0], arrays) == overview_html(results["equations"][0], arrays)


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_rebuilds_are_byte_identical(tmp_path, tiny_weights):
    """Two cold builds (fresh caches) into two directories: every file is the same, byte for byte."""
    sites = []
    for name in ("a", "b"):
        env = mkdocs_env(
            tmp_path, equations=",".join(IDS), weights=tiny_weights, cache_dir=tmp_path / f"cache-{name}"
        )
        out = publish_build(tmp_path / f"site-{name}", env)
        assert out.returncode == 0, out.stderr[-4000:]
        assert "(computed)" in out.stderr  # a cold analysis each time
        sites.append(tmp_path / f"site-{name}")
    files = [sorted(p.relative_to(s).as_posix() for p in s.rglob("*") if p.is_file()) for s in sites]
    assert files[0] == files[1]
    kinds = {Path(f).suffix for f in files[0]}
    assert {".html", ".png", ".json", ".xml", ".gz"} <= kinds
    differ = [f for f in files[0] if (sites[0] / f).read_bytes() != (sites[1] / f).read_bytes()]
    assert not differ
