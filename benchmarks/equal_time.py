"""The pipeline against Operon alone at the same wall-clock time per equation, on one core.

Usage::

    python benchmarks/equal_time.py [--limit N] [--synthetic 100] [--out benchmarks/results/equal_time.json]

The report reads ``physdocs/data/equal_time.json`` (``physdocs.paths.EQUAL_TIME_FILE``): a
full run for the shipped weights passes ``--out physdocs/data/equal_time.json``. The default
output is a scratch file (ignored by git), so a ``--limit`` run never replaces the shipped one.

For each of our 120 equations (the evaluation's support and test points) and each of the
first ``--synthetic`` held-out synthetic skeletons (``physdocs.probes``), on one thread:

1. the pipeline runs at its counted budget and its seconds are taken;
2. Operon alone runs with that many seconds (rounded up to a whole second, Operon's unit)
   as its time limit, its counted budget lifted so the clock is what stops it.

Both are scored on the held-out test points: R^2 > 0.99 and exact recovery, with Wilson
95% intervals. The evaluation's own Operon-alone row is at equal *counted* budget; this
one is at equal *time*, which depends on the machine, so it is a benchmark and not part
of the evaluation. Writes a JSON document and prints the table.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from physdocs import probes
from physdocs.benchmark import load_benchmark
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD
from physdocs.decoding.search import search
from physdocs.evaluation import EvalConfig, score_derivation
from physdocs.intervals import rate_with_interval
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint, sha256
from physdocs.points import equation_number, equation_points


def one(model, x, y, x_test, y_test, truth, cfg: EvalConfig, seed: int, names=None, text_names=None) -> dict:
    """Pipeline, then Operon alone with the pipeline's seconds: both rows."""
    t0 = time.perf_counter()
    piped = search(model, x, y, cfg=cfg.search, seed=seed, names=names, text_names=text_names)
    seconds = time.perf_counter() - t0
    op = replace(cfg.search.operon, max_time=max(1, math.ceil(seconds)), max_evaluations=10**9, generations=10**6)
    t1 = time.perf_counter()
    alone = search(None, x, y, cfg=replace(cfg.search, operon=op), seed=seed, names=names, text_names=text_names,
                   use_model=False)
    alone_seconds = time.perf_counter() - t1
    out = {}
    for key, result, secs in (("pipeline", piped, seconds), ("operon", alone, alone_seconds)):
        scored = score_derivation(result.derivation, x_test, y_test, truth, brief=True)
        out[key] = {"r2_test": scored["r2_test"], "exact": scored["exact"], "seconds": round(secs, 3),
                    "prediction": scored["prediction"]}
    return out


def table(rows: list[dict]) -> dict:
    def rate(key: str, measure: str):
        flags = [(r[key]["r2_test"] or -np.inf) > R2_THRESHOLD if measure == "r2_gt_099" else bool(r[key]["exact"])
                 for r in rows]
        return rate_with_interval(flags)

    return {key: {"r2_gt_099": rate(key, "r2_gt_099"), "exact": rate(key, "exact"),
                  "median_seconds": float(np.median([r[key]["seconds"] for r in rows]))}
            for key in ("pipeline", "operon")} if rows else {}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=None, help="first N benchmark equations")
    parser.add_argument("--synthetic", type=int, default=100, help="held-out synthetic skeletons")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/equal_time.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    cfg = EvalConfig(seed=DEFAULT_SEED)
    model = load_checkpoint(None).model
    bench, synthetic = [], []

    def save() -> dict:  # after every row, so a stopped run keeps what it measured
        doc = {"weights_sha256": sha256(DEFAULT_WEIGHTS), "cpu_count": os.cpu_count(), "threads": 1,
               "benchmark": {"summary": table(bench), "rows": bench},
               "heldout_synthetic": {"summary": table(synthetic), "rows": synthetic}}
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(json.dumps(doc, indent=1) + "\n")
        return doc

    for eq in load_benchmark()[: args.limit]:
        support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
        seed = int(np.random.default_rng([cfg.seed, equation_number(eq.id), 7]).integers(2**31))
        row = one(model, support.x, support.y, test.x, test.y, eq.step_trees, cfg, seed, eq.display_names,
                  eq.plain_names)
        bench.append({"id": eq.id, "tier": eq.tier, **row})
        save()
        print(eq.id, {k: (v["exact"], v["seconds"]) for k, v in row.items()}, flush=True)
    for i in range(args.synthetic):
        case = probes.synthetic_case("heldout", i, cfg.seed)
        row = one(model, case.support.x, case.support.y, case.test.x, case.test.y, case.steps, cfg,
                  int(np.random.default_rng([cfg.seed, 71, 1, i, 7]).integers(2**31)))
        synthetic.append({"index": i, "skeleton": case.skeleton, **row})
        save()
        print("heldout", i, {k: (v["exact"], v["seconds"]) for k, v in row.items()}, flush=True)
    doc = save()
    for part in ("benchmark", "heldout_synthetic"):
        for key, t in doc[part]["summary"].items():
            print(f"{part:<18} {key:<9} R2>{R2_THRESHOLD}: {t['r2_gt_099']['rate']:.1%} "
                  f"[{t['r2_gt_099']['low']:.1%}, {t['r2_gt_099']['high']:.1%}]  exact: {t['exact']['rate']:.1%} "
                  f"[{t['exact']['low']:.1%}, {t['exact']['high']:.1%}]  median {t['median_seconds']:.2f} s")


if __name__ == "__main__":
    main()
