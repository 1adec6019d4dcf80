"""Where the package keeps its data: one place, no imports, so any layer may read it."""

from __future__ import annotations

import hashlib
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BENCHMARK_FILE = PACKAGE_DIR / "data" / "equations.toml"
EVALUATION_FILE = PACKAGE_DIR / "data" / "evaluation.json"
#: The causal interventions for the shipped weights (``physdocs causal --json`` writes it).
CAUSAL_FILE = PACKAGE_DIR / "data" / "causal.json"
#: The equal-time comparison for the shipped weights (``benchmarks/equal_time.py --out`` writes it).
EQUAL_TIME_FILE = PACKAGE_DIR / "data" / "equal_time.json"
DEFAULT_WEIGHTS = PACKAGE_DIR / "weights" / "physdiffuser.safetensors"

#: The report's site sources (``mkdocs.yml``, ``docs/``, ``templates/``). An installed wheel
#: carries them as package data under ``physdocs/_site`` (``setup.py`` copies them in); a
#: checkout (and an editable install) uses the repository's own.
_PACKAGED_SITE = PACKAGE_DIR / "_site"
SITE_SOURCES = _PACKAGED_SITE if (_PACKAGED_SITE / "mkdocs.yml").is_file() else PACKAGE_DIR.parent
TEMPLATES_DIR = SITE_SOURCES / "templates"


def source_sha256() -> str:
    """SHA-256 (hex) over the package's Python source: a code change invalidates what was
    computed and cached from it (evaluations, causal interventions)."""
    h = hashlib.sha256()
    for path in sorted(PACKAGE_DIR.rglob("*.py")):
        h.update(str(path.relative_to(PACKAGE_DIR)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()
