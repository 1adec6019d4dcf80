"""The report's site configuration for a build outside the repository (an installed package).

``physdocs report`` in a folder of one's own has no ``mkdocs.yml`` beside it. The packaged
site sources (:data:`physdocs.paths.SITE_SOURCES`) are copied into a build folder, and the
configuration's paths that point into the repository (the nav hook, the watched folders,
the API reference's search path) are made absolute, pointing into the installed package.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from physdocs.paths import PACKAGE_DIR, SITE_SOURCES, TEMPLATES_DIR


def site_config(text: str) -> dict:
    """``mkdocs.yml``'s content with its repository paths made absolute (installed package)."""
    import yaml

    cfg = yaml.safe_load(text)
    cfg["hooks"] = [str(PACKAGE_DIR / "report" / "navhook.py")]
    cfg["watch"] = [str(PACKAGE_DIR), str(TEMPLATES_DIR)]
    for plugin in cfg.get("plugins", []):
        if isinstance(plugin, dict) and "mkdocstrings" in plugin:
            plugin["mkdocstrings"]["handlers"]["python"]["paths"] = [str(PACKAGE_DIR.parent)]
    return cfg


def prepare_config(build_dir: Path) -> Path:
    """Write the site sources into ``build_dir`` (replacing an older copy); return its ``mkdocs.yml``."""
    import yaml

    build_dir = Path(build_dir).resolve()
    docs = build_dir / "docs"
    if docs.exists():
        shutil.rmtree(docs)
    shutil.copytree(SITE_SOURCES / "docs", docs, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    config = build_dir / "mkdocs.yml"
    cfg = site_config((SITE_SOURCES / "mkdocs.yml").read_text(encoding="utf-8"))
    config.write_text(yaml.safe_dump(cfg, sort_keys=False, allow_unicode=True), encoding="utf-8")
    return config
