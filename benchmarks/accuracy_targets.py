"""Check the accuracy targets against an evaluation JSON (``physdocs evaluate --json``).

Usage: ``python benchmarks/accuracy_targets.py [physdocs/data/evaluation.json]``

Targets (shipped weights, the better decoder, <= 10 s per equation on 2 cores):
trivial R2 > 0.99 on >= 90% and exact on >= 75%; simple R2 > 0.99 on >= 70%;
all 120 R2 > 0.99 on >= 50%; the random-initialised control reported beside.
Prints a table and exits 1 when a target is missed (it is a measurement, not a test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

TARGETS = [  # (tier, metric, minimum)
    ("trivial", "r2_gt_099", 0.90),
    ("trivial", "exact", 0.75),
    ("simple", "r2_gt_099", 0.70),
    ("all", "r2_gt_099", 0.50),
]
MAX_SECONDS = 10.0


def main(path: str = "physdocs/data/evaluation.json") -> int:
    doc = json.loads(Path(path).read_text())
    rows = {(r["model"], r["decoder"], r["tier"]): r for r in doc["summary"]}
    best = doc["meta"]["best_decoder"]
    print(f"weights {doc['meta']['weights_sha256'][:12]}, better decoder: {best}")
    ok = True
    print(f"{'tier':<10} {'metric':<10} {'target':>7} {'trained':>8} {'control':>8}  verdict")
    for tier, metric, minimum in TARGETS:
        got = rows[("trained", best, tier)][metric]
        ctrl = rows.get(("control", best, tier), {}).get(metric)
        verdict = "met" if got >= minimum else "MISSED"
        ok &= got >= minimum
        ctrl_s = "-" if ctrl is None else f"{ctrl:.2f}"
        print(f"{tier:<10} {metric:<10} {minimum:>7.2f} {got:>8.2f} {ctrl_s:>8}  {verdict}")
    slowest = max(r["seconds"] for r in doc["results"] if r["model"] == "trained" and r["decoder"] == best)
    print(f"slowest equation: {slowest:.2f} s (limit {MAX_SECONDS} s): {'met' if slowest <= MAX_SECONDS else 'MISSED'}")
    ok &= slowest <= MAX_SECONDS
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(main(*sys.argv[1:]))
