"""Publish a site build atomically: build into a temporary directory, then swap it into place.

``nox -s docs`` runs ``python -m physdocs.report.publish --site-dir site -- mkdocs build --strict``:
the command gets ``--site-dir <temporary directory>`` appended, and only when it succeeds is
that directory renamed to ``site/`` (the previous one is removed after the swap). A failed
build leaves the previous ``site/`` exactly as it was and no temporary directory behind.

Builds are made reproducible with ``SOURCE_DATE_EPOCH`` (mkdocs dates ``sitemap.xml`` and
stamps ``sitemap.xml.gz`` with it): when the environment does not set it, it is the time of
the last git commit, or :data:`FALLBACK_EPOCH` outside a git checkout.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

#: 2026-01-01T00:00:00Z: the date stamped on a build made outside a git checkout.
FALLBACK_EPOCH = 1767225600


def build_and_swap(build: Callable[[Path], None], site_dir: Path | str) -> Path:
    """Run ``build(tmp)`` into a fresh directory beside ``site_dir``; on success make it ``site_dir``.

    ``build`` raises on failure: the temporary directory is removed, ``site_dir`` is left
    untouched and the exception propagates. Returns ``site_dir``. The swap is two renames
    on one file system (old site aside, new site in place), then the old site is deleted.
    """
    site = Path(site_dir).absolute()
    site.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{site.name}.tmp-", dir=site.parent))
    try:
        build(tmp)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    umask = os.umask(0)
    os.umask(umask)
    tmp.chmod(0o777 & ~umask)  # mkdtemp makes it private; a site is readable like any directory
    old = None
    if site.exists():
        old = Path(tempfile.mkdtemp(prefix=f".{site.name}.old-", dir=site.parent))
        os.replace(site, old / site.name)
    os.replace(tmp, site)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return site


def source_date_epoch(root: Path | str = ".") -> str:
    """``SOURCE_DATE_EPOCH`` for a build of ``root``: its last commit's time, else :data:`FALLBACK_EPOCH`."""
    try:
        out = subprocess.run(
            ["git", "-C", str(root), "log", "-1", "--format=%ct"],
            capture_output=True,
            text=True,
            timeout=30,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        out = ""
    return out if out.isdigit() else str(FALLBACK_EPOCH)


def build_env(env: Mapping[str, str], root: Path | str = ".") -> dict[str, str]:
    """``env`` with ``SOURCE_DATE_EPOCH`` set (kept when already there)."""
    out = dict(env)
    if not out.get("SOURCE_DATE_EPOCH", "").strip():
        out["SOURCE_DATE_EPOCH"] = source_date_epoch(root)
    return out


def run_build(command: Sequence[str], site_dir: Path | str, env: Mapping[str, str] | None = None) -> int:
    """Run ``command --site-dir TMP`` through :func:`build_and_swap`; returns its exit status."""
    env = build_env(os.environ if env is None else env)

    def build(tmp: Path) -> None:
        subprocess.run([*command, "--site-dir", str(tmp)], env=env, check=True)

    try:
        build_and_swap(build, site_dir)
    except subprocess.CalledProcessError as exc:
        print(
            f"publish: the build failed (exit {exc.returncode}); {site_dir}/ was left as it was",
            file=sys.stderr,
        )
        return exc.returncode or 1
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m physdocs.report.publish",
        description="Build a site into a temporary directory and swap it into place only on success.",
    )
    parser.add_argument("--site-dir", default="site", help="the published site directory (default: site)")
    parser.add_argument("command", nargs="+", help="the build command; --site-dir TMP is appended")
    args = parser.parse_args(argv)
    return run_build(args.command, args.site_dir)


if __name__ == "__main__":
    sys.exit(main())
