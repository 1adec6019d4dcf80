"""Where the package keeps its data: one place, no imports, so any layer may read it."""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
BENCHMARK_FILE = PACKAGE_DIR / "data" / "equations.toml"
EVALUATION_FILE = PACKAGE_DIR / "data" / "evaluation.json"
DEFAULT_WEIGHTS = PACKAGE_DIR / "weights" / "physdiffuser.safetensors"
