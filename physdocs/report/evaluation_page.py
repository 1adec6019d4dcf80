"""The evaluation page's data: accuracy with its budget, attribution and probes, from the JSON.

Pure functions of the evaluation document (``physdocs evaluate --json``). Every number is
taken from it; the sentences that compare numbers are composed here, where a test reaches
them, so the template holds no result.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import Any

import numpy as np

from physdocs import methods as M
from physdocs.benchmark import TIERS
from physdocs.constants import R2_THRESHOLD
from physdocs.report.render import MISSING, fmt, pct
from physdocs.results.analysis import LOG_LABELS, Leg, LogRecord
from physdocs.results.equal_time import EqualTime
from physdocs.results.evaluation import Audit, Evaluation, Grid, Meta, Rate, Variants

_ORDER = {t: i for i, t in enumerate((*TIERS, "all"))}
#: The configuration's counts the budget section shows as they are.
_BUDGET = ("n_samples", "beam_size", "ar_samples", "restarts", "seed", "n_support", "n_test")


def _pct(x: float | None) -> str:
    return pct(x, 0)


def _rows(evaluation: Evaluation) -> list[dict]:
    """Summary rows with their timing joined in (timing is kept apart in the JSON)."""
    out = []
    for r in evaluation.summary:
        t = evaluation.timing_row(r.model, r.decoder, r.tier)
        out.append({**asdict(r), "mean_seconds": t.mean_seconds if t else None,
                    "max_seconds": t.max_seconds if t else None})
    return out


def untimed_note(evaluation: Evaluation, model: str, decoder: str) -> str | None:
    """Why a method shows no seconds of its own: it ran inside another method's timed run."""
    if (model, decoder) not in evaluation.untimed:
        return None
    return f"timed only within {M.BY_KEY['pipeline'].label}'s run, whose seconds it shared"


def budget(meta: Meta) -> dict[str, Any]:
    """The decoding budget of the evaluation, from its config (counts, not seconds)."""
    b = meta.budget
    refine = b.refine or None
    beam = b.diffusion_beam or None
    return {
        **{k: getattr(b, k) for k in _BUDGET},
        "beam": beam,
        "beam_canvases": int(b.n_samples * beam["share"]) if beam and b.n_samples else 0,
        "refine": refine,
        "refine_budget": None if not refine else refine["rounds"] * refine["parents"] * refine["proposals"],
        "gp": b.gp if "gplearn" in (b.baselines or ()) else None,
    }


def comparisons(evaluation: Evaluation) -> list[str]:
    """One computed sentence per tier: trained decoders against each other and the control."""
    out = []
    for tier in (*TIERS, "all"):
        diff, ar, ctrl, gp = (evaluation.summary_row(model, decoder, tier) for model, decoder in (
            ("trained", "diffusion"), ("trained", "ar"), ("control", "diffusion"), ("baseline", "gplearn")))
        if diff is None or ar is None:
            continue
        verdict = "at least as accurate as" if diff.r2_gt_099 >= ar.r2_gt_099 else "less accurate than"
        text = (f"{tier}: PhysDiffuser with refinement {_pct(diff.r2_gt_099)} (first guess "
                f"{_pct(diff.first_r2_gt_099)}), {verdict} the AR baseline at {_pct(ar.r2_gt_099)}")
        if ctrl is not None:
            gap = diff.r2_gt_099 - ctrl.r2_gt_099
            text += (f"; the random-initialised control reaches {_pct(ctrl.r2_gt_099)}"
                     + (" (no better than the control)" if gap <= 0 else ""))
        if gp is not None:
            text += f"; the gplearn baseline reaches {_pct(gp.r2_gt_099)}"
        out.append(text + ".")
    return out


def audit_tables(audit: Audit | None) -> dict[str, Any] | None:
    """Per tier: equations whose skeleton training could draw, and how often it did."""
    if audit is None:
        return None
    per_tier = []
    for tier in (*TIERS, "all"):
        sel = [e for e in audit.equations if tier == "all" or e.tier == tier]
        if not sel:
            continue
        draws = [e.training_draws for e in sel if e.training_draws is not None]
        per_tier.append({
            "tier": tier,
            "n": len(sel),
            "in_support": sum(e.split == "train" for e in sel),
            "held_out": sum(e.split == "heldout" for e in sel),
            "drawn": sum(d > 0 for d in draws) if draws else None,
            "median_draws": float(np.median(draws)) if draws else None,
        })
    return {"samples": audit.training_samples, "per_tier": per_tier, "equations": audit.equations}


