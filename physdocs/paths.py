"""Where the package keeps its data: one place, no imports, so any layer may read it."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BENCHMARK_FILE = PACKAGE_DIR / "data" / "equations.toml"
EVALUATION_FILE = PACKAGE_DIR / "data" / "evaluation.json"
DEFAULT_WEIGHTS = PACKAGE_DIR / "weights" / "physdiffuser.safetensors"

#: The report's site sources (``mkdocs.yml``, ``docs/``, ``templates/``). An installed wheel
#: carries them as package data under ``physdocs/_site`` (``setup.py`` copies them in); a
#: checkout (and an editable install) uses the repository's own.
_PACKAGED_SITE = PACKAGE_DIR / "_site"
SITE_SOURCES = _PACKAGED_SITE if (_PACKAGED_SITE / "mkdocs.yml").is_file() else PACKAGE_DIR.parent
TEMPLATES_DIR = SITE_SOURCES / "templates"
