"""Training: batches, corruption, checkpoint IO and its failures, a few-step run, DDP."""

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from physdocs.decoding.diffusion import corrupt
from physdocs.grammar import BOS_ID, MASK_ID
from physdocs.models import PhysDiffuserPlus
from physdocs.models.checkpoint import CheckpointError, counts_behind, load_checkpoint
from physdocs.training.batches import make_batch, token_tensor
from physdocs.training.generator import GeneratorConfig
from physdocs.training.loop import TrainConfig, learning_rate, ship_leg, train
from tests.smoke import smoke_config

from .conftest import tiny_config


def test_make_batch_shapes_and_determinism():
    a = make_batch(np.random.default_rng(1), 8, GeneratorConfig(), 48)
    b = make_batch(np.random.default_rng(1), 8, GeneratorConfig(), 48)
    assert a.obs.shape == (8, 50, 160) and a.tokens.shape == (8, 48)
    assert torch.equal(a.tokens, b.tokens) and torch.equal(a.obs, b.obs)
    assert bool((a.tokens[:, 0] == BOS_ID).all())


def test_token_tensor_refuses_to_cut():
    with pytest.raises(ValueError, match="more than the model's max_len"):
        token_tensor([["BOS", "x1", "EOS"]], 2)


def test_corrupt_keeps_bos_and_masks_at_least_one():
    tokens = token_tensor([["BOS", "mul", "x1", "x2", "EOS"]] * 64, 12)
    noised = corrupt(tokens, torch.Generator().manual_seed(0))
    noisy, t = noised.noisy, noised.t
    assert bool((noisy[:, 0] == BOS_ID).all())
    n_masked = (noisy == MASK_ID).sum(1)
    assert bool((n_masked >= 1).all()) and bool((n_masked <= 3).all())  # equation positions only
    assert bool(((t > 0) & (t <= 1)).all())
    kept = noisy != MASK_ID
    assert torch.equal(noisy[kept], tokens[kept])
    assert float(torch.corrcoef(torch.stack([t, n_masked.float()]))[0, 1]) > 0.9


def test_learning_rate_warms_up_and_decays():
    cfg = TrainConfig()
    assert learning_rate(cfg, 0, 0.0) < learning_rate(cfg, cfg.warmup_steps - 1, 0.0)
    assert learning_rate(cfg, 10_000, 0.5) > learning_rate(cfg, 10_000, 0.99)
    assert learning_rate(cfg, 10_000, 1.0) == pytest.approx(cfg.lr * cfg.min_lr_ratio)


def test_checkpoint_round_trip(tiny_weights):
    ckpt = load_checkpoint(tiny_weights)
    assert ckpt.config == tiny_config()
    torch.manual_seed(0)
    fresh = PhysDiffuserPlus(tiny_config())
    for k, v in fresh.state_dict().items():
        assert torch.equal(v, ckpt.model.state_dict()[k])


def test_missing_weights_name_the_file_and_the_fix(tmp_path):
    with pytest.raises(CheckpointError, match=r"nope\.safetensors is missing: run `physdocs train`"):
        load_checkpoint(tmp_path / "nope.safetensors")


def test_corrupted_weights_fail_the_checksum(tiny_weights, tmp_path):
    bad = tmp_path / "bad.safetensors"
    shutil.copy(tiny_weights, bad)
    shutil.copy(tiny_weights.with_suffix(".json"), bad.with_suffix(".json"))
    data = bytearray(bad.read_bytes())
    data[-10] ^= 0xFF
    bad.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="corrupted"):
        load_checkpoint(bad)


def test_weights_for_another_config_fail_clearly(tiny_weights, tmp_path):
    other = tmp_path / "other.safetensors"
    shutil.copy(tiny_weights, other)
    doc = json.loads(tiny_weights.with_suffix(".json").read_text())
    doc["config"]["encoder"]["d_model"] = 64  # config says 64, tensors are 32 wide
    other.with_suffix(".json").write_text(json.dumps(doc))
    with pytest.raises(CheckpointError, match="does not match its config"):
        load_checkpoint(other)
    with pytest.raises(CheckpointError, match="another configuration"):
        load_checkpoint(tiny_weights, expect=replace(tiny_config(), memory="pooled"))


def test_checkpoints_are_never_unpickled(tiny_weights):
    assert tiny_weights.read_bytes()[:8] != b"\x80\x04\x95"  # not a pickle stream
    doc = json.loads(tiny_weights.with_suffix(".json").read_text())
    assert set(doc) == {"config", "meta", "sha256", "weights"}


