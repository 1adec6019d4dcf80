"""The physdocs command line: listings, derive, and one-line user errors."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from physdocs.cli import main


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "physdocs.cli", *args], capture_output=True, text=True, timeout=300)


def test_equations_json_lists_the_benchmark(capsys):
    assert main(["equations", "--json"]) == 0
    eqs = json.loads(capsys.readouterr().out)
    assert len(eqs) == 120
    counts = {t: sum(e["tier"] == t for e in eqs) for t in ("trivial", "simple", "moderate", "complex", "multi_step")}
    assert counts == {"trivial": 20, "simple": 25, "moderate": 30, "complex": 25, "multi_step": 20}
    assert eqs[0]["id"] == "feynman_001" and eqs[0]["formula"] == "m*c**2"


def test_equations_by_tier(capsys):
    assert main(["equations", "--tier", "multi_step"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert len(lines) == 20 and lines[0].startswith("feynman_101")


def test_derive_with_given_weights_json(tiny_weights, capsys):
    assert main(["derive", "feynman_001", "--decoder", "diffusion", "--weights", str(tiny_weights), "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["equation"] == "feynman_001"
    assert doc["status"] in ("valid", "repaired", "rejected")
    if doc["source"].startswith("refine"):  # a refinement proposal has no trajectory of its own
        assert doc["trajectory"] is None
    else:
        assert len(doc["trajectory"]["tokens"]) == 21  # initial canvas + 20 steps
    assert doc["seconds"] > 0


def test_unknown_equation_is_one_clear_line():
    proc = run_cli("derive", "feynman_999")
    assert proc.returncode != 0
    assert "Traceback" not in proc.stderr
    assert proc.stderr.strip().count("\n") == 0 and "feynman_999" in proc.stderr


def test_missing_weights_is_one_clear_line(tmp_path):
    proc = run_cli("derive", "feynman_001", "--weights", str(tmp_path / "none.safetensors"))
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and "none.safetensors is missing" in proc.stderr


@pytest.mark.parametrize("decoder", ["ar", "diffusion"])
def test_derive_text_output(tiny_weights, capsys, decoder):
    assert main(["derive", "feynman_002", "--decoder", decoder, "--weights", str(tiny_weights)]) == 0
    out = capsys.readouterr().out
    assert "R2 (held-out points)" in out and f"decoder: {decoder}" in out


CUSTOM = """
[[equation]]
id = "feynman_001"
name = "Ohm's law"
tier = "trivial"
output = "V"
formula = "I*R"
variables = [
  { name = "I", meaning = "current", low = 1.0, high = 5.0 },
  { name = "R", meaning = "resistance", low = 1.0, high = 5.0 },
]
"""


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_report_for_own_equations_and_weights_builds_their_pages(tmp_path, tiny_weights, monkeypatch):
    from tests.sites import ROOT

    eqs = tmp_path / "mine.toml"
    eqs.write_text(CUSTOM)
    site = tmp_path / "site"
    monkeypatch.chdir(ROOT)
    monkeypatch.setenv("PHYSDOCS_WORKERS", "1")
    monkeypatch.setenv("PHYSDOCS_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["report", "--equations", str(eqs), "--weights", str(tiny_weights), "--site-dir", str(site),
                 "--cache-dir", str(tmp_path / "cache"), "--no-evaluate"]) == 0
    page = (site / "equations" / "feynman_001" / "index.html").read_text()
    assert "Ohm" in page and not (site / "equations" / "feynman_002").exists()


def test_report_refuses_a_bad_equations_file_in_one_line(tmp_path, capsys, monkeypatch):
    from tests.sites import ROOT

    eqs = tmp_path / "bad.toml"
    eqs.write_text(CUSTOM.replace("I*R", "I*tanh(R)"))
    monkeypatch.chdir(ROOT)
    assert main(["report", "--equations", str(eqs)]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "tanh" in err and str(eqs) in err


def test_cached_evaluation_is_computed_once(tmp_path, tiny_weights):
    from physdocs.evaluation import EvalConfig, cached_evaluation

    eqs = tmp_path / "mine.toml"
    eqs.write_text(CUSTOM)
    cfg = EvalConfig(weights=str(tiny_weights), benchmark=str(eqs), parts=("benchmark",), workers=1,
                     n_samples=2, beam_size=2, ar_samples=2, restarts=1, refine=None, models=("trained",))
    path = cached_evaluation(cfg, tmp_path / "cache", progress=False)
    doc = json.loads(path.read_text())
    assert {r["id"] for r in doc["results"]} == {"feynman_001"} and doc["meta"]["benchmark"] == "mine.toml"
    stamp = path.stat().st_mtime_ns
    assert cached_evaluation(cfg, tmp_path / "cache", progress=False) == path and path.stat().st_mtime_ns == stamp


def test_the_report_configuration_outside_a_checkout_points_into_the_package(tmp_path):
    """`physdocs report` in a folder of one's own: the site sources are written there, with
    every path that pointed into the repository made absolute (into the installed package)."""
    from physdocs.paths import PACKAGE_DIR
    from physdocs.report.site_sources import prepare_config

    config = prepare_config(tmp_path / "site-src")
    import yaml

    cfg = yaml.safe_load(config.read_text())
    assert cfg["hooks"] == [str(PACKAGE_DIR / "report" / "navhook.py")]
    assert all(Path(p).is_absolute() and Path(p).exists() for p in cfg["watch"])
    assert (config.parent / "docs" / "gen_pages.py").is_file() and (config.parent / "docs" / "methodology.md").is_file()
    handler = next(p["mkdocstrings"] for p in cfg["plugins"] if isinstance(p, dict) and "mkdocstrings" in p)
    assert handler["handlers"]["python"]["paths"] == [str(PACKAGE_DIR.parent)]


def test_the_report_without_its_extra_says_which_to_install(monkeypatch, capsys):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "mkdocs" else real(name, *a))
    assert main(["report", "--no-evaluate"]) == 2
    assert "pip install 'physdocs[report]'" in capsys.readouterr().err


def test_a_benchmark_derivation_is_written_with_the_equations_own_names(capsys):
    assert main(["derive", "feynman_003", "--budget", "0.25"]) == 0
    out = capsys.readouterr().out
    predicted = next(line for line in out.splitlines() if line.startswith("predicted:"))
    assert "V = I*R" in predicted or "V = R*I" in predicted
    assert not any(f"x{i}" in out for i in range(1, 10))


def test_report_for_other_weights_computes_their_causal_interventions(tmp_path, tiny_weights, monkeypatch):
    """`physdocs report --weights` hands the build interventions made on those weights, or none with --no-causal."""
    from physdocs.analysis import causal_artifact
    from tests.sites import ROOT

    made, envs = [], []
    monkeypatch.chdir(ROOT)
    monkeypatch.setattr(causal_artifact, "cached_causal", lambda cfg, cache: made.append(cfg) or tmp_path / "c.json")
    monkeypatch.setattr(subprocess, "run", lambda cmd, env: envs.append(env) or subprocess.CompletedProcess(cmd, 0))
    args = ["report", "--weights", str(tiny_weights), "--no-evaluate", "--site-dir", str(tmp_path / "site")]
    assert main(args) == 0
    assert made[0].weights == str(tiny_weights.resolve()) and envs[0]["PHYSDOCS_CAUSAL"] == str(tmp_path / "c.json")
    assert main([*args, "--no-causal"]) == 0
    assert len(made) == 1 and "PHYSDOCS_CAUSAL" not in envs[1]


def test_derive_never_runs_more_threads_than_its_cores(monkeypatch):
    """Pinned to one core, two threads only wait for each other: derive takes one."""
    import os

    from physdocs.cli import MAX_DERIVE_THREADS, derive_threads

    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: {0}, raising=False)
    assert derive_threads() == 1
    monkeypatch.setattr(os, "sched_getaffinity", lambda pid: set(range(16)), raising=False)
    assert derive_threads() == MAX_DERIVE_THREADS == 2
