"""Rates from the evaluation's rows: per method and tier, credit, proposers, generalisation.

Pure functions of the rows (no model runs here)."""

from __future__ import annotations

import numpy as np

from physdocs import probes
from physdocs.benchmark import TIERS
from physdocs.constants import R2_THRESHOLD
from physdocs.evaluation.config import EXPOSURE_STRATA, VARIABLE_GROUPS, VARIANTS
from physdocs.intervals import rate_with_interval
from physdocs.methods import REGISTRY
from physdocs.results import finite


def credit(results: list[dict], truth_sizes: dict[str, int]) -> list[dict]:
    """Every method's credit at equal budget, per tier and overall, with Wilson 95% intervals,
    in the registry's reading order (:mod:`physdocs.methods`): each decoder's first guess and
    final, every other method's final; median size against the truth's. The controls are
    left out (their rates are in the summary)."""
    methods = [(m.label, m.model, m.decoder, stage) for m in REGISTRY if m.model != "control"
               for stage in (("first", "final") if m.runner == "decoder" else ("final",))]
    out = []
    for label, model, decoder, stage in methods:
        mine = [r for r in results if r.get("model") == model and r["decoder"] == decoder]
        if not mine:
            continue
        for tier in (*TIERS, "all"):
            sel = [r for r in mine if tier == "all" or r["tier"] == tier]
            if not sel:
                continue
            pick = [r if stage == "final" else r["first"] for r in sel]
            sizes = [r["size"] for r in sel if r.get("size")]
            out.append({
                "method": label, "stage": stage, "tier": tier, "n": len(sel),
                "r2_gt_099": rate_with_interval([(p["r2_test"] or -np.inf) > R2_THRESHOLD for p in pick]),
                "exact": rate_with_interval([bool(p["exact"]) for p in pick]),
                "median_size": float(np.median(sizes)) if sizes and stage == "final" else None,
                "median_true_size": float(np.median([truth_sizes[r["id"]] for r in sel if r["id"] in truth_sizes]))
                if stage == "final" else None,
            })
    return out


def proposers(results: list[dict]) -> list[dict]:
    """Per trained pipeline-like method (``pipeline``, ``model``): of its derived answers
    (R^2 > 0.99), how many each stage proposed (``proposed``) and how many only it proposed
    (``only``). A final answer is credited to every stage that proposed its canonical form."""
    out = []
    for decoder in ("pipeline", "model"):
        sel = [r for r in results if r.get("model") == "trained" and r["decoder"] == decoder and "proposed_by" in r]
        if not sel:
            continue
        ok = [r for r in sel if (r["r2_test"] if r["r2_test"] is not None else -np.inf) > R2_THRESHOLD]
        stages = sorted({w for r in ok for w in r["proposed_by"]})
        out.append({"decoder": decoder, "n": len(sel), "derived": len(ok),
                    "proposed": {w: sum(w in r["proposed_by"] for r in ok) for w in stages},
                    "only": {w: sum(r["proposed_by"] == [w] for r in ok) for w in stages}})
    return out


def summarise(results: list[dict]) -> list[dict]:
    """Per (model, decoder, tier) and overall ("all"): fractions with R^2 > 0.99 and exact."""
    rows = []
    keys = sorted({(r["model"], r["decoder"]) for r in results})
    for model, decoder in keys:
        mine = [r for r in results if r["model"] == model and r["decoder"] == decoder]
        for tier in (*TIERS, "all"):
            sel = [r for r in mine if tier == "all" or r["tier"] == tier]
            if not sel:
                continue
            r2 = np.array([r["r2_test"] if r["r2_test"] is not None else -np.inf for r in sel])
            r2_first = np.array([r["first"]["r2_test"] if r["first"]["r2_test"] is not None else -np.inf
                                 for r in sel])
            rows.append({
                "model": model, "decoder": decoder, "tier": tier, "n": len(sel),
                "r2_gt_099": round(float(np.mean(r2 > R2_THRESHOLD)), 4),
                "exact": round(float(np.mean([r["exact"] for r in sel])), 4),
                "first_r2_gt_099": round(float(np.mean(r2_first > R2_THRESHOLD)), 4),
                "first_exact": round(float(np.mean([r["first"]["exact"] for r in sel])), 4),
                "repaired": round(float(np.mean([r.get("status") == "repaired" for r in sel])), 4),
                "median_r2": finite(np.median(r2), 4),
            })
    return rows


