"""API reference pages: one mkdocstrings page per public module of ``physdocs``, and an index."""

from __future__ import annotations

import pkgutil

import physdocs


def _raise(name: str) -> None:
    raise ImportError(f"cannot import subpackage {name!r} while listing physdocs modules")


def public_modules() -> list[str]:
    """Every public module, sorted.

    A package that fails to import stops the build (``walk_packages`` would otherwise skip
    it silently), and a module mkdocstrings cannot read fails the strict build, rather than
    vanishing from the reference.
    """
    return sorted(
        info.name
        for info in pkgutil.walk_packages(physdocs.__path__, prefix="physdocs.", onerror=_raise)
        if not any(part.startswith("_") for part in info.name.split("."))
    )


def reference_pages(modules: list[str] | None = None) -> dict[str, str]:
    """``{"reference/<module>.md": page}`` for each module, plus ``reference/index.md``."""
    modules = public_modules() if modules is None else modules
    pages = {f"reference/{name}.md": f"# `{name}`\n\n::: {name}\n" for name in modules}
    lines = ["# API reference", "", "One page per public module of the `physdocs` package.", ""]
    lines += [f"- [`{name}`]({name}.md)" for name in modules]
    pages["reference/index.md"] = "\n".join(lines) + "\n"
    return pages
