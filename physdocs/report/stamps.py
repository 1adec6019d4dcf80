"""Stable modification times for the generated files, so ``mkdocs serve --dirty`` rebuilds only what changed.

mkdocs-gen-files writes every generated file afresh on each build, so each looks newer than
the page built from it, and a dirty build (``mkdocs serve --dirty``) would rebuild them all.
:func:`stamp_times` gives each file the time its content was first seen instead: a file whose
content (and, for an API reference page, whose module's source) is unchanged keeps its old
time and is skipped; a changed one gets the current time and is rebuilt. Full builds
(``mkdocs build``, ``nox -s docs``) rebuild everything and are not affected.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path

STORE_NAME = "stamps.json"


def content_digest(data: bytes, extra: bytes = b"") -> str:
    """SHA-256 (hex) of a file's bytes and of anything else its page depends on (``extra``)."""
    return hashlib.sha256(data + b"\0" + extra).hexdigest()


def stamp_times(digests: Mapping[str, str], known: Mapping[str, tuple[str, float]], now: float
                ) -> dict[str, tuple[str, float]]:
    """``{path: (digest, time)}``: the known time where the digest is unchanged, else ``now``."""
    return {path: known[path] if path in known and known[path][0] == digest else (digest, now)
            for path, digest in digests.items()}


def read_store(path: Path) -> dict[str, tuple[str, float]]:
    """The stamps kept at ``path``; an unreadable or missing store is empty (everything rebuilds)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return {p: (str(d), float(t)) for p, (d, t) in data.items()}
    except (OSError, ValueError, TypeError):
        return {}


def write_store(path: Path, stamps: Mapping[str, tuple[str, float]]) -> None:
    """Write the stamps atomically (a temporary file renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-stamps-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            json.dump({p: list(v) for p, v in sorted(stamps.items())}, f)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def apply_stamps(directory: Path | str, paths: list[str], store: Path, extra: Mapping[str, bytes] | None = None,
                 now: float | None = None) -> int:
    """Set the modification time of each generated file under ``directory``; returns how many changed.

    ``extra[path]``: bytes the page also depends on (an API reference page: its module's source).
    """
    directory, extra = Path(directory), extra or {}
    digests = {p: content_digest((directory / p).read_bytes(), extra.get(p, b"")) for p in paths}
    known = read_store(store)
    stamps = stamp_times(digests, known, time.time() if now is None else now)
    for path, (_, mtime) in stamps.items():
        os.utime(directory / path, (mtime, mtime))
    write_store(store, {**known, **stamps})
    return sum(1 for p in paths if known.get(p) != stamps[p])
