"""A fake ``evaluation.json`` for the report's tests, built from the evaluation's records
(:mod:`physdocs.results.evaluation`), so it has the shape ``physdocs evaluate`` writes."""

from __future__ import annotations

from collections.abc import Sequence

from physdocs.benchmark import TIERS
from physdocs.results.evaluation import (
    CreditRow,
    Evaluation,
    Guess,
    Meta,
    Rate,
    ResultRow,
    SummaryRow,
    TimingRow,
    Variants,
    VariantSummary,
)

DECODERS = ("diffusion", "ar")


def evaluation_json(results: dict, sha: str | None = None, value: float = 0.654321) -> dict:
    """The trained model's two decoders on every analysed equation; ``value`` marks every number."""
    rows = tuple(
        ResultRow(id=eq["id"], tier=eq["tier"], model="trained", decoder=d, prediction="x1*x2", r2_test=value,
                  exact=False, source="argmax", status="ok", match_reason="no match", r2_support=value,
                  seconds=value, first=Guess("x1*x2", value, False, "argmax"), variant="original",
                  constants=(), latex="m c")
        for eq in results["equations"] for d in DECODERS
    )
    summary = tuple(SummaryRow("trained", d, t, n=2, r2_gt_099=value, exact=value, first_r2_gt_099=value,
                               first_exact=value, repaired=0.0, median_r2=value)
                    for d in DECODERS for t in ("trivial", "all"))
    timing = tuple(TimingRow("trained", d, t, mean_seconds=value, max_seconds=value)
                   for d in DECODERS for t in ("trivial", "all"))
    meta = Meta(weights_sha256=sha or results["meta"]["weights_sha256"], benchmark_sha256="cd" * 32,
                config={"seed": 2026, "decoders": list(DECODERS)}, seconds_total=value)
    variants = tuple(
        VariantSummary(d, v, by, group, r2_gt_099=Rate.of(flags), exact=Rate.of(flags[:1]))
        for d in DECODERS
        for v, flags in (("original", [True, True, False]), ("shifted", [True, False, False]))
        for by, group in (("all", "all"), ("exposure", "never drawn"), ("variables", "5-9"), ("tier", "trivial"))
    )
    credit = tuple(
        CreditRow(m, "final", t, n=3, r2_gt_099=Rate.of(r2), exact=Rate.of(ex), median_size=7.0, median_true_size=5.0)
        for m, r2, ex in (("Operon alone", [True, True, True], [True, False, False]),
                          ("model + Operon", [True, True, True], [True, True, False]))
        for t in ("trivial", "all")
    )
    return Evaluation(meta, results=rows, summary=summary, timing=timing, credit=credit,
                      variants=Variants(summary=variants)).to_json()


def outcome_rows(model: str, decoder: str, exact: Sequence[bool], derived: Sequence[bool] | None = None
                 ) -> tuple[ResultRow, ...]:
    """One method's rows on equations ``eq_000``, ``eq_001``, … (tiers in turn): exact recovery as
    given, held-out R² above the threshold where ``derived`` (default: where exact)."""
    derived = exact if derived is None else derived
    return tuple(
        ResultRow(id=f"eq_{i:03d}", tier=TIERS[i % len(TIERS)], model=model, decoder=decoder, prediction="x1",
                  r2_test=1.0 if d else 0.5, exact=bool(e), source="operon", status="ok", match_reason="",
                  r2_support=1.0, seconds=1.0, first=Guess("x1", 1.0, bool(e), "operon"))
        for i, (e, d) in enumerate(zip(exact, derived, strict=True))
    )


def equal_time_json(sha: str, synthetic: bool = True) -> dict:
    """An equal-time benchmark document (``benchmarks/equal_time.py``) on two equations; without
    ``synthetic``, a run stopped before the held-out skeletons."""

    def part(n: int) -> dict:
        rate = {"n": n, "k": 1, "rate": 1 / n, "low": 0.0945, "high": 0.9055}
        return {"summary": {key: {"r2_gt_099": rate, "exact": rate, "median_seconds": 2.5 if key == "pipeline" else 3.0}
                            for key in ("pipeline", "operon")},
                "rows": [{"id": f"eq_{i}", "pipeline": {"r2_test": 1.0, "exact": i == 0, "seconds": 2.5,
                                                          "prediction": "x1"},
                          "operon": {"r2_test": None, "exact": False, "seconds": 3.0, "prediction": None}}
                         for i in range(n)]}

    return {"weights_sha256": sha, "cpu_count": 16, "threads": 1, "benchmark": part(2),
            "heldout_synthetic": part(2) if synthetic else {"summary": {}, "rows": []}}
