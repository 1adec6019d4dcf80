"""Two (or more) weights files on the same held-out synthetic skeletons, outside the evaluation's probes.

Usage::

    python benchmarks/weights_ab.py physdocs/weights/physdiffuser.safetensors runs/NAME/physdiffuser.safetensors
    python benchmarks/weights_ab.py --decoder diffusion --n 30 A.safetensors B.safetensors

For each weights file and each decoder alone (the evaluation's per-decoder budget,
``physdocs.evaluation.run_derive``), the held-out synthetic skeletons 100-149 (the
evaluation's probes use 0-99, so a choice made here is not made on them): how many reach
held-out R^2 > 0.99. A quick screen before a full evaluation, one CPU thread.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from physdocs import probes
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD
from physdocs.decoding.derive import score_on
from physdocs.evaluation import EvalConfig, run_derive
from physdocs.models.checkpoint import load_checkpoint

FIRST = 100


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("weights", nargs="+")
    ap.add_argument("--decoder", action="append", choices=("diffusion", "ar"))
    ap.add_argument("--n", type=int, default=50, help="skeletons from index 100 (at most 50)")
    args = ap.parse_args()
    indices = range(FIRST, FIRST + min(args.n, 50))
    torch.set_num_threads(1)
    cfg = EvalConfig()
    for weights in args.weights:
        model = load_checkpoint(Path(weights)).model
        for decoder in args.decoder or ("diffusion", "ar"):
            derived = 0
            for i in indices:
                case = probes.synthetic_case("heldout", i, DEFAULT_SEED)
                rng = np.random.default_rng([DEFAULT_SEED, 71, 1, i, 2])
                d = run_derive(model, case.support.x, case.support.y, decoder, cfg, rng)
                derived += (score_on(d, case.test.x, case.test.y) or -1.0) > R2_THRESHOLD
            print(f"{weights}  {decoder:<9} {derived} / {len(indices)}", flush=True)


if __name__ == "__main__":
    main()
