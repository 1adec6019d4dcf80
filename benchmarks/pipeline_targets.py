"""The generalisation and pipeline targets, read from an evaluation JSON (``physdocs evaluate --json``).

Usage: ``python benchmarks/pipeline_targets.py [physdocs/data/evaluation.json]``

Generalisation (the model with today's search, the better decoder):
- all 120 at R2 > 0.99 >= 60%; never-drawn skeletons >= 25%; held-out synthetic skeletons
  >= 60%; 5-9 variables >= 35%;
- range-shifted within 5 points of the own boxes (not below by more); 1% noise within 10.

Pipeline (model candidates -> seeded Operon -> held-back choice), at the same counted budget:
- R2 > 0.99 >= 85%; exact >= 60%; at least 10 points above Operon alone in exact and not
  below it in R2 > 0.99; per-equation seconds (median <= 10, max <= 30).

With units (the evaluation's ``--method pipeline-units``): exact >= 75% on all 120, >= 70% on
the never-drawn skeletons.

Prints every number with its target and exits 1 when one is missed (a measurement, not a test).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


def rate(summary: list[dict], decoder: str, variant: str, by: str, group: str) -> float | None:
    for r in summary:
        if (r["decoder"], r["variant"], r["by"], r["group"]) == (decoder, variant, by, group):
            return r["r2_gt_099"]["rate"]
    return None


def main(path: str) -> int:
    doc = json.loads(Path(path).read_text())
    gen = doc["variants"]["summary"]
    decoder = doc["meta"]["best_decoder"]
    rows: list[tuple[str, float | None, str, bool | None]] = []

    def check(label: str, value: float | None, target: str, ok: bool | None) -> None:
        rows.append((label, value, target, ok))

    own = rate(gen, decoder, "original", "all", "all")
    check(f"{decoder}: all 120, R2 > 0.99", own, ">= 0.60", own is not None and own >= 0.60)
    never = rate(gen, decoder, "original", "exposure", "never drawn")
    check(f"{decoder}: never-drawn skeletons", never, ">= 0.25", never is not None and never >= 0.25)
    held = next((r["r2_gt_099"] for r in doc["synthetic"]["summary"]
                 if r["decoder"] == decoder and r["split"] == "heldout"), None)
    check(f"{decoder}: held-out synthetic skeletons", held, ">= 0.60", held is not None and held >= 0.60)
    five = rate(gen, decoder, "original", "variables", "5-9")
    check(f"{decoder}: 5-9 variables", five, ">= 0.35", five is not None and five >= 0.35)
    shifted = rate(gen, decoder, "shifted", "all", "all")
    check(f"{decoder}: range-shifted", shifted, "own - 0.05 or more",
          None if shifted is None or own is None else shifted >= own - 0.05)
    noisy = rate(gen, decoder, "noisy", "all", "all")
    check(f"{decoder}: 1% noise", noisy, "own - 0.10 or more", None if noisy is None or own is None else noisy >= own - 0.10)

    credit = {(r["method"], r["tier"]): r for r in doc.get("credit", []) if r["stage"] == "final"}
    pipe, alone = credit.get(("model + Operon", "all")), credit.get(("Operon alone", "all"))
    if pipe:
        check("pipeline: R2 > 0.99", pipe["r2_gt_099"]["rate"], ">= 0.85", pipe["r2_gt_099"]["rate"] >= 0.85)
        check("pipeline: exact", pipe["exact"]["rate"], ">= 0.60", pipe["exact"]["rate"] >= 0.60)
    if pipe and alone:
        d_exact = pipe["exact"]["rate"] - alone["exact"]["rate"]
        d_r2 = pipe["r2_gt_099"]["rate"] - alone["r2_gt_099"]["rate"]
        check("pipeline - Operon alone: exact", d_exact, ">= +0.10", d_exact >= 0.10)
        check("pipeline - Operon alone: R2 > 0.99", d_r2, ">= 0", d_r2 >= 0)
    units = {g: next((r["exact"] for r in gen if (r["decoder"], r["variant"], r["by"], r["group"])
                      == ("pipeline-units", "original", by, g)), None)
             for by, g in (("all", "all"), ("exposure", "never drawn"))}
    for (label, target), exact in zip((("all 120", 0.75), ("never-drawn skeletons", 0.70)), units.values(),
                                      strict=True):
        if exact is not None:
            check(f"pipeline with units: exact, {label} ({exact['k']}/{exact['n']})", exact["rate"],
                  f">= {target:.2f}", exact["rate"] >= target)
    seconds = sorted(r["seconds"] for r in doc["results"] if r.get("decoder") == "pipeline")
    if seconds:
        median = seconds[len(seconds) // 2]
        check("pipeline: median seconds per equation", median, "<= 10", median <= 10)
        check("pipeline: max seconds per equation", seconds[-1], "<= 30", seconds[-1] <= 30)

    width = max(len(r[0]) for r in rows)
    for label, value, target, ok in rows:
        shown = "-" if value is None else f"{value:.4f}" if abs(value) < 1.5 else f"{value:.2f}"
        verdict = "n/a" if ok is None else "met" if ok else "MISSED"
        print(f"{label:<{width}}  {shown:>8}  {target:<20} {verdict}")
    return 0 if all(ok is not False for *_, ok in rows) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1] if len(sys.argv) > 1 else "physdocs/data/evaluation.json"))
