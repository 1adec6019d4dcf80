"""Every leg's weights on one fixed validation set: is the model still learning across legs?

Usage::

    python benchmarks/leg_losses.py A/physdiffuser.safetensors B/physdiffuser.safetensors ...
    python benchmarks/leg_losses.py --split heldout b67da09:physdocs/weights 7a2df70:checkpoints/refine9

A weights argument is a file, or ``COMMIT:FOLDER``: the ``physdiffuser.safetensors`` of that
folder at that commit, with its sidecar and skeleton counts (the legs' weights live in the
history, not the tree).

Each leg logs its validation loss on a set drawn from its own seed, so the numbers of two
legs do not compare, and a leg's fall from its first validation to its last is mostly the
annealing of its fresh learning-rate schedule. Here every weights file is scored on the same
equations (seed 2026, the shipped legs' generator) with the same masks: the AR decoder's
teacher-forced loss, the diffuser's loss on its masked positions (no replaced tokens) and
the length head's loss, in nats. ``--split heldout`` draws skeletons no leg trained on.
Each row also gives the equations the weights were trained on in all (from the skeleton
counts beside them), and the last lines fit ``loss = a * samples^-b`` over the rows given
(least squares in log-log), the learning curve across legs. One CPU thread.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import tempfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from physdocs.constants import DEFAULT_SEED
from physdocs.models.checkpoint import RUN_COUNTS, counts_behind, load_checkpoint, sidecar, skeleton_log
from physdocs.training.batches import make_batch
from physdocs.training.loop import TrainConfig, batch_losses

LEG_CONFIG = Path(__file__).resolve().parent.parent / "checkpoints" / "refine7" / "leg_config.json"
KEYS = ("ar_loss", "diff_real_loss", "length_loss")
WEIGHTS = Path("physdiffuser.safetensors")


def from_history(spec: str, into: Path) -> Path:
    """``COMMIT:FOLDER``'s weights, sidecar and skeleton counts, written under ``into``."""
    commit, folder = spec.split(":", 1)
    out = into / commit
    out.mkdir(parents=True, exist_ok=True)
    # Shipped weights carry their counts beside them, a leg's checkpoint in its folder.
    names = {WEIGHTS.name: WEIGHTS.name, sidecar(WEIGHTS).name: sidecar(WEIGHTS).name,
             skeleton_log(WEIGHTS).name: RUN_COUNTS, RUN_COUNTS: RUN_COUNTS}
    for name, target in names.items():
        shown = subprocess.run(["git", "show", f"{commit}:{folder}/{name}"], capture_output=True)
        if shown.returncode == 0:
            (out / target).write_bytes(shown.stdout)
    if not (out / WEIGHTS).exists():
        raise SystemExit(f"{spec}: no {folder}/{WEIGHTS} at commit {commit}; give COMMIT:FOLDER of a leg's weights")
    return out / WEIGHTS


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--batches", type=int, default=16, help="validation batches (of the leg configuration's batch size)")
    ap.add_argument("--split", choices=("train", "heldout"), default="train")
    args = ap.parse_args()
    torch.set_num_threads(1)
    leg = TrainConfig.from_dict(json.loads(LEG_CONFIG.read_text()))
    gen = replace(leg.generator, split=args.split)
    rng = np.random.default_rng([DEFAULT_SEED, 10_000])
    val = [make_batch(rng, leg.batch_size, gen, leg.system.diffuser.max_len) for _ in range(args.batches)]
    print(f"{args.batches * leg.batch_size} equations, split {args.split}")
    print(f"{'weights':<40} {'sha256':<12} {'samples':>9} " + " ".join(f"{k:>14}" for k in KEYS))
    rows = []
    tmp = Path(tempfile.mkdtemp(prefix="leg_losses_"))  # weights taken from the history
    for spec in args.weights:
        path = Path(spec) if Path(spec).exists() or ":" not in spec else from_history(spec, tmp)
        ck = load_checkpoint(path)
        counts = counts_behind(path)
        samples = json.loads(counts.read_text())["samples"] if counts else float("nan")
        # The same masks for every weights file, so the comparison is paired.
        g = torch.Generator().manual_seed(DEFAULT_SEED)
        sums = {k: 0.0 for k in KEYS}
        with torch.no_grad():
            for batch in val:
                losses = batch_losses(ck.model, batch, torch.device("cpu"), g)
                for k in KEYS:  # weights without a length head score NaN there
                    sums[k] += float(losses.get(k, float("nan"))) / len(val)
        sha = json.loads(sidecar(path).read_text()).get("sha256", "")[:12]
        rows.append((samples, sums))
        print(f"{spec:<40} {sha:<12} {samples:>9} " + " ".join(f"{sums[k]:>14.4f}" for k in KEYS), flush=True)
    for k in KEYS:
        pts = np.array([(n, s[k]) for n, s in rows if np.isfinite(n) and np.isfinite(s[k])])
        if len(pts) >= 3:
            slope, icpt = np.polyfit(np.log(pts[:, 0]), np.log(pts[:, 1]), 1)
            print(f"{k}: loss = {np.exp(icpt):.4g} * samples^{slope:.4f} over {len(pts)} weights")


if __name__ == "__main__":
    main()