def rate_ci(r: Rate) -> str:
    """``"52% (43–61%, 62/120)"``: rate, Wilson 95% interval and count (no brackets, which
    Markdown would escape)."""
    return f"{_pct(r.rate)} ({100 * r.low:.0f}–{100 * r.high:.0f}%, {r.k}/{r.n})"


def generalisation_tables(variants: Variants | None) -> dict[str, Any] | None:
    """The generalisation section: variants, exposure strata and variable counts, with
    intervals, and one computed sentence per decoder comparing each variant with the own boxes."""
    if variants is None or not variants.summary:
        return None
    summary = variants.summary
    decoders = sorted({r.decoder for r in summary})
    present = [v for v in ("original", "shifted", "noisy") if any(r.variant == v for r in summary)]

    def table(kind: str, groups: list[str]) -> list[dict]:
        rows = []
        for d in decoders:
            for g in groups:
                cells = [variants.cell(d, v, kind, g) for v in present]
                if any(cells):
                    rows.append({"decoder": d, "group": g,
                                 "cells": [rate_ci(c.r2_gt_099) if c else MISSING for c in cells],
                                 "exact": [rate_ci(c.exact) if c else MISSING for c in cells]})
        return rows

    sentences = []
    for d in decoders:
        base = variants.cell(d, "original", "all", "all")
        for v in present[1:]:
            other = variants.cell(d, v, "all", "all")
            if base and other:
                gap = 100 * (other.r2_gt_099.rate - base.r2_gt_099.rate)
                sentences.append(
                    f"{d}: {v} {_pct(other.r2_gt_099.rate)} against {_pct(base.r2_gt_099.rate)} on the "
                    f"own boxes, {gap:+.0f} points: {rate_ci(other.r2_gt_099)} against "
                    f"{rate_ci(base.r2_gt_099)}.")
    tiers = [t for t in TIERS if any(r.by == "tier" and r.group == t for r in summary)]
    return {
        "variants": present,
        "overall": table("all", ["all"]),
        "tiers": table("tier", tiers),
        "exposure": table("exposure", ["never drawn", "1-999 draws", "1,000+ draws"]),
        "variables": table("variables", ["1-2", "3-4", "5-9"]),
        "sentences": sentences,
    }


def credit_tables(evaluation: Evaluation) -> dict[str, Any] | None:
    """Every stage's credit (method x tier, R^2 > 0.99 and exact with intervals, sizes) and
    the computed verdict on what the model adds to Operon."""
    credit = evaluation.credit
    if not credit:
        return None
    tiers = [t for t in (*TIERS, "all") if any(r.tier == t for r in credit)]
    methods = list(dict.fromkeys((r.method, r.stage) for r in credit))
    rows = []
    for method, stage in methods:
        label = f"{method}, first guess" if stage == "first" else method
        found = [evaluation.credit_row(method, stage, t) for t in tiers]
        for metric in ("exact", "r2_gt_099"):
            cells = [rate_ci(getattr(r, metric)) if r else MISSING for r in found]
            rows.append({"method": label, "metric": "exact" if metric == "exact" else f"R² > {R2_THRESHOLD}", "cells": cells})
    finals = [r for m, stage in methods
              if stage == "final" and (r := evaluation.credit_row(m, "final", "all")) is not None]
    sizes = [{"method": r.method, "size": r.median_size, "true": r.median_true_size}
             for r in finals if not math.isnan(r.median_size)]
    verdict = None
    pipe, alone = (evaluation.credit_row(M.BY_KEY[k].label, "final", "all") for k in ("pipeline", "operon"))
    if pipe and alone:
        d_exact = 100 * (pipe.exact.rate - alone.exact.rate)
        d_r2 = 100 * (pipe.r2_gt_099.rate - alone.r2_gt_099.rate)
        overlap = pipe.exact.low <= alone.exact.high and alone.exact.low <= pipe.exact.high
        if d_exact <= 0 and d_r2 <= 0:
            verdict = (f"The model adds nothing over Operon alone at this budget: exact recovery "
                       f"{rate_ci(pipe.exact)} against {rate_ci(alone.exact)}, R² > 0.99 "
                       f"{rate_ci(pipe.r2_gt_099)} against {rate_ci(alone.r2_gt_099)}.")
        else:
            verdict = (f"Seeding Operon with the model changes exact recovery by {d_exact:+.0f} points "
                       f"({rate_ci(pipe.exact)} against {rate_ci(alone.exact)} for Operon alone) and "
                       f"R² > 0.99 by {d_r2:+.0f} points ({rate_ci(pipe.r2_gt_099)} against "
                       f"{rate_ci(alone.r2_gt_099)})"
                       + ("; the exact-recovery intervals overlap, so the gain is not established."
                          if overlap and d_exact > 0 else "."))
    # tier names shown inside an HTML table, where Markdown escapes would show literally
    return {"tiers": [t.replace("_", " ") for t in tiers], "rows": rows, "sizes": sizes, "verdict": verdict}