def timing(results: list[dict]) -> list[dict]:
    """Seconds per (model, decoder, tier): kept apart from :func:`summarise`, which a seed repeats."""
    rows = []
    for model, decoder in sorted({(r["model"], r["decoder"]) for r in results}):
        mine = [r for r in results if r["model"] == model and r["decoder"] == decoder]
        for tier in (*TIERS, "all"):
            sel = [r["seconds"] for r in mine if tier == "all" or r["tier"] == tier]
            if sel:
                rows.append({"model": model, "decoder": decoder, "tier": tier,
                             "mean_seconds": round(float(np.mean(sel)), 3),
                             "max_seconds": round(float(np.max(sel)), 3)})
    return rows


def best_decoder(summary: list[dict], model: str = "trained") -> str | None:
    """The decoder (ar or diffusion) with the most equations at R^2 > 0.99 overall."""
    rows = [r for r in summary if r["model"] == model and r["tier"] == "all" and r["decoder"] in ("ar", "diffusion")]
    return max(rows, key=lambda r: (r["r2_gt_099"], r["exact"]))["decoder"] if rows else None


# --------------------------------------------------------------- driver


def _rate(values) -> float:
    return round(float(np.mean(values)), 4) if len(values) else 0.0


def summarise_synthetic(rows: list[dict]) -> list[dict]:
    """Per (decoder, split): R^2 > 0.99 and exact, final and first guess."""
    out = []
    for decoder in sorted({r["decoder"] for r in rows}):
        for split in probes.SPLITS:
            sel = [r for r in rows if r["decoder"] == decoder and r["split"] == split]
            if not sel:
                continue
            ok = [(r["r2_test"] or -np.inf) > R2_THRESHOLD for r in sel]
            ok_first = [(r["first"]["r2_test"] or -np.inf) > R2_THRESHOLD for r in sel]
            out.append({"decoder": decoder, "split": split, "n": len(sel), "r2_gt_099": _rate(ok),
                        "exact": _rate([r["exact"] for r in sel]), "first_r2_gt_099": _rate(ok_first),
                        "first_exact": _rate([r["first"]["exact"] for r in sel]),
                        "r2_interval": rate_with_interval(ok),
                        "exact_interval": rate_with_interval([r["exact"] for r in sel])})
    return out


def exposure_stratum(draws: int | None) -> str | None:
    """The training-exposure stratum of a skeleton drawn ``draws`` times (None: not logged)."""
    if draws is None:
        return None
    return EXPOSURE_STRATA[0] if draws == 0 else EXPOSURE_STRATA[1] if draws < 1000 else EXPOSURE_STRATA[2]


def variable_group(n_vars: int) -> str:
    return VARIABLE_GROUPS[0] if n_vars <= 2 else VARIABLE_GROUPS[1] if n_vars <= 4 else VARIABLE_GROUPS[2]


def generalisation(rows: list[dict], audit_rows: list[dict]) -> list[dict]:
    """Per (decoder, variant) of the trained model: R^2 > 0.99 and exact, with Wilson 95% intervals,
    overall, by tier, by training exposure and by number of variables."""
    draws = {a["id"]: a["training_draws"] for a in audit_rows}
    out = []
    mine = [r for r in rows if r.get("model") == "trained"]
    for decoder in sorted({r["decoder"] for r in mine}):
        for variant in VARIANTS:
            sel = [r for r in mine if r["decoder"] == decoder and r.get("variant", "original") == variant]
            if not sel:
                continue
            groups: list[tuple[str, str, list[dict]]] = [("all", "all", sel)]
            groups += [("tier", t, [r for r in sel if r["tier"] == t]) for t in TIERS]
            groups += [("exposure", s, [r for r in sel if exposure_stratum(draws.get(r["id"])) == s])
                       for s in EXPOSURE_STRATA]
            groups += [("variables", g, [r for r in sel if variable_group(r["n_vars"]) == g]) for g in VARIABLE_GROUPS]
            for by, group, part in groups:
                if not part:
                    continue
                out.append({
                    "decoder": decoder, "variant": variant, "by": by, "group": group,
                    "r2_gt_099": rate_with_interval([(r["r2_test"] or -np.inf) > R2_THRESHOLD for r in part]),
                    "exact": rate_with_interval([r["exact"] for r in part]),
                })
    return out


def format_summary(summary: list[dict]) -> str:
    lines = [f"{'model':<8} {'decoder':<9} {'tier':<10} {'n':>3} {'R2>0.99':>8} {'exact':>6} "
             f"{'first R2>0.99':>13} {'median R2':>9}"]
    for r in summary:
        med = "-" if r["median_r2"] is None else f"{r['median_r2']:.3f}"
        lines.append(f"{r['model']:<8} {r['decoder']:<9} {r['tier']:<10} {r['n']:>3} {r['r2_gt_099']:>8.2f} "
                     f"{r['exact']:>6.2f} {r['first_r2_gt_099']:>13.2f} {med:>9}")
    return "\n".join(lines)
