"""Generate the report's pages at build time (run by the mkdocs-gen-files plugin).

This script stays thin: all logic is in :mod:`physdocs.report`, where tests reach it.
It builds the report from the analysis (cached under ``.cache/physdocs``; see
``docs/rebuild.md``) and the API reference, and writes each file through gen-files, with a
modification time that changes only with its content (``physdocs.report.stamps``), so
``mkdocs serve --dirty`` rebuilds only the pages that changed.

Environment: PHYSDOCS_EQUATIONS (comma-separated ids, for small builds), PHYSDOCS_BUDGET
(seconds), PHYSDOCS_CACHE_DIR, PHYSDOCS_FIGURES (all | seed-only), PHYSDOCS_WEIGHTS,
PHYSDOCS_BENCHMARK (a benchmark TOML file), PHYSDOCS_EVALUATION, PHYSDOCS_WORKERS.

A :class:`~physdocs.report.build.BuildError` (its message names the cause and the fix) is
raised as mkdocs' ``PluginError``: mkdocs prints that one line and aborts, with no
traceback (``mkdocs build --verbose`` logs it).
"""

from __future__ import annotations

import logging
import os
import sys

import mkdocs_gen_files
from mkdocs.exceptions import PluginError

from physdocs.report.build import BuildError, build_site, config_from_env, write_mode
from physdocs.report.reference import reference_pages, reference_sources
from physdocs.report.stamps import STORE_NAME, apply_stamps

log = logging.getLogger("mkdocs.plugins.physdocs")

cfg = config_from_env(os.environ)
try:
    site = build_site(cfg)
except BuildError as exc:
    log.debug("physdocs report: the build failed", exc_info=True)
    raise PluginError(f"physdocs report: {exc}") from None
log.info("physdocs report: %s", site.timings.summary())
if site.timings.over_budget:  # a warning on stderr, not through mkdocs: --strict must not fail a slow machine
    print(f"WARNING -  physdocs report: {site.timings.over_budget}", file=sys.stderr, flush=True)
files = {**site.files, **reference_pages()}

docs_dir = mkdocs_gen_files.config["docs_dir"]
for path, content in sorted(files.items()):
    with mkdocs_gen_files.open(path, write_mode(path, content, docs_dir)) as f:
        f.write(content)
changed = apply_stamps(mkdocs_gen_files.FilesEditor.current().directory, sorted(files),
                       cfg.cache_dir / STORE_NAME, extra=reference_sources())
log.debug("physdocs report: %d generated files changed since the last build", changed)
