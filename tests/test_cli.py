"""The physdocs command line: listings, derive, and one-line user errors."""

import json
import subprocess
import sys

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
