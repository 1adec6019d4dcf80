"""Generate the report's pages at build time (run by the mkdocs-gen-files plugin).

This script stays thin: it loops over data the package provides and writes pages.
Today it writes one API reference page per public module of ``physdocs``.
"""

from __future__ import annotations

import pkgutil

import mkdocs_gen_files

import physdocs


def _raise(name: str) -> None:
    raise ImportError(f"cannot import subpackage {name!r} while listing physdocs modules")


# Every public module is listed: a package that fails to import stops the build
# (walk_packages would otherwise skip it silently) and a module that mkdocstrings
# cannot read fails the strict build, rather than vanishing from the reference.
modules = sorted(
    info.name
    for info in pkgutil.walk_packages(physdocs.__path__, prefix="physdocs.", onerror=_raise)
    if not any(part.startswith("_") for part in info.name.split("."))
)

for name in modules:
    with mkdocs_gen_files.open(f"reference/{name}.md", "w") as page:
        page.write(f"# `{name}`\n\n::: {name}\n")
