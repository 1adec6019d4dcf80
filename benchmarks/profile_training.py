"""Where a training step's time goes, on one CPU thread (the setting of each DDP process).

    python benchmarks/profile_training.py [--batch 64] [--repeats 4]

Prints seconds for: generating a batch (equations + observations), the encoder alone
(forward + backward), encoder + diffuser, encoder + AR decoder, and one whole optimiser
step, each the mean of ``--repeats`` runs after one warm-up. Samples per second per
process = batch / step seconds; two DDP processes on two cores give about twice that.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from physdocs.decoding.diffusion import corrupt
from physdocs.grammar import PAD_ID
from physdocs.models import PhysDiffuserPlus, SystemConfig
from physdocs.training.batches import make_batch
from physdocs.training.generator import GeneratorConfig
from physdocs.training.loop import batch_losses


def timed(fn, repeats: int) -> float:
    fn()
    t0 = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - t0) / repeats


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=4)
    args = ap.parse_args()
    torch.set_num_threads(1)
    rng = np.random.default_rng(2026)
    gen = GeneratorConfig()
    batch = make_batch(rng, args.batch, gen, 48)
    model = PhysDiffuserPlus(SystemConfig())
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    length = int((batch.tokens != PAD_ID).sum(1).max())

    def encoder() -> None:
        model.encode(batch.obs).keys.sum().backward()

    def diffuser() -> None:
        mem = model.encode(batch.obs)
        noisy, t = corrupt(batch.tokens)
        model.diffuser(noisy, mem.keys, t, targets=batch.tokens)[1].backward()

    def ar() -> None:
        mem = model.encode(batch.obs)
        model.ar_decoder(batch.tokens[:, : length - 1], mem.keys, targets=batch.tokens[:, 1:length])[1].backward()

    def step() -> None:
        losses = batch_losses(model, batch, "cpu")
        opt.zero_grad()
        (losses["ar_loss"] + losses["diff_loss"]).backward()
        opt.step()

    rows = {
        "generate a batch": timed(lambda: make_batch(rng, args.batch, gen, 48), args.repeats),
        "encoder fwd+bwd": timed(encoder, args.repeats),
        "encoder + diffuser fwd+bwd": timed(diffuser, args.repeats),
        "encoder + AR fwd+bwd": timed(ar, args.repeats),
        "whole optimiser step": timed(step, args.repeats),
    }
    print(f"batch {args.batch}, mean tokens {float((batch.tokens != PAD_ID).sum(1).float().mean()):.1f}, "
          f"AR length {length}, diffuser canvas 48")
    for name, seconds in rows.items():
        print(f"{name:<28} {seconds:7.3f} s")
    print(f"samples/s per process: {args.batch / rows['whole optimiser step']:.0f}")


if __name__ == "__main__":
    main()
