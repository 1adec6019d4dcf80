"""Time ``physdocs derive --csv`` as a user runs it: a whole process, start-up included, one core.

Usage::

    python benchmarks/derive_timing.py [--equations 12] [--rows 250] [--repeats 1] [--units]

For the first ``--equations`` benchmark equations (every tier in turn), a CSV of ``--rows``
rows is written from the evaluation's sampling (seed 2026), and ``physdocs derive --csv``
runs on it in a fresh process pinned to one thread (``OMP_NUM_THREADS=1``, ``taskset`` to
one core where available). Prints each wall time, the median and the maximum (targets: a
median of at most 6 s, at most 20 s), and with ``--units`` the same with the benchmark's
units given.
"""

from __future__ import annotations

import argparse
import csv
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--equations", type=int, default=12)
    parser.add_argument("--rows", type=int, default=250)
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--units", action="store_true", help="give the benchmark's units (--units)")
    args = parser.parse_args()
    by_tier = {t: [e for e in load_benchmark() if e.tier == t] for t in TIERS}
    picked = [by_tier[TIERS[i % len(TIERS)]][i // len(TIERS)] for i in range(args.equations)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    pin = ["taskset", "-c", "0"] if shutil.which("taskset") else []
    times = []
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
            for _ in range(args.repeats):
                t0 = time.perf_counter()
                out = subprocess.run(cmd, env=env, capture_output=True, text=True)
                seconds = time.perf_counter() - t0
                if out.returncode != 0:
                    raise SystemExit(f"{eq.id}: derive failed: {out.stderr[-400:]}")
                times.append(seconds)
                print(f"{eq.id:<14} {eq.tier:<10} {seconds:6.2f} s", flush=True)
    print(f"median {statistics.median(times):.2f} s, max {max(times):.2f} s over {len(times)} runs "
          f"({args.rows} rows, one core{', with units' if args.units else ''})")


if __name__ == "__main__":
    main()
