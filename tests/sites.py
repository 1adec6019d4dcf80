"""Helpers for tests that build a small real site with ``mkdocs build`` in a subprocess."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from physdocs.benchmark import DEFAULT_PATH

ROOT = Path(__file__).resolve().parents[1]
#: Fixed build date for reproducible test builds (2026-01-01T00:00:00Z).
EPOCH = "1767225600"
HOSTILE_NAME = "</title><img src=x onerror=alert(1)>"


def benchmark_toml(ids: Sequence[str], names: Mapping[str, str] | None = None) -> str:
    """The packaged ``[[equation]]`` tables of ``ids``, as TOML text, with names replaced by ``names``."""
    text = DEFAULT_PATH.read_text(encoding="utf-8")
    blocks = re.split(r"(?m)^(?=\[\[equation\]\])", text)
    out = []
    for eq_id in ids:
        block = next(b for b in blocks if re.search(rf'(?m)^id = "{eq_id}"$', b))
        block = re.sub(r"(?m)^# =+.*\n", "", block)  # tier banners
        if names and eq_id in names:
            line = 'name = "' + names[eq_id].replace("\\", "\\\\").replace('"', '\\"') + '"'
            block = re.sub(r'(?m)^name = ".*"$', lambda _m, line=line: line, block)
        out.append(block.rstrip() + "\n")
    return "\n".join(out)


def mkdocs_env(tmp: Path, **physdocs: str) -> dict[str, str]:
    """A clean environment for a build: ``PHYSDOCS_<KEY>`` from keyword arguments."""
    env = {
        "PATH": str(Path(sys.executable).parent) + ":/usr/bin:/bin",
        "HOME": str(tmp),
        "DISABLE_MKDOCS_2_WARNING": "true",
        "NO_MKDOCS_2_WARNING": "1",
        "SOURCE_DATE_EPOCH": EPOCH,
        "PHYSDOCS_WORKERS": "1",
    }
    if os.environ.get("PYTHONPATH"):  # the build imports the package the tests import
        env["PYTHONPATH"] = os.environ["PYTHONPATH"]
    env.update({f"PHYSDOCS_{k.upper()}": str(v) for k, v in physdocs.items()})
    return env


def mkdocs() -> str:
    return str(Path(sys.executable).with_name("mkdocs"))


def publish_build(site: Path, env: Mapping[str, str], timeout: float = 900) -> subprocess.CompletedProcess:
    """``python -m physdocs.report.publish --site-dir SITE -- mkdocs build --strict``, as ``nox -s docs``."""
    cmd = [
        sys.executable,
        "-m",
        "physdocs.report.publish",
        "--site-dir",
        str(site),
        "--",
        mkdocs(),
        "build",
        "--strict",
    ]
    return subprocess.run(cmd, cwd=ROOT, env=dict(env), capture_output=True, text=True, timeout=timeout)