#: The equal-time benchmark's parts, in the reader's order: (key, its name, ``{n}`` its equations).
EQUAL_TIME_PARTS = (("benchmark", "our {n} equations"), ("heldout_synthetic", "{n} held-out synthetic skeletons"))
#: Its methods, by registry key.
EQUAL_TIME_METHODS = ("pipeline", "operon")


def equal_time_table(equal_time: EqualTime | None, evaluation: Evaluation | None) -> dict[str, Any]:
    """The equal-time comparison for the evaluation page: ``status`` is "shown" (``parts``, each
    with its name, and ``rows``: per method, R² > 0.99, exact and median seconds per part),
    "other weights" (the file was made with other weights than the evaluation's) or "missing"."""
    if equal_time is None:
        return {"status": "missing"}
    if evaluation is None or equal_time.weights_sha256 != evaluation.meta.weights_sha256:
        return {"status": "other weights", "weights_sha256": equal_time.weights_sha256}
    parts = [(key, name, getattr(equal_time, key).summary) for key, name in EQUAL_TIME_PARTS]
    names = []
    for _, name, summary in parts:
        ns = sorted({m.exact.n for m in summary.values()})
        names.append(name.format(n="/".join(map(str, ns)) or "no"))
    rows = []
    for key in EQUAL_TIME_METHODS:
        cells = []
        for _, _, summary in parts:
            m = summary.get(key)
            cells += [rate_ci(m.r2_gt_099), rate_ci(m.exact), fmt(m.median_seconds)] if m else [MISSING] * 3
        rows.append({"method": M.BY_KEY[key].label, "cells": cells})
    return {"status": "shown", "parts": names, "rows": rows, "cpu_count": equal_time.cpu_count,
            "threads": equal_time.threads}


def evaluation_data(evaluation: Evaluation | None) -> dict[str, Any] | None:
    """Everything the evaluation page and the home page's table show; None if not evaluated."""
    if evaluation is None:
        return None
    rows = _rows(evaluation)
    groups: dict[tuple[str, str], list[dict]] = {}
    for row in rows:
        groups.setdefault((row["model"], row["decoder"]), []).append(row)
    tables = [
        {"model": m, "decoder": d, "rows": sorted(g, key=lambda r: _ORDER.get(r["tier"], len(_ORDER))),
         "seconds_note": untimed_note(evaluation, m, d)}
        for (m, d), g in sorted(groups.items())
    ]
    meta = evaluation.meta
    return {
        "tables": tables,
        "overall": [r for r in rows if r["tier"] == "all"],
        "decoders": sorted({r["decoder"] for r in rows}),
        "models": sorted({r["model"] for r in rows}),
        "seconds_total": meta.seconds_total,
        "weights": meta.weights,
        "best_decoder": meta.best_decoder,
        "budget": budget(meta),
        "comparisons": comparisons(evaluation),
        "synthetic": [{"decoder": r.decoder, "split": r.split, "n": r.n, "r2_ci": rate_ci(r.r2_interval),
                       "exact_ci": rate_ci(r.exact_interval)}
                      for r in (evaluation.synthetic.summary if evaluation.synthetic else ())],
        "audit": audit_tables(evaluation.audit),
        "generalisation": generalisation_tables(evaluation.variants),
        "credit": credit_tables(evaluation),
        "has_grid": bool(evaluation.grid and evaluation.grid.results),
    }


