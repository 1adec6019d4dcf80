"""How much of the exact-recovery rate is the exact match's rounding: the same predictions
scored with close forms (``physdocs.matching.CLOSE_RTOL``) and without (the simplest form
within 1e-3, no powers of two beyond 2**(+-1/2)).

Usage::

    python benchmarks/match_rounding_ab.py [--weights W] [--decoder diffusion] [--synthetic 100]

Each decoder alone at the evaluation's budget (``physdocs.evaluation.run_derive``, the
evaluation's seeds) on our 120 and on the first ``--synthetic`` held-out synthetic
skeletons; each result is matched twice. Prints the counts and the items that differ.
One CPU thread; the predictions are the evaluation's own (same seeds).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from physdocs import probes
from physdocs.benchmark import load_benchmark
from physdocs.constants import DEFAULT_SEED
from physdocs.evaluation import EvalConfig, run_derive
from physdocs.matching import CLOSE_RTOL, explain_match
from physdocs.models.checkpoint import load_checkpoint
from physdocs.points import equation_number, equation_points


def both_ways(result, truth, x_test) -> tuple[bool, bool]:
    """(matched with close forms, matched without), as the evaluation calls the match."""
    if result.steps is None:
        return False, False
    return tuple(explain_match(result.steps, result.constants, truth, time_limit=2.0, x=x_test, close=close).matched
                 for close in (CLOSE_RTOL, None))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", type=Path)
    ap.add_argument("--decoder", action="append", choices=("diffusion", "ar"))
    ap.add_argument("--synthetic", type=int, default=100)
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = EvalConfig()
    model = load_checkpoint(args.weights).model
    for decoder in args.decoder or ("diffusion", "ar"):
        tally = {"benchmark": [0, 0], "held-out synthetic": [0, 0]}
        for eq in load_benchmark():
            support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
            rng = np.random.default_rng([cfg.seed, equation_number(eq.id), 2])
            new, old = both_ways(run_derive(model, support.x, support.y, decoder, cfg, rng, eq.display_names),
                                 eq.step_trees, test.x)
            tally["benchmark"][0] += new
            tally["benchmark"][1] += old
            if new != old:
                print(f"  {decoder} {eq.id}: close forms {new}, without {old}", flush=True)
        for i in range(args.synthetic):
            case = probes.synthetic_case("heldout", i, DEFAULT_SEED)
            rng = np.random.default_rng([DEFAULT_SEED, 71, probes.SPLITS.index("heldout"), i, 2])
            new, old = both_ways(run_derive(model, case.support.x, case.support.y, decoder, cfg, rng),
                                 case.steps, case.test.x)
            tally["held-out synthetic"][0] += new
            tally["held-out synthetic"][1] += old
            if new != old:
                print(f"  {decoder} held-out {i}: close forms {new}, without {old}", flush=True)
        for part, (new, old) in tally.items():
            print(f"{decoder:<9} {part:<19} exact with close forms {new}, without {old}", flush=True)


if __name__ == "__main__":
    main()
