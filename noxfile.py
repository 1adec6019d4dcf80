"""Build and test entry points: ``nox -s tests``, ``nox -s docs``, ``nox -s lint``.

Every session installs the package itself (flat layout), so the code under test is
the code on disk. ``torch==2.13.0`` is pinned in ``pyproject.toml``; pip's own
configuration decides where the wheel comes from, so sessions use pip-based
virtual environments (nox's default ``virtualenv`` backend) and never name torch.
"""

from __future__ import annotations

import nox

nox.needs_version = ">=2025.2.9"  # nox.project.dependency_groups
nox.options.default_venv_backend = "virtualenv"
nox.options.sessions = ["tests", "lint"]

PYPROJECT = nox.project.load_toml("pyproject.toml")
# mkdocs-gen-files 0.6.1 (via properdocs) and Material 9.8 print MkDocs-2 notices without these.
DOCS_ENV = {"DISABLE_MKDOCS_2_WARNING": "true", "NO_MKDOCS_2_WARNING": "1"}


@nox.session
def tests(session: nox.Session) -> None:
    """Run the test suite; extra arguments go to pytest (``nox -s tests -- -m slow``).

    The docs and browser groups are installed too: the browser tests build a small site
    and drive Debian's Chromium with Playwright (they skip, saying so, without Chromium).
    """
    groups = nox.project.dependency_groups(PYPROJECT, "test", "docs", "browser")
    session.install("-e", ".", *groups)
    session.run("pytest", *session.posargs)


@nox.session
def slow(session: nox.Session) -> None:
    """The slow tests alone (``-m slow``): the browser suite, mkdocs builds, the two-process
    training run and whole pipeline derivations. CI runs them after ``tests``."""
    groups = nox.project.dependency_groups(PYPROJECT, "test", "docs", "browser")
    session.install("-e", ".", *groups)
    session.run("pytest", "-m", "slow", *session.posargs)


@nox.session
def wheel(session: nox.Session) -> None:
    """What `pip install` gives a user: build the wheel, install it into a fresh virtual
    environment outside the checkout, derive from a CSV and build a two-equation report from
    a temporary folder, and check that the site opens offline (``.ci/wheel_check.py``)."""
    session.install("build==1.6.1")
    session.run("python", ".ci/wheel_check.py")


@nox.session
def lint(session: nox.Session) -> None:
    """Check the code with ruff."""
    session.install(*nox.project.dependency_groups(PYPROJECT, "lint"))
    session.run("ruff", "check", "physdocs", "tests", "noxfile.py", "docs", *session.posargs)


@nox.session
def docs(session: nox.Session) -> None:
    """Build the report into ``site/`` with ``--strict``; ``nox -s docs -- serve`` previews it.

    The build goes to a temporary directory that replaces ``site/`` only when it succeeds
    (``physdocs.report.publish``), so a failed build leaves the last good site in place.
    ``SOURCE_DATE_EPOCH`` (default: the last commit's time) makes rebuilds byte-identical.
    """
    session.install("-e", ".", *nox.project.dependency_groups(PYPROJECT, "docs"))
    if session.posargs == ["serve"]:
        # --dirty: a reload rebuilds only the pages that changed (docs/gen_pages.py keeps the
        # modification time of unchanged generated files). mkdocs warns on every dirty build,
        # which strict mode would turn into an error: the preview shows warnings, `nox -s docs`
        # fails on them.
        session.run("mkdocs", "serve", "--dirty", "--no-strict", env=DOCS_ENV)
    elif session.posargs:
        session.error(f"docs takes no arguments or 'serve', got {session.posargs!r}")
    else:
        publish = ("python", "-m", "physdocs.report.publish", "--site-dir", "site", "--")
        session.run(*publish, "mkdocs", "build", "--strict", env=DOCS_ENV)


@nox.session
def train(session: nox.Session) -> None:
    """Reproduce the shipped checkpoint: two CPU processes (DDP, gloo), 85 minutes.

    Extra options go to ``physdocs train``: ``nox -s train -- --minutes 10 --out runs/short``.
    Without options the run ships its weights into ``physdocs/weights/``.
    """
    session.install("-e", ".")
    args = session.posargs or ["--ship", "--out", "runs/default"]
    session.run("torchrun", "--nproc_per_node", "2", "-m", "physdocs.cli", "train", *args)


@nox.session
def evaluate(session: nox.Session) -> None:
    """Evaluate on the benchmark: ``nox -s evaluate -- [physdocs evaluate options]``."""
    session.install("-e", ".")
    session.run("physdocs", "evaluate", *session.posargs)


@nox.session
def causal(session: nox.Session) -> None:
    """Compute the causal page's interventions for the shipped weights into the file the build reads
    (one CPU thread): ``nox -s causal -- [physdocs causal options]``."""
    session.install("-e", ".")
    session.run("physdocs", "causal", *(session.posargs or ["--json", "physdocs/data/causal.json"]))
