"""Check the accuracy targets against an evaluation JSON (``physdocs evaluate --json``).

Usage: ``python benchmarks/accuracy_targets.py [physdocs/data/evaluation.json]``

Targets (shipped weights, the better decoder with refinement, <= 10 s per equation on 2
cores, deterministic):
- trivial: R2 > 0.99 on >= 95% and exact on >= 85%;
- simple: R2 > 0.99 on >= 80%;
- all 120: R2 > 0.99 on >= 60% and exact on >= 35%;
- the diffuser at least as accurate as the AR baseline on every tier.

Reported beside them: the first guess (no refinement), the random-initialised control,
the gplearn baseline when evaluated, and seen against held-out synthetic skeletons.
Prints tables and exits 1 when a target is missed (it is a measurement, not a test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TIERS = ("trivial", "simple", "moderate", "complex", "multi_step", "all")
TARGETS = [  # (tier, metric, minimum)
    ("trivial", "r2_gt_099", 0.95),
    ("trivial", "exact", 0.85),
    ("simple", "r2_gt_099", 0.80),
    ("all", "r2_gt_099", 0.60),
    ("all", "exact", 0.35),
]
MAX_SECONDS = 10.0


def _get(rows, key, metric):
    row = rows.get(key)
    return None if row is None else row.get(metric)


def _f(x) -> str:
    return "-" if x is None else f"{x:.2f}"


def main(path: str = "physdocs/data/evaluation.json") -> int:
    doc = json.loads(Path(path).read_text())
    rows = {(r["model"], r["decoder"], r["tier"]): r for r in doc["summary"]}
    best = doc["meta"]["best_decoder"]
    print(f"weights {doc['meta']['weights_sha256'][:12]}, better decoder: {best}")
    ok = True
    print(f"{'tier':<10} {'metric':<10} {'target':>7} {'trained':>8} {'first':>6} {'control':>8}  verdict")
    for tier, metric, minimum in TARGETS:
        got = rows[("trained", best, tier)][metric]
        first = _get(rows, ("trained", best, tier), f"first_{metric}")
        ctrl = _get(rows, ("control", best, tier), metric)
        verdict = "met" if got >= minimum else "MISSED"
        ok &= got >= minimum
        print(f"{tier:<10} {metric:<10} {minimum:>7.2f} {got:>8.2f} {_f(first):>6} {_f(ctrl):>8}  {verdict}")
    print("\nR2 > 0.99 per tier: diffusion (first guess) | AR | control diffusion | gplearn")
    for tier in TIERS:
        d = _get(rows, ("trained", "diffusion", tier), "r2_gt_099")
        d1 = _get(rows, ("trained", "diffusion", tier), "first_r2_gt_099")
        a = _get(rows, ("trained", "ar", tier), "r2_gt_099")
        c = _get(rows, ("control", "diffusion", tier), "r2_gt_099")
        g = _get(rows, ("baseline", "gplearn", tier), "r2_gt_099")
        lead = "" if d is None or a is None else ("diffuser >= AR" if d >= a else "diffuser < AR: MISSED")
        if d is not None and a is not None:
            ok &= d >= a
        print(f"{tier:<10} {_f(d)} ({_f(d1)}) | {_f(a)} | {_f(c)} | {_f(g)}   {lead}")
    synthetic = (doc.get("synthetic") or {}).get("summary") or []
    if synthetic:
        print("\nsynthetic skeletons: decoder split n R2>0.99 exact (first guess R2>0.99)")
        for r in synthetic:
            print(f"  {r['decoder']:<9} {r['split']:<7} {r['n']:>3} {r['r2_gt_099']:.2f} {r['exact']:.2f} "
                  f"({r['first_r2_gt_099']:.2f})")
    seconds = [r["seconds"] for r in doc["results"] if r["model"] == "trained" and r["decoder"] == best]
    slowest = max(seconds)
    print(f"\nseconds per equation ({best}): mean {sum(seconds) / len(seconds):.2f}, slowest {slowest:.2f} "
          f"(limit {MAX_SECONDS}): {'met' if slowest <= MAX_SECONDS else 'MISSED'}")
    ok &= slowest <= MAX_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
