"""The diffuser's refinement targets: what its single argmax decode spends its steps on, how
often parallel guesses collide, and how it compares with the AR decoder.

Usage::

    python benchmarks/diffuser_targets.py [--weights W] [--evaluation E] [--revise] [--steps 20]

Part 1 runs here, on any weights (the shipped ones by default): one argmax decode per
benchmark equation on the evaluation's support points (seed 2026), repaired, constants
fitted, scored on the evaluation's test points. It prints the median first equation step
and PAD-only steps, the decodes that repeat a variable in adjacent leaves or use fewer
distinct variables than the truth, the revisions, and how many the single decode derives.

Part 2 reads an evaluation JSON (``physdocs evaluate --json``) made with those weights:
diffusion against AR on the 120 at R^2 > 0.99 and exact, the held-out synthetic skeletons,
the pipeline's credit (diffusion proposed the chosen form / was its only proposer), and the
previous round's generalisation targets for the better decoder.

Exits 1 when a target is missed (a measurement, not a test).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

from physdocs.benchmark import load_benchmark
from physdocs.constants import R2_THRESHOLD
from physdocs.decoding import derive
from physdocs.decoding.derive import DERIVE_LENGTH_BEAM
from physdocs.decoding.diffusion import DiffusionConfig, length_logprobs
from physdocs.decoding.repair import validate_or_repair
from physdocs.decoding.scaling import choose_scaling
from physdocs.evaluation import EvalConfig, score_derivation
from physdocs.grammar import variables_used
from physdocs.models.checkpoint import load_checkpoint
from physdocs.observations import encode_observations
from physdocs.points import equation_points


def argmax_decodes(weights: str | None, steps: int, revise: bool) -> list[dict]:
    """One argmax decode per benchmark equation, as the evaluation's support points give it."""
    torch.set_num_threads(1)
    model = load_checkpoint(Path(weights) if weights else None).model.eval()
    cfg = EvalConfig()
    sampler = DiffusionConfig(steps=steps, revise=revise)
    rows = []
    for eq in load_benchmark():
        support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
        rng = np.random.default_rng([cfg.seed, 2])
        d = derive(model, support.x, support.y, decoder="diffusion", n_samples=1, diffusion=sampler, rng=rng,
                   restarts=cfg.restarts)
        stats = d.candidates[0]["trajectory_stats"]
        # Where the length head ranks the true EOS position (0 = its first choice): the argmax
        # canvases only try the DERIVE_LENGTH_BEAM most likely lengths.
        scaling = choose_scaling(support.x, support.y, [v.name for v in eq.variables], eq.output)
        with torch.inference_mode():
            memory = model.encode(torch.from_numpy(encode_observations(*scaling.apply(support.x, support.y)))[None])
            order = torch.argsort(length_logprobs(model, memory)[0], descending=True).tolist()
        scored = score_derivation(d, test.x, test.y, eq.step_trees)
        parsed = validate_or_repair(d.candidates[0]["tokens"])
        used = len(variables_used(parsed.steps)) if parsed.steps else 0
        rows.append({"id": eq.id, "tier": eq.tier, **stats, **scored,
                     "derived": (scored["r2_test"] or -np.inf) > R2_THRESHOLD,
                     "length_rank": order.index(len(eq.tokens) - 1),
                     "too_few_variables": used < len(eq.variables)})
    return rows


def median(values) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def check(label: str, value, target: str, ok: bool) -> bool:
    print(f"  {label:<58} {value!s:>10}   target {target:<10} {'met' if ok else 'MISSED'}")
    return ok


def part1(rows: list[dict]) -> bool:
    n = len(rows)
    first = median(r["first_equation_step"] for r in rows)
    pad = median(r["pad_only_steps"] for r in rows)
    repeated = sum(r["repeated_variable"] for r in rows)
    print(f"argmax decodes ({n} equations)")
    ok = check("median first_equation_step", first, "<= 3", first is not None and first <= 3)
    ok &= check("median pad_only_steps", pad, "<= 1", pad is not None and pad <= 1)
    ok &= check("repeated adjacent variable", f"{repeated}/{n}", "<= 10", repeated <= 10)
    print(f"  {'fewer distinct variables than the truth':<58} {sum(r['too_few_variables'] for r in rows)}/{n}")
    print(f"  {'decodes with a revision':<58} {sum(r['revisions'] > 0 for r in rows)}/{n}")
    derived = [r for r in rows if r["derived"]]
    tiers = {}
    for r in derived:
        tiers[r["tier"]] = tiers.get(r["tier"], 0) + 1
    print(f"  {'derived by the single decode (R2 > 0.99)':<58} {len(derived)}/{n}  {tiers}")
    print(f"  {'exact':<58} {sum(r['exact'] for r in rows)}/{n}")
    ranks = [r["length_rank"] for r in rows]
    cover = ", ".join(f"top {k}: {sum(x < k for x in ranks)}" for k in (1, 3, DERIVE_LENGTH_BEAM, 16))
    print(f"  {'true length among the most likely lengths':<58} {cover} of {n}")
    return ok


