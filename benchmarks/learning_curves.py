"""Compare short training runs: final validation metrics and a quick benchmark score.

    python benchmarks/learning_curves.py runs/lc_a runs/lc_b [--equations 120] [--out FILE]

For each run directory (written by ``physdocs train --out DIR``): the last validation
record of ``metrics.jsonl`` (losses, token accuracies, the data-dependence gaps) and the
share of benchmark equations derived with held-out R^2 > 0.99 by each decoder's first
guess, with a small budget (16 diffusion samples; 16 beams + 16 AR samples; no
refinement), so that runs of 10-15 minutes can be ranked in a few minutes. Results go to
stdout as a Markdown table and, with ``--out``, to a JSON file.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import replace
from pathlib import Path

from physdocs.evaluation import EvalConfig, run_evaluation

QUICK = EvalConfig(
    beam_size=16, ar_samples=16, n_samples=16, refine=None, restarts=2, models=("trained",),
    parts=("benchmark",), workers=1,
)


def last_val(run: Path) -> dict:
    rows = [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines() if line.strip()]
    val = [r for r in rows if r["kind"] == "val"]
    train = [r for r in rows if r["kind"] == "train"]
    rate = sum(r["samples_per_s"] for r in train[1:]) / max(len(train) - 1, 1)
    return {**val[-1], "samples_per_s": round(rate, 1)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--equations", type=int, default=120, help="first N benchmark equations")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    table = []
    for run in args.runs:
        cfg = replace(QUICK, weights=str(run / "physdiffuser.safetensors"), limit=args.equations)
        doc = run_evaluation(cfg, progress=False)
        score = {f"{r['decoder']}_{r['tier']}": r["first_r2_gt_099"] for r in doc["summary"]}
        table.append({"run": str(run), **last_val(run), **score})
    cols = ["run", "step", "samples_per_s", "ar_loss", "diff_real_loss", "ar_gap", "diff_gap",
            "ar_token_acc", "diff_real_token_acc", "ar_all", "diffusion_all"]
    print("| " + " | ".join(cols) + " |")
    print("|" + "---|" * len(cols))
    for row in table:
        print("| " + " | ".join(str(row.get(c, "-")) for c in cols) + " |")
    if args.out:
        args.out.write_text(json.dumps(table, indent=1) + "\n")


if __name__ == "__main__":
    main()
