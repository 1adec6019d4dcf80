"""The report's cache: keys, entries, pruning, figure digests."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from physdocs.report import cache, render
from tests.report_fakes import FakeAnalysisConfig

# ----------------------------------------------------------------- cache


def test_cache_key_tracks_weights_config_and_source(tmp_path, weights, monkeypatch):
    cfg = FakeAnalysisConfig(weights=str(weights)).to_dict()
    key = cache.cache_key(cfg, weights)
    assert re.fullmatch(r"[0-9a-f]{64}", key)
    assert cache.cache_key(cfg, weights) == key

    weights.write_bytes(b"weights-v2")
    assert cache.cache_key(cfg, weights) != key
    weights.write_bytes(b"weights-v1")
    assert cache.cache_key(cfg, weights) == key

    assert cache.cache_key({**cfg, "n_boot": 11}, weights) != key

    # a package source file: point the key at a copy of the package and edit one module
    pkg = tmp_path / "physdocs"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "weights"))
    monkeypatch.setattr(cache, "PACKAGE_DIR", pkg)
    base = cache.cache_key(cfg, weights)
    assert base == key
    with open(pkg / "analysis" / "metrics.py", "a") as f:
        f.write("\n# edited\n")
    edited = cache.cache_key(cfg, weights)
    assert edited != base
    # the layers above the analysis do not change its results: the entry is kept
    for above in ("report/render.py", "plots/attention.py", "cli.py"):
        with open(pkg / above, "a") as f:
            f.write("\n# edited\n")
    assert cache.cache_key(cfg, weights) == edited


def test_source_digest_follows_the_code_it_names(tmp_path, monkeypatch):
    pkg = tmp_path / "physdocs"
    shutil.copytree(cache.PACKAGE_DIR, pkg, ignore=shutil.ignore_patterns("__pycache__", "weights", "data"))
    monkeypatch.setattr(cache, "PACKAGE_DIR", pkg)
    plots, explorer = cache.source_digest("plots"), cache.source_digest("report/explorer.py")
    with open(pkg / "plots" / "style.py", "a") as f:
        f.write("\n# edited\n")
    assert cache.source_digest("plots") != plots
    assert cache.source_digest("report/explorer.py") == explorer
    assert cache.figure_digest("p", {}, code="a") != cache.figure_digest("p", {}, code="b")


def test_cache_key_ignores_templates_and_tracks_referenced_files(tmp_path, weights, monkeypatch):
    cfg = FakeAnalysisConfig(weights=str(weights)).to_dict()
    key = cache.cache_key(cfg, weights)
    templates = tmp_path / "templates"
    shutil.copytree(render.TEMPLATES_DIR, templates)
    (templates / "index.md.j2").write_text("changed\n")
    monkeypatch.setattr(render, "TEMPLATES_DIR", templates)
    assert cache.cache_key(cfg, weights) == key

    log = tmp_path / "metrics.jsonl"
    log.write_text('{"step": 1}\n')
    with_log = cache.cache_key({**cfg, "training_log": str(log)}, weights)
    log.write_text('{"step": 2}\n')
    assert cache.cache_key({**cfg, "training_log": str(log)}, weights) != with_log


def test_cache_key_tracks_library_versions(weights, monkeypatch):
    cfg = FakeAnalysisConfig(weights=str(weights)).to_dict()
    key = cache.cache_key(cfg, weights)
    monkeypatch.setattr(cache, "library_versions", lambda: {"python": "0", "torch": "0"})
    assert cache.cache_key(cfg, weights) != key


def test_prune_keeps_the_newest_entries(tmp_path):
    import os

    for i, key in enumerate(("a", "b", "c")):
        path = cache.write_entry(tmp_path, key, {"i": i}, {})
        os.utime(path, (1000 + i, 1000 + i))
    removed = cache.prune(tmp_path, keep=2)
    assert [p.name for p in removed] == ["a"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["b", "c"]


def test_write_entry_failure_leaves_nothing(tmp_path):
    with pytest.raises(ValueError):
        cache.write_entry(tmp_path, "k" * 64, {"x": float("nan")}, {})
    assert list(tmp_path.iterdir()) == []


def test_figure_digest_depends_on_data():
    a = np.zeros((2, 3), dtype=np.float32)
    d = cache.figure_digest("attention.attention_heads", {"attn": a, "title": "t"})
    assert d == cache.figure_digest("attention.attention_heads", {"attn": a.copy(), "title": "t"})
    assert d != cache.figure_digest("attention.encoder_maps", {"attn": a, "title": "t"})
    b = a.copy()
    b[0, 0] = 1
    assert d != cache.figure_digest("attention.attention_heads", {"attn": b, "title": "t"})