def part2(doc: dict) -> bool:
    rows = {(r["model"], r["decoder"], r["tier"]): r for r in doc["summary"]}
    diff, ar = rows.get(("trained", "diffusion", "all")), rows.get(("trained", "ar", "all"))
    ok = True
    print(f"evaluation (weights {doc['meta']['weights_sha256'][:12]})")
    if diff and ar:
        for metric in ("r2_gt_099", "exact"):
            ok &= check(f"diffusion vs AR on the 120, {metric}", f"{diff[metric]:.3f}/{ar[metric]:.3f}",
                        "diff >= AR", diff[metric] >= ar[metric])
    evaluated = [r for r in doc["results"] if r["model"] == "trained" and r["decoder"] == "diffusion"
                 and "first_equation_step" in r]
    if evaluated:
        ok &= check("evaluation rows: median first_equation_step",
                    median(r["first_equation_step"] for r in evaluated), "<= 3",
                    (median(r["first_equation_step"] for r in evaluated) or 99) <= 3)
        ok &= check("evaluation rows: repeated adjacent variable",
                    sum(r["repeated_variable"] for r in evaluated), "<= 10",
                    sum(r["repeated_variable"] for r in evaluated) <= 10)
    for r in (doc.get("synthetic") or {}).get("summary") or []:
        if r["decoder"] == "diffusion" and r["split"] == "heldout":
            ok &= check("held-out synthetic, diffusion exact", r["exact"], ">= 0.15", r["exact"] >= 0.15)
            ok &= check("held-out synthetic, diffusion R2 > 0.99", r["r2_gt_099"], ">= 0.55", r["r2_gt_099"] >= 0.55)
    for p in doc.get("proposers") or []:
        if p["decoder"] != "pipeline" or not p["derived"]:
            continue
        share = p["proposed"].get("diffusion", 0) / p["derived"]
        ok &= check("pipeline: diffusion proposed the chosen form", f"{share:.3f}", ">= 0.40", share >= 0.40)
        only = p["only"].get("diffusion", 0)
        ok &= check("pipeline: diffusion the only proposer", only, ">= 5", only >= 5)
    gen = (doc.get("variants") or {}).get("summary") or []
    best = doc["meta"]["best_decoder"]

    def rate(by: str, group: str) -> float | None:
        return next((r["r2_gt_099"]["rate"] for r in gen if (r["decoder"], r["variant"], r["by"], r["group"])
                     == (best, "original", by, group)), None)

    never, five = rate("exposure", "never drawn"), rate("variables", "5-9")
    held = next((r["r2_gt_099"] for r in (doc.get("synthetic") or {}).get("summary") or []
                 if r["decoder"] == best and r["split"] == "heldout"), None)
    for label, value, target in ((f"{best}: never-drawn skeletons", never, 0.25),
                                 (f"{best}: held-out synthetic skeletons", held, 0.60),
                                 (f"{best}: 5-9 variables", five, 0.35)):
        ok &= check(label, value, f">= {target}", value is not None and value >= target)
    return ok


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--weights", help="checkpoint (default: the shipped weights)")
    ap.add_argument("--evaluation", help="an evaluation JSON made with these weights")
    ap.add_argument("--steps", type=int, default=20)
    ap.add_argument("--revise", action="store_true", help="decode with revision (re-masking of placed tokens)")
    ap.add_argument("--json", help="write the per-equation argmax rows here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    rows = argmax_decodes(args.weights, args.steps, args.revise)
    ok = part1(rows)
    print(f"  ({time.perf_counter() - t0:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1) + "\n")
    if args.evaluation:
        ok &= part2(json.loads(Path(args.evaluation).read_text()))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
