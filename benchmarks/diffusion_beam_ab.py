"""The diffuser alone at the evaluation's budget with and without its beam search (``EvalConfig.diffusion_beam``).

Usage::

    python benchmarks/diffusion_beam_ab.py [--n 60] [--first 100] [--split heldout] [--weights W] [--beam 8x6 ...]

Two arms, each at most 144 candidates per equation:

* ``sampler``: 48 sampler canvases (8 argmax at the likeliest lengths, 40 sampled), then up
  to 4 rounds of refinement (96 proposals): the evaluation's budget before the beam;
* ``beam``: the same 48 sampler canvases, the beam's best 48
  (:data:`physdocs.decoding.derive.DERIVE_BEAM`), then up to 2 rounds of refinement (48);
* ``--beam LxW`` (repeatable) adds the ``beam`` arm with the beam searching the ``L``
  likeliest lengths with ``W`` beams each (the default is 3x16).

On synthetic skeletons ``--first`` onwards (default 100: outside the evaluation's probes
0-99), with the evaluation's random streams: per equation, held-out R^2, exact match and
which candidate won for each arm, then the totals (R^2 > 0.99, exact, seconds). One CPU thread.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import time

import numpy as np
import torch

from physdocs import probes
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD
from physdocs.decoding.derive import DERIVE_BEAM, derive
from physdocs.decoding.refine import RefineConfig
from physdocs.evaluation import EvalConfig
from physdocs.evaluation.jobs import score_derivation
from physdocs.models.checkpoint import load_checkpoint

ARMS = {
    "sampler": dataclasses.replace(EvalConfig(), n_samples=48, diffusion_beam=None, refine=RefineConfig(rounds=4)),
    "beam": dataclasses.replace(EvalConfig(), n_samples=96, diffusion_beam=DERIVE_BEAM, refine=RefineConfig(rounds=2)),
}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=60)
    ap.add_argument("--first", type=int, default=100)
    ap.add_argument("--split", default="heldout", choices=probes.SPLITS)
    ap.add_argument("--weights")
    ap.add_argument("--beam", action="append", default=[], metavar="LxW",
                    help="another beam arm: L likeliest lengths, W beams each")
    args = ap.parse_args()
    arms = dict(ARMS)
    for spec in args.beam:
        lengths, width = (int(v) for v in spec.split("x"))
        arms[f"beam {spec}"] = dataclasses.replace(
            ARMS["beam"], diffusion_beam=dataclasses.replace(DERIVE_BEAM, lengths=lengths, width=width))
    torch.set_num_threads(1)
    model = load_checkpoint(args.weights).model
    totals: collections.Counter = collections.Counter()
    for i in range(args.first, args.first + args.n):
        case = probes.synthetic_case(args.split, i, DEFAULT_SEED)
        line: list = [i]
        for arm, cfg in arms.items():
            rng = np.random.default_rng([DEFAULT_SEED, 71, probes.SPLITS.index(args.split), i, 2])  # the evaluation's
            t0 = time.perf_counter()
            d = derive(model, case.support.x, case.support.y, decoder="diffusion", rng=rng,
                       **cfg.decoder_budget("diffusion"))
            seconds = time.perf_counter() - t0
            s = score_derivation(d, case.test.x, case.test.y, case.steps, brief=True)
            for key, value in (("r2", (s["r2_test"] or -1) > R2_THRESHOLD), ("exact", s["exact"]),
                               ("seconds", seconds)):
                totals[arm, key] += value
            line.append((arm, round(s["r2_test"] or -1, 3), s["exact"], s["source"], f"{seconds:.1f} s"))
        print(*line, flush=True)
    for arm in arms:
        print(f"{arm}: R2 > 0.99 {totals[arm, 'r2']}/{args.n}, exact {totals[arm, 'exact']}, "
              f"{totals[arm, 'seconds']:.0f} s")


if __name__ == "__main__":
    main()
