"""The pipeline with and without the diffuser's beam among its diffusion candidates.

Usage::

    python benchmarks/pipeline_beam_ab.py [--limit N] [--variant sampler --variant beam48 --variant beam96]

Runs the evaluation's pipeline rows (``physdocs.evaluation.jobs.pipeline_row``: our 120, the
evaluation's points and seeds, one thread) for the shipped weights with each variant of
``SearchConfig``:

- ``sampler``: the shipped pipeline, 48 sampler canvases;
- ``beam48``: 48 canvases, half of them the beam's best (``derive.DERIVE_BEAM``), so the
  counted budget (and Operon alone's matched budget) is unchanged;
- ``beam96``: the sampler's 48 and the beam's best 48, as the evaluation's diffusion rows.

and prints, per variant, the pipeline's and the model alone's derived (R^2 > 0.99) and exact
counts, and per stage how many answers it proposed and how many only it proposed
(``physdocs.evaluation.summary.proposers``). About 10 minutes per variant on one core.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import replace

import torch

from physdocs.benchmark import load_benchmark
from physdocs.constants import R2_THRESHOLD
from physdocs.decoding.derive import DERIVE_BEAM
from physdocs.evaluation.config import EvalConfig
from physdocs.evaluation.jobs import pipeline_row
from physdocs.evaluation.summary import proposers
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint

VARIANTS = {
    "sampler": {},
    "beam48": {"diffusion_beam": DERIVE_BEAM},
    "beam96": {"n_samples": 96, "diffusion_beam": DERIVE_BEAM},
}


def run(model, variant: str, limit: int | None) -> list[dict]:
    base = EvalConfig()
    cfg = replace(base, search=replace(base.search, **VARIANTS[variant]))
    rows = []
    for eq in load_benchmark()[:limit]:
        row = pipeline_row(model, eq, cfg)
        rows += [row, row.pop("model_alone")]
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--variant", action="append", choices=sorted(VARIANTS), default=None)
    parser.add_argument("--limit", type=int, default=None, help="first N benchmark equations")
    args = parser.parse_args()
    torch.set_num_threads(1)
    model = load_checkpoint(DEFAULT_WEIGHTS).model.eval()
    for variant in args.variant or list(VARIANTS):
        t0 = time.perf_counter()
        rows = run(model, variant, args.limit)
        print(f"{variant} ({time.perf_counter() - t0:.0f} s)")
        for decoder in ("pipeline", "model"):
            sel = [r for r in rows if r["decoder"] == decoder]
            derived = sum((r["r2_test"] if r["r2_test"] is not None else -1) > R2_THRESHOLD for r in sel)
            print(f"  {decoder:9s} derived {derived}/{len(sel)}, exact {sum(r['exact'] for r in sel)}")
        for p in proposers(rows):
            print(f"  {p['decoder']:9s} proposed {p['proposed']}, only {p['only']}")


if __name__ == "__main__":
    main()
