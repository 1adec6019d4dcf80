"""Shared fixtures: a tiny random checkpoint so tests never need the shipped weights."""

import subprocess
import sys

import pytest
import torch
from hypothesis import settings

from physdocs.models import DecoderConfig, EncoderConfig, PhysDiffuserPlus, SystemConfig
from physdocs.models.checkpoint import save_checkpoint

# Property tests draw the same examples on every run: CI never flakes on a new example.
settings.register_profile("physdocs", derandomize=True, deadline=None)
settings.load_profile("physdocs")


def assert_runs_clean(code: str) -> None:
    """Run ``code`` in a fresh interpreter (so ``sys.modules`` holds only what it imports)
    and assert that it exits 0; its output is the failure message."""
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr


def tiny_config() -> SystemConfig:
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64)
    return SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)


def tiny_model_on(ids):
    """A random tiny model (seed 0), the analysis' inputs for the benchmark equations ``ids``
    (seed 2026) and the model's memory keys for them: ``(model, inputs, keys)``."""
    from physdocs.analysis.capture import _inputs
    from physdocs.benchmark import get_equation

    torch.manual_seed(0)
    model = PhysDiffuserPlus(tiny_config()).eval()
    inp = _inputs([get_equation(i) for i in ids], 2026, model.cfg.diffuser.max_len)
    with torch.no_grad():
        keys = model.encode(inp.obs).keys
    return model, inp, keys


@pytest.fixture(scope="session")
def tiny_weights(tmp_path_factory):
    """Path to a saved random tiny checkpoint (safetensors + JSON sidecar)."""
    path = tmp_path_factory.mktemp("weights") / "tiny.safetensors"
    torch.manual_seed(0)
    save_checkpoint(PhysDiffuserPlus(tiny_config()), path, {"note": "random tiny test model"})
    return path


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item, call):
    """Keep each phase's report on the item (``item.rep_call``), for fixtures that act on failure."""
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report


@pytest.fixture
def fake_figures(monkeypatch):
    """Figures rendered as placeholder bytes (tests that are not about rendering)."""
    from physdocs.report import figures as F
    from tests.report_fakes import fake_render

    monkeypatch.setattr(F, "render_jobs", fake_render)


@pytest.fixture
def weights(tmp_path):
    """A stand-in weights file for the synthetic analysis."""
    from tests.report_fakes import fake_weights

    return fake_weights(tmp_path)