def training_summary(log: Sequence[LogRecord], legs: Sequence[Leg] = ()) -> list[str]:
    """What the training log says, as computed sentences (empty without a log); ``legs``
    (:func:`~physdocs.results.analysis.log_legs`) name the run's legs when there are several."""
    train = [r for r in log if r.kind == "train"]
    val = [r for r in log if r.kind == "val"]
    if not train or not val:
        return []
    last, first = val[-1], val[0]
    rates = [r.samples_per_s for r in train if r.samples_per_s]
    out = [f"Training ran {last.step:,} steps in {last.elapsed / 60:.0f} minutes, at a median "
           f"{float(np.median(rates)):.0f} samples per second." if rates else
           f"Training ran {last.step:,} steps."]
    if len(legs) > 1:
        out.append(f"It is one run in {len(legs)} legs, each starting from the previous leg's weights with a "
                   "fresh optimiser and learning-rate schedule (the dotted lines in the figure): " + "; ".join(
                       f"{leg.name}, steps {leg.start:,}–{leg.end:,}"
                       + (f" ({leg.minutes:.0f} min)" if leg.minutes is not None else "") for leg in legs)
                   + f". The shipped weights are the end of the last leg, {legs[-1].name}; the metadata "
                   "table's steps and minutes are that leg's.")
    acc = [(k, LOG_LABELS[k]) for k in ("ar_token_acc", "diff_real_token_acc")
           if getattr(last, k) is not None and getattr(first, k) is not None]
    if acc:
        out.append("On the fixed validation set, " + "; ".join(
            f"{label} went from {getattr(first, k):.3f} (step {first.step}) to {getattr(last, k):.3f}"
            for k, label in acc) + ".")
    if last.ar_gap is not None and last.diff_gap is not None:
        out.append(f"At the end, swapping in another equation's observations raises the AR decoder's loss "
                   f"by {last.ar_gap:.3f} nats and the PhysDiffuser's loss on masked equation tokens by "
                   f"{last.diff_gap:.3f} nats: "
                   + ("both decoders read their data." if min(last.ar_gap, last.diff_gap) > 0
                      else "at least one decoder does not use its data."))
    return out


# ----------------------------------------------------------------- the reader's order

#: The methods of the method x tier table, in reading order: ``(model, decoder) -> label``.
METHODS: dict[tuple[str, str], str] = {(m.model, m.decoder): m.label for m in M.REGISTRY}
#: The two measures, exact recovery first: ``(key, label)``.
MEASURES = (("exact", "exact"), ("r2_gt_099", f"R² > {R2_THRESHOLD}"))


def method_label(model: str, decoder: str) -> str:
    """The reader's name of a (model, decoder) pair: ``("baseline", "operon") -> "Operon alone"``."""
    return M.label(model, decoder)


def method_pairs(evaluation: Evaluation) -> list[tuple[str, str]]:
    """The evaluated (model, decoder) pairs in :data:`METHODS` order, any other after them by name."""
    order = list(METHODS)
    return sorted({(o.model, o.decoder) for o in evaluation.outcomes},
                  key=lambda p: (order.index(p) if p in METHODS else len(order), p))


def method_tier_rows(evaluation: Evaluation) -> dict[str, Any] | None:
    """Each method's exact and R² > 0.99 share per tier, with Wilson 95% intervals and counts.

    Counted from the per-equation results (:attr:`Evaluation.outcomes`), so every cell is
    ``k/n`` of real outcomes (the evaluation's own credit table has no control model).
    ``rows``: ``{"method", "model", "decoder", "measure", "key", "cells": [Rate or None per
    tier], "text": [str]}``, methods in :data:`METHODS` order.
    """
    if not evaluation.outcomes:
        return None
    tiers = [t for t in (*TIERS, "all") if any(o.tier == t for o in evaluation.outcomes)]
    rows = []
    for measure, label in MEASURES:
        for model, decoder in method_pairs(evaluation):
            found = [evaluation.outcome(model, decoder, t) for t in tiers]
            cells = [getattr(o, measure) if o else None for o in found]
            rows.append({"method": method_label(model, decoder), "model": model, "decoder": decoder,
                         "measure": label, "key": measure, "cells": cells,
                         "text": [rate_ci(c) if c else MISSING for c in cells]})
    return {"tiers": tiers, "rows": rows}


