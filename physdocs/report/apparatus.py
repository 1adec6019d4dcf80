"""The report's apparatus: who wrote it, which version of the code built it, when, and how to cite it.

The version is the installed package's (``importlib.metadata``), so the citation names the
code that computed the numbers. The date is the build's: ``SOURCE_DATE_EPOCH`` when it is set
(``python -m physdocs.report.publish`` and ``nox -s docs`` set it to the last commit's time,
and mkdocs dates the sitemap with it), else the day of the build, as mkdocs does. A rebuild
of the same commit therefore carries the same date, and its pages the same bytes.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import metadata

AUTHOR = "the physdocs authors"
TITLE = "physdocs: PhysDiffuser+ interpretability report"
PACKAGE = "physdocs"


@dataclass(frozen=True)
class About:
    """Author, title, package version (None: not installed) and build date (ISO, UTC)."""

    author: str
    title: str
    version: str | None
    date: str

    @property
    def year(self) -> str:
        return self.date[:4]

    def bibtex(self) -> str:
        """A BibTeX ``@misc`` entry; author and title are braced so BibTeX keeps them as written."""
        version = f"version {self.version}, " if self.version else ""
        fields = [
            ("author", f"{{{self.author}}}"),
            ("title", f"{{{self.title}}}"),
            ("year", self.year),
            *([("version", self.version)] if self.version else []),
            ("note", f"Report built from the {PACKAGE} package, {version}on {self.date}"),
        ]
        body = ",\n".join(f"  {name:<7} = {{{value}}}" for name, value in fields)
        return f"@misc{{{PACKAGE},\n{body}\n}}"

    def to_json(self) -> dict:
        return asdict(self)


def package_version(name: str = PACKAGE) -> str | None:
    """The installed version of ``name`` (None when it is not installed, e.g. run from a bare copy)."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def build_date(env: Mapping[str, str], now: Callable[[], float] = time.time) -> str:
    """The build's date (``YYYY-MM-DD``, UTC): from ``SOURCE_DATE_EPOCH`` when it holds a number, else today."""
    raw = env.get("SOURCE_DATE_EPOCH", "").strip()
    seconds = int(raw) if raw.isdigit() else now()
    return datetime.fromtimestamp(seconds, UTC).date().isoformat()


def about_from_env(env: Mapping[str, str], now: Callable[[], float] = time.time) -> About:
    """This build's :class:`About`: the installed version, the date from ``env``."""
    return About(author=AUTHOR, title=TITLE, version=package_version(), date=build_date(env, now))
