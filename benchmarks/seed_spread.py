"""How far the evaluation's own seed moves the decoder rows on our 120, for given weights.

Usage::

    python benchmarks/seed_spread.py --seed 2026 --seed 2027
    python benchmarks/seed_spread.py --weights runs/NAME/physdiffuser.safetensors --decoder diffusion --seed 2027

For each weights file, seed and decoder: the evaluation's benchmark row for every equation
(``physdocs.evaluation.evaluate_equation`` at the evaluation's budget, with ``EvalConfig.seed``
replaced, which draws other support and test points and other samples), and how many reach
held-out R^2 > 0.99 and the exact form, and how many of the 20 with 5-9 variables reach
R^2 > 0.99 (the generalisation target's group). Two weights whose counts differ by less than one
weights' spread over seeds cannot be told apart on our 120. One CPU thread; the diffuser
takes about 6 minutes a seed, AR about 2.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

import torch

from physdocs.benchmark import load_benchmark
from physdocs.constants import DEFAULT_SEED
from physdocs.evaluation import EvalConfig, evaluate_equation
from physdocs.evaluation.config import VARIABLE_GROUPS
from physdocs.evaluation.summary import variable_group
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint
from physdocs.results.evaluation_rows import ResultRow


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--weights", action="append", help="weights file (repeatable; default the shipped ones)")
    ap.add_argument("--seed", type=int, action="append", help=f"evaluation seed (repeatable; default {DEFAULT_SEED})")
    ap.add_argument("--decoder", choices=("diffusion", "ar"), action="append", help="default both")
    args = ap.parse_args()
    torch.set_num_threads(1)
    equations = load_benchmark()
    print(f"weights  seed  decoder    R2>0.99  exact  (of 120)  R2>0.99 on {VARIABLE_GROUPS[2]} variables")
    for weights in args.weights or [str(DEFAULT_WEIGHTS)]:
        model = load_checkpoint(weights).model
        for seed in args.seed or [DEFAULT_SEED]:
            cfg = replace(EvalConfig(), seed=seed, weights=weights)
            for decoder in args.decoder or ["diffusion", "ar"]:
                rows = [ResultRow.from_json({"model": "trained", **evaluate_equation(model, eq, decoder, cfg)})
                        for eq in equations]
                r2, exact = sum(r.derived for r in rows), sum(r.exact for r in rows)
                many = [r for r in rows if variable_group(r.n_vars) == VARIABLE_GROUPS[2]]
                print(f"{weights}  {seed}  {decoder:9s}  {r2:7d}  {exact:5d}  "
                      f"{sum(r.derived for r in many)} of {len(many)}", flush=True)


if __name__ == "__main__":
    main()