def test_few_step_training_run_and_resume(tmp_path):
    cfg = smoke_config(str(tmp_path / "run"), steps=3)
    meta = train(cfg, progress_bar=False)
    assert meta["step"] == 3 and meta["final"]
    log = [json.loads(line) for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert any(r["kind"] == "val" for r in log)
    assert all(np.isfinite(r["ar_loss"]) for r in log)
    meta = train(replace(cfg, max_steps=5), resume=True, progress_bar=False)
    assert meta["step"] == 5
    steps = [json.loads(line)["step"] for line in (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()]
    assert steps == sorted(steps)  # records past the resumed checkpoint are not kept twice
    assert load_checkpoint(tmp_path / "run" / "physdiffuser.safetensors").meta["step"] == 5
    # shipping the run as a leg: its records follow the shipped log's, marked with the leg
    target = tmp_path / "weights" / "physdiffuser.safetensors"
    target.parent.mkdir()
    shutil.copyfile(tmp_path / "run" / "physdiffuser.safetensors", target)
    target.with_suffix(".metrics.jsonl").write_text(json.dumps({"kind": "train", "step": 100, "elapsed": 50.0}) + "\n")
    ship_leg(tmp_path / "run", "next", target)
    shipped = [json.loads(line) for line in target.with_suffix(".metrics.jsonl").read_text().splitlines()]
    assert shipped[0] == {"kind": "train", "step": 100, "elapsed": 50.0}
    assert [r["step"] for r in shipped[1:]] == [s + 100 for s in steps] and {r["leg"] for r in shipped[1:]} == {"next"}
    assert load_checkpoint(target).meta["step"] == 5 and target.with_suffix(".skeletons.json").exists()
    # a leg from the run directory's weights carries that run's skeleton counts
    run_counts = json.loads((tmp_path / "run" / "skeleton_counts.json").read_text())
    leg = replace(cfg, out_dir=str(tmp_path / "leg"), max_steps=1,
                  init_weights=str(tmp_path / "run" / "physdiffuser.safetensors"))
    train(leg, progress_bar=False)
    leg_counts = json.loads((tmp_path / "leg" / "skeleton_counts.json").read_text())
    assert leg_counts["samples"] == run_counts["samples"] + cfg.batch_size
    assert all(leg_counts["counts"].get(k, 0) >= n for k, n in run_counts["counts"].items())
    bare = tmp_path / "bare" / "physdiffuser.safetensors"
    bare.parent.mkdir()
    shutil.copyfile(tmp_path / "run" / "physdiffuser.safetensors", bare)
    with pytest.raises(FileNotFoundError, match="no skeleton counts"):
        train(replace(leg, out_dir=str(tmp_path / "leg2"), init_weights=str(bare)), progress_bar=False)
    # the counts an evaluation's audit reads: shipped beside the weights, else the run's, else none
    assert counts_behind(target) == target.with_suffix(".skeletons.json")
    assert counts_behind(tmp_path / "leg" / "physdiffuser.safetensors") == tmp_path / "leg" / "skeleton_counts.json"
    assert counts_behind(bare) is None


@pytest.mark.slow  # a whole pipeline, mkdocs build or process group: `nox -s slow`
def test_ddp_two_cpu_processes(tmp_path):
    script = tmp_path / "ddp.py"
    out = tmp_path / "ddp"
    script.write_text(
        f"import sys; sys.path.insert(0, {str(Path(__file__).resolve().parents[1])!r})\n"
        "from physdocs.training.loop import train\n"
        "from tests.smoke import smoke_config\n"
        "from dataclasses import replace\n"
        # checkpoint_minutes=0: a checkpoint after every step, which both ranks must agree on
        f"cfg = replace(smoke_config({str(out)!r}, steps=3), checkpoint_minutes=0.0)\n"
        "print('WORLD', train(cfg, progress_bar=False)['world_size'])\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    # One retry: once in several CI runs a gloo rank aborted (SIGABRT) under load, never
    # reproduced on its own; a real fault fails both tries.
    for _ in range(2):
        shutil.rmtree(out, ignore_errors=True)
        proc = subprocess.run(
            [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", str(script)],
            capture_output=True, text=True, timeout=300, env=env,
        )
        if proc.returncode == 0:
            break
    assert proc.returncode == 0, proc.stderr[-4000:]
    assert proc.stdout.count("WORLD 2") == 2
    assert load_checkpoint(out / "physdiffuser.safetensors").meta["world_size"] == 2


def test_bucketed_batches_group_similar_lengths_and_keep_every_equation():
    from physdocs.grammar import PAD_ID
    from physdocs.training.batches import BucketedBatches, make_batch
    from physdocs.training.generator import GeneratorConfig

    cfg = GeneratorConfig()
    bk = BucketedBatches(np.random.default_rng(5), 16, cfg, 48, buckets=4)
    batches = [next(bk) for _ in range(4)]
    whole = make_batch(np.random.default_rng(5), 64, cfg, 48)  # the same draws, ungrouped
    assert sorted(s for b in batches for s in b.skeletons) == sorted(whole.skeletons)
    longest = sorted(int((b.tokens != PAD_ID).sum(1).max()) for b in batches)
    assert sum(longest) < 4 * int((whole.tokens != PAD_ID).sum(1).max())  # less padding than one random mix
    assert all(b.obs.shape == (16, 50, 160) and b.tokens.shape == (16, 48) for b in batches)
