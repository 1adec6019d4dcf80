"""The project skeleton: README set-up, CI script, nox sessions and mkdocs config agree."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _setup_commands(readme: str) -> list[str]:
    """Commands in the fenced code blocks of the README's set-up, before the next section."""
    setup = readme.split("\n## ", 2)[1]
    assert setup.startswith("Set-up"), setup[:40]
    commands = []
    for block in re.findall(r"```bash\n(.*?)```", setup, flags=re.DOTALL):
        for line in block.splitlines():
            command = line.split("#", 1)[0].strip()
            if command:
                commands.append(command)
    return commands


def test_readme_opens_with_the_setup_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert _setup_commands(readme) == ["pip install nox", "nox -s docs", "nox -s tests"]


def test_ci_runs_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    lines = [line.strip() for line in script.splitlines()]
    assert lines[0] == "#!/usr/bin/env bash"
    assert "set -euo pipefail" in lines
    assert any(re.match(r"^nox -s tests(\s|$)", line) for line in lines), "no `nox -s tests` line"


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_ci_script_is_executable() -> None:
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


def test_noxfile_defines_the_sessions() -> None:
    noxfile = (ROOT / "noxfile.py").read_text(encoding="utf-8")
    defined = set(re.findall(r"@nox\.session\ndef (\w+)\(", noxfile))
    assert defined >= {"tests", "lint", "docs", "train", "evaluate"}
    assert '"--strict"' in noxfile
    assert "DISABLE_MKDOCS_2_WARNING" in noxfile


def test_mkdocs_config_has_the_required_settings() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for needle in (
        "name: material",
        "font: false",
        "scheme: default",
        "scheme: slate",
        "navigation.sections",
        "- search",
        "- gen-files:",
        "docs/gen_pages.py",
        "- mkdocstrings:",
        "paths: [.]",
        "validation:",
        "anchors: warn",
        "generic: true",
        "permalink: true",
        "pymdownx.superfences",
    ):
        assert needle in config, needle
    watch = re.search(r"^watch:\n((?:  - .*\n)+)", config, flags=re.MULTILINE)
    assert watch is not None
    assert {"physdocs", "templates"} <= {line.strip()[2:] for line in watch.group(1).splitlines()}


def test_mkdocs_config_loads_no_remote_assets() -> None:
    config = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    remote = re.findall(r"^\s*-\s*[\"']?(https?://\S+)", config, flags=re.MULTILINE)
    assert remote == [], f"the site must work offline, but mkdocs.yml loads {remote}"
