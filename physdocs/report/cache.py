"""Cache of analysis results and rendered figures.

gen-files re-runs the report script on every build and every `mkdocs serve` reload, and
the analysis takes tens of seconds; so its results are kept under a key of everything they
depend on, and a docs-only edit re-renders in seconds.

An entry lives in ``<cache_dir>/<key>/``: ``results.json`` and ``arrays.npz``, then
``figures/`` (PNGs by digest, and one manifest per figure set), ``explorer-<code>/`` (the
explorer payloads) and ``pages/`` (rendered pages). The key (:func:`cache_key`) is a SHA-256 over everything
the analysis depends on:

* the weights file and its JSON sidecar (the packaged checkpoint when the config names none),
* every ``.py`` file of the ``physdocs`` package below the plots (sorted paths and bytes);
  the layers above the analysis (:data:`ABOVE_ANALYSIS`: plots, report, CLI) cannot change
  its results, so editing them keeps the entry,
* the benchmark data file (``physdocs/data/equations.toml``),
* files a config value names (an evaluation JSON, a training log),
* the analysis config as canonical JSON,
* the versions of python, torch, numpy, scipy, matplotlib and sympy.

``templates/`` is not in the key: a template edit re-renders pages from cached results. The
evaluation JSON is, through the config (the build names it there): the analysis splits the
equations by what the evaluation derives.
Figures are stored by a digest of their inputs and of the plotting code (:func:`figure_digest`),
so a figure is reused exactly when the plot code (resolution included) and its data are the same;
explorer payloads are stored under a digest of the explorer's code (:func:`source_digest`).
Entries are written to a temporary directory and renamed into place, so a reader never
sees half an entry; files added to an existing entry are written one by one the same way.
The stamps of the generated files (:mod:`physdocs.report.stamps`) sit beside the entries.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable, Iterator, Mapping
from importlib import metadata
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from physdocs.paths import BENCHMARK_FILE, DEFAULT_WEIGHTS, PACKAGE_DIR

DEFAULT_CACHE_DIR = Path(".cache/physdocs")
#: Package paths above the analysis (relative to the package): not in the analysis key.
ABOVE_ANALYSIS = ("plots", "report", "cli.py")
LIBRARIES = ("torch", "numpy", "scipy", "matplotlib", "sympy")


class AnalysisConfigLike(Protocol):
    weights: str | None

    def to_dict(self) -> dict[str, Any]: ...


RunFn = Callable[[Any], tuple[dict, Mapping[str, np.ndarray]]]


# ----------------------------------------------------------------- key


def _update_file(h: Any, label: str, path: Path) -> None:
    h.update(f"\0{label}\0".encode())
    if path.is_file():
        h.update(path.read_bytes())
    else:
        h.update(b"<missing>")


def library_versions() -> dict[str, str]:
    """Python and the numeric libraries the analysis uses (read without importing them)."""
    versions = {"python": sys.version}
    for name in LIBRARIES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def analysis_sources(package_dir: Path) -> list[Path]:
    """The package's ``.py`` files the analysis can depend on: all but :data:`ABOVE_ANALYSIS`."""
    return [p for p in sorted(package_dir.rglob("*.py"))
            if p.relative_to(package_dir).parts[0] not in ABOVE_ANALYSIS]


def source_digest(*parts: str) -> str:
    """SHA-256 (hex) of the package sources under ``parts`` (``"plots"``, ``"report/explorer.py"``)."""
    h = hashlib.sha256()
    for part in parts:
        root = PACKAGE_DIR / part
        for path in sorted(root.rglob("*.py")) if root.is_dir() else [root]:
            _update_file(h, path.relative_to(PACKAGE_DIR).as_posix(), path)
    return h.hexdigest()


def weights_path(cfg_dict: Mapping[str, Any]) -> Path:
    """The weights file a config analyses: its ``weights`` entry, else the packaged checkpoint."""
    return Path(cfg_dict["weights"]) if cfg_dict.get("weights") else DEFAULT_WEIGHTS


def cache_key(analysis_cfg_dict: Mapping[str, Any], weights_path: Path | str | None) -> str:
    """SHA-256 (hex) over weights, package source, package data, config and library versions."""
    h = hashlib.sha256(b"physdocs-analysis-cache-v1")
    weights = Path(weights_path) if weights_path is not None else DEFAULT_WEIGHTS
    _update_file(h, "weights", weights)
    _update_file(h, "weights-sidecar", weights.with_suffix(".json"))
    for path in analysis_sources(PACKAGE_DIR):
        _update_file(h, f"src:{path.relative_to(PACKAGE_DIR).as_posix()}", path)
    _update_file(h, "benchmark", BENCHMARK_FILE)
    for name, value in sorted(analysis_cfg_dict.items()):
        if isinstance(value, str) and value and Path(value).is_file():
            _update_file(h, f"config-file:{name}", Path(value))
    config_json = json.dumps(analysis_cfg_dict, sort_keys=True, default=str)
    h.update(b"\0config\0" + config_json.encode())
    h.update(b"\0versions\0" + json.dumps(library_versions(), sort_keys=True).encode())
    return h.hexdigest()


