"""Packaging hook: the wheel carries the report's site sources, so `physdocs report` works from any folder.

``mkdocs.yml``, ``docs/`` and ``templates/`` live at the repository root (the layout the
project fixes); building the wheel copies them into ``physdocs/_site/``, where
``physdocs.paths.SITE_SOURCES`` finds them. Everything else is in ``pyproject.toml``.
"""

import shutil
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent


class BuildWithSiteSources(build_py):
    def run(self) -> None:
        super().run()
        dest = Path(self.build_lib) / "physdocs" / "_site"
        for name in ("docs", "templates"):
            shutil.copytree(ROOT / name, dest / name, dirs_exist_ok=True,
                            ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        shutil.copy2(ROOT / "mkdocs.yml", dest / "mkdocs.yml")


setup(cmdclass={"build_py": BuildWithSiteSources})
