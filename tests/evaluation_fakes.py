"""A fake ``evaluation.json`` for the report's tests (the shape ``physdocs evaluate`` writes)."""

from __future__ import annotations

from physdocs.intervals import rate_with_interval


def evaluation_json(results: dict, sha: str | None = None, value: float = 0.654321) -> dict:
    rows = []
    for eq in results["equations"]:
        for decoder in ("diffusion", "ar"):
            rows.append(
                {
                    "id": eq["id"],
                    "tier": eq["tier"],
                    "model": "trained",
                    "decoder": decoder,
                    "prediction": "x1*x2",
                    "latex": "m c",
                    "status": "ok",
                    "constants": [],
                    "r2_test": value,
                    "exact": False,
                    "seconds": value,
                }
            )
    summary = [
        {
            "model": "trained",
            "decoder": d,
            "tier": t,
            "n": 2,
            "r2_gt_099": value,
            "exact": value,
            "median_r2": value,
            "mean_seconds": value,
        }
        for d in ("diffusion", "ar")
        for t in ("trivial", "all")
    ]
    meta = {
        "weights_sha256": sha or results["meta"]["weights_sha256"],
        "benchmark_sha256": "cd" * 32,
        "seed": 2026,
        "decoders": ["diffusion", "ar"],
        "seconds_total": value,
    }
    variants = [
        {"decoder": d, "variant": v, "by": by, "group": group,
         "r2_gt_099": rate_with_interval(flags), "exact": rate_with_interval(flags[:1])}
        for d in ("diffusion", "ar")
        for v, flags in (("original", [True, True, False]), ("shifted", [True, False, False]))
        for by, group in (("all", "all"), ("exposure", "never drawn"), ("variables", "5-9"), ("tier", "trivial"))
    ]
    credit = [
        {"method": m, "stage": "final", "tier": t, "n": 3, "r2_gt_099": rate_with_interval(r2),
         "exact": rate_with_interval(ex), "median_size": 7.0, "median_true_size": 5.0}
        for m, r2, ex in (("Operon alone", [True, True, True], [True, False, False]),
                          ("model + Operon", [True, True, True], [True, True, False]))
        for t in ("trivial", "all")
    ]
    return {"meta": meta, "results": rows, "summary": summary, "variants": {"results": [], "summary": variants},
            "credit": credit}
