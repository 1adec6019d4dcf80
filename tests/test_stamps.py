"""Generated files keep their modification time while their content is unchanged."""

from __future__ import annotations

import os

from physdocs.report.reference import module_file, public_modules, reference_sources
from physdocs.report.stamps import apply_stamps, read_store, stamp_times


def test_stamp_times_keep_the_first_time_a_content_was_seen():
    known = {"a.md": ("d1", 100.0), "b.md": ("d2", 100.0)}
    out = stamp_times({"a.md": "d1", "b.md": "changed", "c.md": "d3"}, known, now=200.0)
    assert out == {"a.md": ("d1", 100.0), "b.md": ("changed", 200.0), "c.md": ("d3", 200.0)}


def test_apply_stamps_sets_times_by_content(tmp_path):
    site, store = tmp_path / "gen", tmp_path / "cache" / "stamps.json"
    (site / "sub").mkdir(parents=True)
    (site / "a.md").write_text("one")
    (site / "sub" / "b.png").write_bytes(b"\x89PNG")
    assert apply_stamps(site, ["a.md", "sub/b.png"], store, now=1000.0) == 2
    assert os.path.getmtime(site / "a.md") == 1000.0

    # the next build writes the same files again (new mtimes): unchanged ones get the old time back
    (site / "a.md").write_text("one")
    (site / "sub" / "b.png").write_bytes(b"\x89PNG-changed")
    assert apply_stamps(site, ["a.md", "sub/b.png"], store, now=2000.0) == 1
    assert os.path.getmtime(site / "a.md") == 1000.0
    assert os.path.getmtime(site / "sub" / "b.png") == 2000.0

    # a dependency outside the file (a reference page's module source) counts as content
    assert apply_stamps(site, ["a.md"], store, extra={"a.md": b"source v2"}, now=3000.0) == 1
    assert os.path.getmtime(site / "a.md") == 3000.0
    assert set(read_store(store)) == {"a.md", "sub/b.png"}


def test_a_broken_store_rebuilds_everything(tmp_path):
    store = tmp_path / "stamps.json"
    store.write_text("{not json")
    assert read_store(store) == {}


def test_public_modules_are_read_from_the_files(tmp_path):
    pkg = tmp_path / "pkg"
    for path in ("__init__.py", "a.py", "_private.py", "sub/__init__.py", "sub/b.py", "notapkg/c.py"):
        (pkg / path).parent.mkdir(parents=True, exist_ok=True)
        (pkg / path).write_text("")
    assert public_modules(pkg, "pkg") == ["pkg", "pkg.a", "pkg.sub", "pkg.sub.b"]
    assert module_file("pkg.sub", pkg) == pkg / "sub" / "__init__.py"
    assert module_file("pkg.sub.b", pkg) == pkg / "sub" / "b.py"


def test_the_real_package_lists_its_reference_sources():
    modules = public_modules()
    assert "physdocs.report.build" in modules and "physdocs" in modules
    assert not any("._" in m for m in modules)
    sources = reference_sources(["physdocs.grammar"])
    assert b"def " in sources["reference/physdocs.grammar.md"]