def stage_rows(evaluation: Evaluation) -> list[dict[str, Any]]:
    """Where each trained method's derivations (R² > 0.99) come from, counted per equation.

    The final answer's ``source`` says which stage produced it (the first canvas by argmax,
    a sampled canvas, the refinement search, a beam, an ancestral sample, a model candidate
    kept by the pipeline, or Operon); ``repaired`` counts the derived answers that needed a
    repair rule before they could be parsed. ``proposed``: ``(stage, proposed, only)`` per
    stage, for rows that carry ``proposed_by`` (every stage whose candidates held the final
    answer's canonical form; ``only``: it alone did).
    """
    out = []
    for (model, decoder), label in METHODS.items():
        sel = [r for r in evaluation.results if r.model == model and r.decoder == decoder and r.original]
        if not sel or model != "trained":
            continue
        ok = [r for r in sel if r.derived]
        sources = Counter((r.source or "unknown").split()[0] for r in ok)
        credit = [r.proposed_by for r in ok if r.proposed_by is not None]
        stages = sorted({w for c in credit for w in c})
        out.append({"method": label, "n": len(sel), "derived": len(ok),
                    "sources": sorted(sources.items(), key=lambda kv: (-kv[1], kv[0])),
                    "proposed": [(w, sum(w in c for c in credit), sum(c == (w,) for c in credit)) for w in stages],
                    "repaired": sum(r.status == "repaired" for r in ok),
                    "repaired_all": sum(r.status == "repaired" for r in sel)})
    return out


#: Training metadata keys -> (group, label); a key not listed is shown under "other" as it is.
TRAINING_LABELS: dict[str, tuple[str, str]] = {
    # The sidecar is written by the leg that made the weights: its counts are that leg's.
    "step": ("last leg", "optimiser steps"),
    "samples": ("last leg", "training equations drawn"),
    "minutes": ("last leg", "wall-clock minutes"),
    "parameters": ("run", "parameters (all three networks)"),
    "seed": ("run", "seed"),
    "device": ("run", "device"),
    "world_size": ("run", "processes"),
    "torch": ("run", "PyTorch"),
    "commit": ("run", "code commit"),
    "final": ("last leg", "finished (not interrupted)"),
}
_PHASES = {"last_val_": "validation, last", "last_": "training batch, last"}

def training_metadata(meta: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The checkpoint's training metadata as labelled rows ``{"group", "label", "key", "value"}``.

    Every key is shown: known ones with a label, the rest under "other" with the key itself.
    """
    rows = []
    for key, value in meta.items():
        if key in TRAINING_LABELS:
            group, label = TRAINING_LABELS[key]
        else:
            prefix = next((p for p in _PHASES if key.startswith(p) and key[len(p):] in LOG_LABELS), None)
            group, label = (_PHASES[prefix], LOG_LABELS[key[len(prefix):]]) if prefix else ("other", key)
        rows.append({"group": group, "label": label, "key": key, "value": value})
    order = {g: i for i, g in enumerate(("run", "last leg", "training batch, last", "validation, last", "other"))}
    return sorted(rows, key=lambda r: (order[r["group"]], r["label"]))


def grid_summary(grid: Grid | None) -> list[dict[str, Any]]:
    """Per decoder: how many capability-grid instances were derived as their own shape."""
    out = []
    for decoder, tables in sorted((grid.confusion if grid else {}).items()):
        flags: list[bool] = []
        cells = set()
        for table in tables["final"].values():
            counts = np.asarray(table.counts, dtype=int)
            for i, shape in enumerate(table.shapes):
                j = table.labels.index(shape) if shape in table.labels else None
                flags += [True] * int(counts[i, j] if j is not None else 0)
                flags += [False] * int(counts[i].sum() - (counts[i, j] if j is not None else 0))
                cells.add(int(counts[i].sum()))
        rate = Rate.of(flags)
        out.append({"decoder": decoder, "rate": rate, "text": rate_ci(rate), "per_cell": sorted(cells)})
    return out
