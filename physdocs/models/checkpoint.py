"""Checkpoint IO without pickle: safetensors for tensors, JSON for the rest.

A checkpoint is two files side by side: ``NAME.safetensors`` (model weights) and
``NAME.json`` (system config, metadata and the SHA-256 of the weights file).
Training checkpoints add ``NAME.train.safetensors`` / ``NAME.train.json`` with the
optimiser and RNG state for ``--resume``.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from physdocs.errors import WeightsError
from physdocs.models import PhysDiffuserPlus, SystemConfig
from physdocs.paths import DEFAULT_WEIGHTS


class CheckpointError(WeightsError, RuntimeError):
    """A missing, corrupted or mismatched checkpoint; the message names the file and the fix."""


@dataclass(frozen=True)
class Checkpoint:
    model: PhysDiffuserPlus
    config: SystemConfig
    meta: dict
    path: Path


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def sidecar(path: Path) -> Path:
    return Path(path).with_suffix(".json")


def metrics_log(path: Path) -> Path:
    """The training run's JSONL metrics, shipped beside its weights."""
    return Path(path).with_suffix(".metrics.jsonl")


def skeleton_log(path: Path) -> Path:
    """How often each benchmark skeleton was drawn in training, shipped beside its weights."""
    return Path(path).with_suffix(".skeletons.json")


#: A run directory's skeleton counts (shipped weights carry theirs as ``skeleton_log(weights)``).
RUN_COUNTS = "skeleton_counts.json"


def counts_behind(weights: Path) -> Path | None:
    """The skeleton counts of the run that made ``weights``: shipped beside them, or the run
    directory's (a leg's weights before it ships). None when there are none."""
    weights = Path(weights)
    return next((p for p in (skeleton_log(weights), weights.parent / RUN_COUNTS) if p.exists()), None)


def save_checkpoint(model: PhysDiffuserPlus, path: Path, meta: dict) -> None:
    """Write weights then the JSON sidecar (config, metadata, checksum); atomic per file."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    tmp = path.with_suffix(".safetensors.tmp")
    save_file(tensors, str(tmp), metadata={"format": "physdocs-v1"})
    tmp.replace(path)
    doc = {"config": model.cfg.to_dict(), "meta": meta, "sha256": sha256(path), "weights": path.name}
    tmp_json = sidecar(path).with_suffix(".json.tmp")
    tmp_json.write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")
    tmp_json.replace(sidecar(path))


def load_checkpoint(path: Path | None = None, *, expect: SystemConfig | None = None) -> Checkpoint:
    """Load weights + sidecar, checking presence, checksum, config and every tensor shape."""
    path = Path(path) if path is not None else DEFAULT_WEIGHTS
    fix_train = "run `physdocs train` (or `nox -s train`) to make it, or pass --weights PATH"
    if not path.exists():
        raise CheckpointError(f"weights file {path} is missing: {fix_train}")
    meta_path = sidecar(path)
    if not meta_path.exists():
        raise CheckpointError(f"config file {meta_path} for weights {path} is missing: {fix_train}")
    try:
        doc = json.loads(meta_path.read_text())
        cfg = SystemConfig.from_dict(doc["config"])
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, AssertionError) as exc:
        raise CheckpointError(f"config file {meta_path} is unreadable ({exc}): {fix_train}") from exc
    if sha256(path) != doc.get("sha256"):
        raise CheckpointError(
            f"weights file {path} is corrupted (SHA-256 differs from {meta_path.name}): "
            f"restore it from git (`git checkout -- {path.name}`) or {fix_train}"
        )
    if expect is not None and expect != cfg:
        raise CheckpointError(
            f"weights {path} were trained for another configuration than the one requested: "
            f"use weights made for this configuration or {fix_train}"
        )
    try:
        tensors = load_file(str(path))
    except SafetensorError as exc:
        raise CheckpointError(f"weights file {path} is not a valid safetensors file ({exc}): {fix_train}") from exc
    model = PhysDiffuserPlus(cfg)
    own = model.state_dict()
    missing = sorted(set(own) - set(tensors))
    extra = sorted(set(tensors) - set(own))
    wrong = [k for k in own if k in tensors and tensors[k].shape != own[k].shape]
    if missing or extra or wrong:
        first = (missing or extra or wrong)[0]
        raise CheckpointError(
            f"weights file {path} does not match its config {meta_path.name} "
            f"({len(missing)} missing, {len(extra)} unexpected, {len(wrong)} mis-shaped tensors, e.g. {first!r}): "
            f"{fix_train}"
        )
    model.load_state_dict(tensors)
    model.eval()
    return Checkpoint(model=model, config=cfg, meta=doc.get("meta", {}), path=path)


# ------------------------------------------------------------- training state


def save_training_state(path: Path, optimizer: torch.optim.Optimizer, state: dict) -> None:
    """Optimiser moments and RNG state for resuming, still without pickle."""
    path = Path(path)
    tensors: dict[str, torch.Tensor] = {}
    steps: dict[str, float] = {}
    for i, p_state in optimizer.state_dict()["state"].items():
        for key, value in p_state.items():
            if torch.is_tensor(value) and value.dim() > 0:
                tensors[f"opt.{i}.{key}"] = value.detach().cpu().contiguous()
            else:
                steps[f"{i}.{key}"] = float(value)
    tensors["torch_rng"] = torch.get_rng_state()
    tmp = path.with_suffix(".tmp")
    save_file(tensors, str(tmp))
    tmp.replace(path)
    doc = {"optimizer_scalars": steps, **state}
    sidecar(path).write_text(json.dumps(doc, indent=2, sort_keys=True) + "\n")


def load_training_state(path: Path, optimizer: torch.optim.Optimizer) -> dict:
    path = Path(path)
    if not path.exists() or not sidecar(path).exists():
        raise CheckpointError(f"no training state at {path}: start without --resume")
    tensors = load_file(str(path))
    doc = json.loads(sidecar(path).read_text())
    opt_state = optimizer.state_dict()
    n_params = sum(len(g["params"]) for g in opt_state["param_groups"])
    state: dict[int, dict] = {i: {} for i in range(n_params)}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, i, name = key.split(".", 2)
            state[int(i)][name] = value
    for key, value in doc.pop("optimizer_scalars").items():
        i, name = key.split(".", 1)
        state[int(i)][name] = torch.tensor(value)
    opt_state["state"] = {i: s for i, s in state.items() if s}
    optimizer.load_state_dict(opt_state)
    torch.set_rng_state(tensors["torch_rng"])
    return doc
