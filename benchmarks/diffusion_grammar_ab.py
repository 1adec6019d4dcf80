"""The diffuser alone with and without the grammar-constrained sampler (``DiffusionConfig.grammar``).

Usage::

    python benchmarks/diffusion_grammar_ab.py [--n 25] [--first 100] [--split heldout] [--no-refine] [--weights W]

On synthetic skeletons ``--first`` onwards (default 100: outside the evaluation's probes
0-99), at the evaluation's diffusion budget (with the refinement search, which then refills
with the grammar too; ``--no-refine``: the first guess only): per equation, held-out R^2,
exact match, valid candidates and seconds for each sampler; then the totals. One CPU thread.
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
from physdocs.decoding.derive import DERIVE_LENGTH_BEAM, derive
from physdocs.decoding.diffusion import DiffusionConfig
from physdocs.evaluation import EvalConfig
from physdocs.evaluation.jobs import score_derivation
from physdocs.models.checkpoint import load_checkpoint


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=25)
    ap.add_argument("--first", type=int, default=100)
    ap.add_argument("--split", default="heldout", choices=probes.SPLITS)
    ap.add_argument("--no-refine", action="store_true")
    ap.add_argument("--weights")
    args = ap.parse_args()
    torch.set_num_threads(1)
    model = load_checkpoint(args.weights).model
    cfg = EvalConfig() if not args.no_refine else dataclasses.replace(EvalConfig(), refine=None)
    totals: collections.Counter = collections.Counter()
    for i in range(args.first, args.first + args.n):
        case = probes.synthetic_case(args.split, i, DEFAULT_SEED)
        line: list = [i]
        for grammar in (False, True):
            seed = [DEFAULT_SEED, 71, probes.SPLITS.index(args.split), i, 2]  # the evaluation's stream
            sampler = DiffusionConfig(temperature=1.0, remask_noise=4.5, greedy_first=True, revise=True,
                                      length_beam=DERIVE_LENGTH_BEAM, grammar=grammar,
                                      seed=int(np.random.default_rng(seed).integers(2**31)))
            budget = cfg.decoder_budget("diffusion")
            if budget["refine"] is not None:
                budget["refine"] = dataclasses.replace(budget["refine"], grammar=grammar)
            t0 = time.perf_counter()
            d = derive(model, case.support.x, case.support.y, decoder="diffusion",
                       rng=np.random.default_rng(seed), diffusion=sampler, **budget)
            seconds = time.perf_counter() - t0
            s = score_derivation(d, case.test.x, case.test.y, case.steps, brief=True)
            valid = sum(c["status"] == "valid" for c in d.candidates)
            for key, value in (("r2", (s["r2_test"] or -1) > R2_THRESHOLD), ("exact", s["exact"]), ("valid", valid),
                               ("candidates", len(d.candidates)), ("seconds", seconds)):
                totals[grammar, key] += value
            line.append((f"grammar={grammar}", round(s["r2_test"] or -1, 3), s["exact"],
                         f"{valid}/{len(d.candidates)} valid", f"{seconds:.1f} s"))
        print(*line, flush=True)
    for grammar in (False, True):
        print(f"grammar={grammar}: R2 > 0.99 {totals[grammar, 'r2']}/{args.n}, exact {totals[grammar, 'exact']}, "
              f"valid {totals[grammar, 'valid']}/{totals[grammar, 'candidates']}, {totals[grammar, 'seconds']:.0f} s")


if __name__ == "__main__":
    main()