# ----------------------------------------------------------------- entries


class LazyArrays(Mapping[str, np.ndarray]):
    """The arrays of a cache entry, read from ``arrays.npz`` on first access."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._data: dict[str, np.ndarray] | None = None

    def _load(self) -> dict[str, np.ndarray]:
        if self._data is None:
            with np.load(self.path) as npz:
                self._data = {k: npz[k] for k in npz.files}
        return self._data

    def __getitem__(self, key: str) -> np.ndarray:
        return self._load()[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._load())

    def __len__(self) -> int:
        return len(self._load())


def entry_dir(cache_dir: Path | str, key: str) -> Path:
    return Path(cache_dir) / key


def read_entry(cache_dir: Path | str, key: str) -> tuple[dict, LazyArrays] | None:
    """``(results, arrays)`` of a complete entry, or ``None`` when there is none."""
    d = entry_dir(cache_dir, key)
    results, arrays = d / "results.json", d / "arrays.npz"
    if not (results.is_file() and arrays.is_file()):
        return None
    os.utime(d)  # recently used: kept by prune()
    return json.loads(results.read_text(encoding="utf-8")), LazyArrays(arrays)


def write_entry(
    cache_dir: Path | str,
    key: str,
    results: dict,
    arrays: Mapping[str, np.ndarray],
) -> Path:
    """Write an entry atomically (temporary directory, then rename); returns its directory.

    Figures, explorer payloads and pages are added afterwards, file by file (:func:`write_files`).
    """
    cache_dir = Path(cache_dir)
    cache_dir.mkdir(parents=True, exist_ok=True)
    final = entry_dir(cache_dir, key)
    tmp = Path(tempfile.mkdtemp(prefix=f".tmp-{key[:12]}-", dir=cache_dir))
    try:
        (tmp / "results.json").write_text(
            json.dumps(results, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8"
        )
        # Uncompressed: zlib saved a fifth of ~40 MB but cost the cold build 1.2 s to write and
        # every reader 0.8 s to load.
        np.savez(tmp / "arrays.npz", **{k: np.asarray(arrays[k]) for k in sorted(arrays)})
        if final.exists():  # another process finished the same entry first
            shutil.rmtree(final)
        os.rename(tmp, final)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return final


def _canonical(value: Any) -> Any:
    """A JSON-able stand-in for plot inputs: arrays by dtype, shape and a digest of their bytes."""
    if isinstance(value, np.ndarray):
        data = np.ascontiguousarray(value)
        return ["ndarray", str(data.dtype), list(data.shape), hashlib.sha256(data.tobytes()).hexdigest()]
    if isinstance(value, Mapping):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_canonical(v) for v in value]
    if isinstance(value, float | np.floating):
        return repr(float(value))
    if isinstance(value, np.integer):
        return int(value)
    return value


def figure_digest(plot: str, kwargs: Mapping[str, Any], code: str = "") -> str:
    """SHA-256 (hex) of a figure's plot function name, inputs and plotting ``code``.

    ``code`` is a digest of the plotting sources (``source_digest("plots")``), which hold the
    resolution too.
    """
    doc = json.dumps([plot, _canonical(kwargs), code], sort_keys=True, default=str)
    return hashlib.sha256(doc.encode()).hexdigest()


def read_figure(cache_dir: Path | str, key: str, digest: str) -> bytes | None:
    """A cached figure's PNG bytes, or ``None``."""
    return read_file(cache_dir, key, f"figures/{digest}.png")


def read_file(cache_dir: Path | str, key: str, name: str) -> bytes | None:
    """The bytes of a file kept in an entry (``"figures/<digest>.png"``, ``"explorer/<id>.json"``), or None."""
    path = entry_dir(cache_dir, key) / name
    return path.read_bytes() if path.is_file() else None


def write_files(cache_dir: Path | str, key: str, files: Mapping[str, bytes]) -> None:
    """Add files (``{name: bytes}``) to an entry, each written to a temporary file and renamed."""
    root = entry_dir(cache_dir, key)
    for name, data in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise


def prune(cache_dir: Path | str, keep: int = 3) -> list[Path]:
    """Delete all but the ``keep`` most recently used entries; returns what was deleted.

    Every source edit makes a new key, so old entries pile up otherwise.
    """
    root = Path(cache_dir)
    if not root.is_dir():
        return []
    entries = [p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".tmp-")]
    entries.sort(key=lambda p: p.stat().st_mtime, reverse=True)
    removed = entries[keep:]
    for path in removed:
        shutil.rmtree(path, ignore_errors=True)
    return removed

