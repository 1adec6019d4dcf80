"""Joint training of encoder + PhysDiffuser + AR decoder; single process or DDP.

The schedule runs on ``progress = max(step / max_steps, elapsed / budget)`` so a
run bounded by ``--minutes`` still warms up, decays and ends on time.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
import torch.nn.functional as F
from tqdm import tqdm

from physdocs.constants import DEFAULT_SEED
from physdocs.decoding.diffusion import corrupt, equation_positions
from physdocs.grammar import MASK_ID, PAD_ID
from physdocs.models import PhysDiffuserPlus, SystemConfig, count_parameters
from physdocs.models.checkpoint import (
    DEFAULT_WEIGHTS,
    RUN_COUNTS,
    counts_behind,
    load_training_state,
    metrics_log,
    save_checkpoint,
    save_training_state,
    sidecar,
    skeleton_log,
)
from physdocs.training.batches import Batch, BucketedBatches, make_batch
from physdocs.training.generator import GeneratorConfig, SkeletonIndex


@dataclass(frozen=True)
class TrainConfig:
    system: SystemConfig = field(default_factory=SystemConfig)
    generator: GeneratorConfig = field(default_factory=GeneratorConfig)
    batch_size: int = 64
    lr: float = 6e-4
    weight_decay: float = 0.01
    warmup_steps: int = 300
    max_steps: int = 200_000
    minutes: float = 110.0
    min_lr_ratio: float = 0.05
    grad_clip: float = 1.0
    val_every: int = 250
    val_batches: int = 4
    checkpoint_minutes: float = 5.0
    seed: int = DEFAULT_SEED
    out_dir: str = "runs/default"
    # The diffuser learns to correct as well as to fill: this share of the visible equation
    # tokens is replaced by wrong ones, and every equation position is a target (the
    # sampler's revision re-predicts fixed tokens). 0 = fill only, as before.
    diff_replace: float = 0.1
    # Weight of the length head's cross-entropy (the EOS position) in the loss.
    length_weight: float = 0.5
    # One intra-op thread per process: with more, any other load on the cores makes
    # OpenMP barriers stall (measured here: 0.6 s/step became 6 s/step).
    threads: int = 1
    # Batches of similar length (training.batches.BucketedBatches); 1 = batches as drawn.
    length_buckets: int = 4
    # Start a new leg from these weights (fresh optimiser and schedule), e.g. the shipped
    # checkpoint on a changed data distribution; ignored when resuming a leg.
    init_weights: str | None = None

    def __post_init__(self) -> None:
        names = ("batch_size", "lr", "minutes", "max_steps", "val_every", "val_batches", "threads", "length_buckets")
        bad = {k: getattr(self, k) for k in names if not getattr(self, k) > 0}
        for k in ("diff_replace", "length_weight"):
            if getattr(self, k) < 0:
                bad[k] = getattr(self, k)
        if self.diff_replace >= 1:
            bad["diff_replace"] = self.diff_replace
        if bad:
            raise ValueError(
                f"TrainConfig values must be positive (length_weight >= 0, "
                f"0 <= diff_replace < 1); got {bad}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> TrainConfig:
        d = dict(d)
        # PAD is no longer a diffusion target (the canvas ends at EOS), so its weight went.
        d.pop("diff_pad_weight", None)
        d["system"] = SystemConfig.from_dict(d["system"]) if "system" in d else SystemConfig()
        d["generator"] = GeneratorConfig(**d.get("generator", {}))
        return cls(**d)


def learning_rate(cfg: TrainConfig, step: int, progress: float) -> float:
    if step < cfg.warmup_steps:
        return cfg.lr * (step + 1) / cfg.warmup_steps
    cos = 0.5 * (1 + math.cos(math.pi * min(progress, 1.0)))
    return cfg.lr * (cfg.min_lr_ratio + (1 - cfg.min_lr_ratio) * cos)


def batch_losses(
    model, batch: Batch, device, generator=None, *, replace: float = 0.0, length_weight: float = 0.5,
    obs: torch.Tensor | None = None,
) -> dict[str, torch.Tensor]:
    """Masked-diffusion loss on a noised canvas, the length head's loss, and the teacher-forced
    AR loss.

    The canvas is cut to the batch's longest sequence; PAD after EOS is given (never a key,
    never a target), as at sampling. Targets are the masked equation positions and, when
    ``replace`` > 0, the visible ones too (a ``replace`` share of them made wrong), so the
    model learns to keep a right token and correct a wrong one. ``obs`` replaces the batch's
    observations (the data-dependence test).
    """
    length = int((batch.tokens != PAD_ID).sum(1).max())
    clean = batch.tokens[:, :length]
    noised = corrupt(clean, generator, replace=replace)
    tokens, noisy = clean.to(device), noised.noisy.to(device)
    ar_in, ar_out = tokens[:, : length - 1], tokens[:, 1:length]
    obs = batch.obs if obs is None else obs
    out = model(obs.to(device), noisy, noised.t.to(device), ar_in, ar_targets=ar_out)
    eq = equation_positions(clean).to(device)
    masked = (noisy == MASK_ID) & eq
    target = eq if replace > 0 else masked
    ce = F.cross_entropy(out["diff_logits"].transpose(1, 2), tokens, reduction="none")  # (B, T)
    eos = (clean != PAD_ID).sum(1).to(device) - 1  # (B,) where EOS stands
    length_loss = F.cross_entropy(out["length_logits"], eos) if out["length_logits"] is not None else None
    real = ar_out != PAD_ID
    ar_pred = out["ar_logits"].argmax(-1)
    diff_pred = out["diff_logits"].argmax(-1)
    diff_hit = (diff_pred == tokens)[masked]
    fixed = noised.replaced.to(device)
    losses = {
        "ar_loss": out["ar_loss"],
        "diff_loss": ce[target].mean(),
        "diff_real_loss": ce[masked].mean(),
        "ar_token_acc": ((ar_pred == ar_out) & real).sum() / real.sum(),
        "ar_seq_acc": ((ar_pred == ar_out) | ~real).all(1).float().mean(),
        "diff_real_token_acc": diff_hit.float().mean(),
    }
    if fixed.any():  # how often a wrong visible token is put right
        losses["diff_fix_acc"] = (diff_pred == tokens)[fixed].float().mean()
    if length_loss is not None:
        losses["length_loss"] = length_loss
        losses["length_acc"] = (out["length_logits"].argmax(-1) == eos).float().mean()
    losses["loss"] = out["ar_loss"] + losses["diff_loss"] + (0 if length_loss is None else length_weight * length_loss)
    return losses


def drop_records_after(path: Path, step: int) -> None:
    """On resume, forget log records past the checkpoint: that stretch is trained again."""
    if not path.exists():
        return
    keep = [line for line in path.read_text().splitlines() if line.strip() and json.loads(line)["step"] <= step]
    path.write_text("".join(line + "\n" for line in keep))


def _git_commit() -> str:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=True, cwd=Path(__file__).parent
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


class _Dist:
    """Process-group facts; a single process is world size 1."""

    def __init__(self) -> None:
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        self.local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = torch.device(f"cuda:{self.local_rank}" if torch.cuda.is_available() else "cpu")
        if self.world > 1:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")

    @property
    def main(self) -> bool:
        return self.rank == 0

    def any(self, flag: bool) -> bool:
        if self.world == 1:
            return flag
        t = torch.tensor([1.0 if flag else 0.0])
        dist.all_reduce(t)
        return bool(t.item() > 0)

    def close(self) -> None:
        if self.world > 1:
            dist.destroy_process_group()


def train(cfg: TrainConfig, *, resume: bool = False, ship: bool = False, progress_bar: bool = True) -> dict:
    """Train; returns the final metadata. Rank 0 writes the JSONL log and checkpoints."""
    env = _Dist()
    if env.device.type == "cpu":
        torch.set_num_threads(cfg.threads)
    torch.manual_seed(cfg.seed + env.rank)
    rng = np.random.default_rng([cfg.seed, env.rank])
    out = Path(cfg.out_dir)
    weights = out / "physdiffuser.safetensors"
    state_path = out / "physdiffuser.train.safetensors"
    model = PhysDiffuserPlus(cfg.system).to(env.device)
    opt = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay, betas=(0.9, 0.98))
    step, elapsed_before, samples = 0, 0.0, 0
    if resume:
        from safetensors.torch import load_file

        model.load_state_dict(load_file(str(weights)))
        state = load_training_state(state_path, opt)
        step, elapsed_before, samples = state["step"], state["elapsed"], state["samples"]
        rng.bit_generator.state = state["numpy_rng"][env.rank]
    elif cfg.init_weights:
        from safetensors.torch import load_file

        # Weights from before the length head (or its pooled read) start it fresh; any other
        # mismatch is an error.
        missing, unexpected = model.load_state_dict(load_file(cfg.init_weights), strict=False)
        missing = [k for k in missing if not k.startswith(("diffuser.length_head.", "diffuser.length_query",
                                                            "diffuser.length_pool."))]
        if missing or unexpected:
            raise ValueError(f"{cfg.init_weights} does not match the configured model: missing {missing}, "
                             f"unexpected {unexpected}; give a config with the same sizes")
    # Memorisation audit: how often each benchmark skeleton was drawn. Rank 0 carries the
    # total from before a resume; each rank counts its own draws since.
    audit = SkeletonIndex.from_benchmark()
    counts_path = out / RUN_COUNTS
    seen: dict[str, int] = {}
    prior = 0  # samples behind the counts before this process (resumed leg, or the init weights' run)
    if resume and env.main and counts_path.exists():
        doc = json.loads(counts_path.read_text())
        seen, prior = dict(doc["counts"]), int(doc.get("samples", 0)) - samples
    elif cfg.init_weights and env.main:
        # A leg from trained weights: the audit counts what those weights saw as well.
        behind = counts_behind(Path(cfg.init_weights))
        if behind is None:
            raise FileNotFoundError(
                f"{cfg.init_weights}: no skeleton counts beside it ({skeleton_log(Path(cfg.init_weights)).name}) "
                f"or in its run directory ({RUN_COUNTS}), so the memorisation audit would restart at 0. "
                "Fix: start from shipped weights or a run directory's weights, or copy its counts beside them")
        doc = json.loads(behind.read_text())
        seen, prior = dict(doc["counts"]), int(doc.get("samples", 0))
    net = model
    if env.world > 1:
        net = torch.nn.parallel.DistributedDataParallel(model)
    max_len = cfg.system.diffuser.max_len
    val_rng = np.random.default_rng([cfg.seed, 10_000])
    val_set = [make_batch(val_rng, cfg.batch_size, cfg.generator, max_len) for _ in range(cfg.val_batches)]
    budget = cfg.minutes * 60
    start = time.time() - elapsed_before
    last_ckpt = time.time()
    log = None
    if env.main:
        out.mkdir(parents=True, exist_ok=True)
        if resume:
            drop_records_after(out / "metrics.jsonl", step)
        (out / "train_config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        log = open(out / "metrics.jsonl", "a")
    bar = tqdm(total=100, unit="%", disable=not (progress_bar and env.main), mininterval=2, bar_format=(
        "{l_bar}{bar}| {n:.0f}/{total_fmt}% [{elapsed}<{remaining}] {postfix}"))
    last: dict[str, float] = {}

    def write(record: dict) -> None:
        if log is not None:
            log.write(json.dumps(record) + "\n")
            log.flush()

    def checkpoint(final: bool = False) -> dict:
        meta = {
            "step": step,
            "samples": samples,
            "minutes": round((time.time() - start) / 60, 2),
            "seed": cfg.seed,
            "world_size": env.world,
            "device": env.device.type,
            "commit": _git_commit(),
            "torch": torch.__version__,
            "parameters": count_parameters(model),
            "final": final,
            **{f"last_{k}": v for k, v in last.items()},
        }
        totals = [seen]
        if env.world > 1:
            totals = [None] * env.world
            dist.all_gather_object(totals, seen)
        if env.main:
            merged: dict[str, int] = {}
            for part in totals:
                for key, n in part.items():
                    merged[key] = merged.get(key, 0) + n
            counts_path.write_text(json.dumps(
                {"samples": prior + samples, "benchmark_skeletons": len(audit),
                 "counts": dict(sorted(merged.items()))},
                indent=1) + "\n")
            save_checkpoint(model, weights, meta)
            states = [rng.bit_generator.state]
            if env.world > 1:
                states = [None] * env.world
                dist.all_gather_object(states, rng.bit_generator.state)
            save_training_state(
                state_path, opt,
                {"step": step, "elapsed": time.time() - start, "samples": samples, "numpy_rng": states},
            )
        elif env.world > 1:
            dist.all_gather_object([None] * env.world, rng.bit_generator.state)
        return meta

    batches = BucketedBatches(rng, cfg.batch_size, cfg.generator, max_len, cfg.length_buckets)
    t_window, n_window = time.time(), 0
    while True:
        elapsed = time.time() - start
        progress = max(step / cfg.max_steps, elapsed / budget)
        if env.any(progress >= 1.0):
            break
        lr = learning_rate(cfg, step, progress)
        for g in opt.param_groups:
            g["lr"] = lr
        model.train()
        batch = next(batches)
        losses = batch_losses(net, batch, env.device, replace=cfg.diff_replace, length_weight=cfg.length_weight)
        for key in batch.skeletons:
            if key in audit:
                seen[key] = seen.get(key, 0) + 1
        loss = losses["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        grad_norm = torch.nn.utils.clip_grad_norm_(model.parameters(), cfg.grad_clip)
        opt.step()
        step += 1
        samples += cfg.batch_size * env.world
        n_window += cfg.batch_size * env.world
        if step % 25 == 0:
            rate = n_window / (time.time() - t_window)
            t_window, n_window = time.time(), 0
            last = {k: round(float(v.detach()), 5) for k, v in losses.items()}
            write({"kind": "train", "step": step, "elapsed": round(elapsed, 1), "lr": lr,
                   "grad_norm": round(float(grad_norm), 4), "samples_per_s": round(rate, 1),
                   "rejected": batch.n_rejected, **last})
            bar.n = min(100.0, progress * 100)
            bar.set_postfix_str(f"step {step} loss {last['loss']:.3f} {rate:.0f} samples/s")
        if step % cfg.val_every == 0:
            write({"kind": "val", "step": step, "elapsed": round(elapsed, 1), **validate(model, val_set, env.device, cfg.diff_replace)})
        # Every rank must take the same decision, or the collectives inside deadlock.
        if env.any(time.time() - last_ckpt > cfg.checkpoint_minutes * 60):
            checkpoint()
            last_ckpt = time.time()
    val = validate(model, val_set, env.device, cfg.diff_replace)
    write({"kind": "val", "step": step, "elapsed": round(time.time() - start, 1), **val})
    last.update({f"val_{k}": v for k, v in val.items()})
    meta = checkpoint(final=True)
    bar.close()
    if log is not None:
        log.close()
    if ship and env.main:
        DEFAULT_WEIGHTS.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(weights, DEFAULT_WEIGHTS)
        shutil.copyfile(sidecar(weights), sidecar(DEFAULT_WEIGHTS))
        shutil.copyfile(out / "metrics.jsonl", metrics_log(DEFAULT_WEIGHTS))
        shutil.copyfile(counts_path, skeleton_log(DEFAULT_WEIGHTS))
    env.close()
    return meta


@torch.no_grad()
def validate(model: PhysDiffuserPlus, val_set: list[Batch], device, replace: float = 0.0) -> dict[str, float]:
    """Mean losses and accuracies on a fixed set of fresh synthetic equations.

    The data-dependence gap: every equation is also scored with the observations of another
    equation of its batch (rolled by one), with the same masks. ``*_gap`` = loss on the wrong
    data minus loss on the right data; a model that ignores its observations has a gap of 0.
    """
    model.eval()
    totals: dict[str, float] = {}
    for i, batch in enumerate(val_set):
        true = batch_losses(model, batch, device, torch.Generator().manual_seed(i), replace=replace)
        wrong = batch_losses(model, batch, device, torch.Generator().manual_seed(i), replace=replace,
                             obs=batch.obs.roll(1, 0))
        row = {k: float(v) for k, v in true.items()}
        for k in ("ar_loss", "diff_real_loss"):
            row[f"{k}_shuffled"] = float(wrong[k])
        row["ar_gap"] = row["ar_loss_shuffled"] - row["ar_loss"]
        row["diff_gap"] = row["diff_real_loss_shuffled"] - row["diff_real_loss"]
        for k, v in row.items():
            totals[k] = totals.get(k, 0.0) + v / len(val_set)
    return {k: round(v, 5) for k, v in totals.items()}


def ship_leg(out_dir: str | Path, leg: str, target: Path = DEFAULT_WEIGHTS) -> None:
    """Ship a leg's weights over ``target``: weights, sidecar and skeleton counts (cumulative
    already), and the metrics log as the legs of one run: the shipped log, then this leg's
    records marked ``"leg": leg`` with steps and seconds counted on from the shipped log's."""
    out = Path(out_dir)
    old = [json.loads(line) for line in metrics_log(target).read_text().splitlines() if line.strip()]
    step0 = max((r["step"] for r in old), default=0)
    elapsed0 = max((r["elapsed"] for r in old), default=0.0)
    new = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines() if line.strip()]
    for r in new:
        r.update(step=r["step"] + step0, elapsed=round(r["elapsed"] + elapsed0, 1), leg=leg)
    weights = out / "physdiffuser.safetensors"
    shutil.copyfile(weights, target)
    shutil.copyfile(sidecar(weights), sidecar(target))
    shutil.copyfile(out / RUN_COUNTS, skeleton_log(target))
    metrics_log(target).write_text("".join(json.dumps(r) + "\n" for r in [*old, *new]))
