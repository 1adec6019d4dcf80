"""API reference pages: one mkdocstrings page per public module of ``physdocs``, and an index.

Modules are listed from the package's files, not by importing them: importing every
subpackage would load torch (seconds) in a build that only needs names. mkdocstrings reads
the modules statically, and a module it cannot read fails the strict build rather than
vanishing from the reference.
"""

from __future__ import annotations

from pathlib import Path

from physdocs.paths import PACKAGE_DIR


def public_modules(package_dir: Path = PACKAGE_DIR, package: str = "physdocs") -> list[str]:
    """Every public module and subpackage under ``package_dir``, sorted; ``_private`` ones are left out.

    A directory without ``__init__.py`` is not a package and is not listed.
    """
    names = []
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir).with_suffix("").parts
        if parts[-1] == "__init__":
            parts = parts[:-1]
        if any(part.startswith("_") for part in parts):
            continue
        # Every directory on the way must be a package.
        if not all((package_dir.joinpath(*parts[:i]) / "__init__.py").is_file() for i in range(len(parts))):
            continue
        names.append(".".join((package, *parts)))
    return sorted(names)


def module_file(name: str, package_dir: Path = PACKAGE_DIR) -> Path:
    """The source file of a module listed by :func:`public_modules` (a package: its ``__init__.py``)."""
    path = package_dir.joinpath(*name.split(".")[1:])
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def reference_sources(modules: list[str] | None = None) -> dict[str, bytes]:
    """``{"reference/<module>.md": source bytes}``: what each reference page shows besides its text."""
    modules = public_modules() if modules is None else modules
    return {f"reference/{name}.md": module_file(name).read_bytes() for name in modules}


def reference_pages(modules: list[str] | None = None) -> dict[str, str]:
    """``{"reference/<module>.md": page}`` for each module, plus ``reference/index.md``."""
    modules = public_modules() if modules is None else modules
    pages = {f"reference/{name}.md": f"# `{name}`\n\n::: {name}\n" for name in modules}
    lines = ["# API reference", "", "One page per public module of the `physdocs` package.", ""]
    lines += [f"- [`{name}`]({name}.md)" for name in modules]
    pages["reference/index.md"] = "\n".join(lines) + "\n"
    return pages
