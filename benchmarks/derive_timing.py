"""Time ``physdocs derive --csv`` as a user runs it: a whole process, start-up included, one core.

Usage::

    python benchmarks/derive_timing.py [--equations 12] [--rows 250] [--repeats 1] [--units]
                                       [--compare OTHER_CHECKOUT]

For the first ``--equations`` benchmark equations (every tier in turn), a CSV of ``--rows``
rows is written from the evaluation's sampling (seed 2026), and ``physdocs derive --csv``
runs on it in a fresh process pinned to one thread (``OMP_NUM_THREADS=1``, ``taskset`` to
one core where available). The package timed is the checkout this script sits in. Prints
each wall time, the median and the maximum (targets: a median of at most 6 s, at most
20 s), and with ``--units`` the same with the benchmark's units given.

``--compare`` times another checkout (a folder holding ``physdocs/``, e.g. an older commit's
``git archive``) on the same CSVs, each run interleaved with this one's so that a busy
machine slows both alike; it prints both medians and says whether every answer is the same.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from physdocs.benchmark import TIERS, load_benchmark
from physdocs.constants import DEFAULT_SEED
from physdocs.points import equation_points

HERE = Path(__file__).resolve().parents[1]


def run(cmd: list[str], tree: Path, cwd: str) -> tuple[float, dict]:
    """Seconds of one whole ``physdocs derive`` process importing the package from ``tree``, and its JSON."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(tree)}
    t0 = time.perf_counter()
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, cwd=cwd)
    seconds = time.perf_counter() - t0
    if out.returncode != 0:
        raise SystemExit(f"{tree}: derive failed: {out.stderr[-400:]}")
    return seconds, json.loads(out.stdout)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equations", type=int, default=12)
    parser.add_argument("--rows", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--units", action="store_true", help="give the benchmark's units (--units)")
    parser.add_argument("--compare", type=Path, help="another checkout, timed interleaved on the same CSVs")
    args = parser.parse_args()
    trees = {"this": HERE} | ({"compare": args.compare.resolve()} if args.compare else {})
    by_tier = {t: [e for e in load_benchmark() if e.tier == t] for t in TIERS}
    picked = [by_tier[TIERS[i % len(TIERS)]][i // len(TIERS)] for i in range(args.equations)]
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    times: dict[str, list[float]] = {k: [] for k in trees}
    differ = []
    with tempfile.TemporaryDirectory() as tmp:
        for eq in picked:
            support, _ = equation_points(eq, DEFAULT_SEED, args.rows, 1)
            path = Path(tmp) / f"{eq.id}.csv"
            with path.open("w", newline="") as f:
                w = csv.writer(f)
                w.writerow([v.name for v in eq.variables] + [eq.output])
                w.writerows([*row, y] for row, y in zip(support.x.tolist(), support.y.tolist(), strict=True))
            cmd = [*pin, sys.executable, "-m", "physdocs.cli", "derive", "--csv", str(path), "--json"]
            if args.units:
                cmd += ["--units", ", ".join(f"{v.name}={v.unit or 1}" for v in eq.variables)
                        + f", {eq.output}={eq.output_unit or 1}"]
            for r in range(args.repeats):
                order = list(trees) if r % 2 == 0 else list(trees)[::-1]  # alternate who goes first
                answers, line = {}, []
                for name in order:
                    seconds, doc = run(cmd, trees[name], tmp)
                    times[name].append(seconds)
                    answers[name] = {k: v for k, v in doc.items() if k != "seconds"}
                    line.append(f"{name} {seconds:6.2f} s")
                if len(answers) > 1 and answers["this"] != answers["compare"]:
                    differ.append(eq.id)
                print(f"{eq.id:<14} {eq.tier:<10} " + "  ".join(sorted(line)), flush=True)
    for name, tree in trees.items():
        ts = times[name]
        print(f"{name} ({tree}): median {statistics.median(ts):.2f} s, max {max(ts):.2f} s over {len(ts)} runs "
              f"({args.rows} rows, one core{', with units' if args.units else ''})")
    if args.compare:
        print("every answer the same in both" if not differ else f"answers differ: {', '.join(sorted(set(differ)))}")


if __name__ == "__main__":
    main()
