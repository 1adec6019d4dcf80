"""PhysDiffuser+: physics-equation derivation and the interpretability report built from it.

``from physdocs import derive`` derives a formula from your own arrays (:func:`physdocs.api.derive`);
it is imported on first use, so ``import physdocs`` stays light (no torch).
"""

from __future__ import annotations

from typing import Any

__all__ = ["derive"]


def __getattr__(name: str) -> Any:
    if name == "derive":
        from physdocs.api import derive

        return derive
    raise AttributeError(f"module 'physdocs' has no attribute {name!r}")
