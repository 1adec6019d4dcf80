"""The evaluation's jobs: one row per equation, method and variant, run in worker processes,
and the document they make (:func:`run_evaluation`)."""

from __future__ import annotations

import os
import platform
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from physdocs import probes
from physdocs.baselines import run_gplearn
from physdocs.benchmark import Equation, benchmark_sha256, load_benchmark
from physdocs.decoding.derive import Derivation, derive, score_on
from physdocs.decoding.dimensional import search_with_units
from physdocs.decoding.search import named, search, tree_size
from physdocs.evaluation.config import EvalConfig
from physdocs.evaluation.summary import (
    best_decoder,
    credit,
    generalisation,
    proposers,
    summarise,
    summarise_synthetic,
    timing,
)
from physdocs.matching import explain_match
from physdocs.methods import BY_KEY as METHODS
from physdocs.models import PhysDiffuserPlus
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, counts_behind, load_checkpoint, sha256
from physdocs.points import equation_number, equation_points, shifted_box
from physdocs.results import finite


def evaluate_equation(
    model: PhysDiffuserPlus, eq: Equation, decoder: str, cfg: EvalConfig, variant: str = "original"
) -> dict:
    """One equation, one decoder, one variant: best candidate, held-out R^2, exact recovery, seconds."""
    box = shifted_box(eq, cfg.seed) if variant == "shifted" else None
    support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test, variant, box=box)
    rng = np.random.default_rng([cfg.seed, equation_number(eq.id), 2])
    t0 = time.perf_counter()
    result = run_derive(model, support.x, support.y, decoder, cfg, rng, eq.display_names)
    seconds = time.perf_counter() - t0
    for d in (result, result.first_guess):  # the equation's own names, never x1 ..
        if d is not None and d.expression is not None:
            d.expression = named(d.expression, eq.plain_names)
    row = {"id": eq.id, "tier": eq.tier, "decoder": decoder, "variant": variant, "n_vars": len(eq.variables),
           **score_derivation(result, test.x, test.y, eq.step_trees)}
    if variant == "shifted":
        row["box"] = [[float(a), float(b)] for a, b in zip(test.x.min(0), test.x.max(0), strict=True)]
        row["own_box"] = box is None  # no finite shifted box: it kept its own
    first = result.first_guess or result
    row["first"] = score_derivation(first, test.x, test.y, eq.step_trees, brief=True)
    row["n_candidates"] = len(result.candidates)
    if decoder == "diffusion":  # the argmax trajectory: steps spent on the equation, collisions
        stats = next((c["trajectory_stats"] for c in result.candidates if "trajectory_stats" in c), None)
        if stats is not None:
            row.update(stats)
    row["seconds"] = round(seconds, 3)
    return row


#: Objective evaluations that one model candidate's constant fit is counted as (BFGS starts x
#: iterations): Operon alone receives these on top of the pipeline's Operon budget.
EVALS_PER_CANDIDATE = 200


def pipeline_row(model, eq: Equation, cfg: EvalConfig, *, alone: bool = False) -> dict:
    """The pipeline on one benchmark equation (with the model-alone choice beside it), or
    Operon alone (``alone``) at the same counted budget: its own Operon budget plus the model
    stage's candidate fits (:data:`EVALS_PER_CANDIDATE` evaluations each)."""
    support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
    s = cfg.search
    seed = int(np.random.default_rng([cfg.seed, equation_number(eq.id), 7]).integers(2**31))
    if alone:
        n_model = s.beam_size + s.ar_samples + s.n_samples
        extra = n_model * s.restarts * EVALS_PER_CANDIDATE
        s = replace(s, operon=replace(s.operon, max_evaluations=s.operon.max_evaluations + extra))
    t0 = time.perf_counter()
    result = search(None if alone else model, support.x, support.y, cfg=s, seed=seed, names=eq.display_names,
                    text_names=eq.plain_names, use_model=not alone)
    seconds = time.perf_counter() - t0

    def row(derivation, label: str, size: int, seconds: float = seconds) -> dict:
        scored = score_derivation(derivation, test.x, test.y, eq.step_trees)
        return {"model": "baseline" if alone else "trained", "decoder": label, "id": eq.id, "tier": eq.tier,
                "n_vars": len(eq.variables), **scored, "size": size, "true_size": tree_size(tuple(eq.step_trees)),
                "seconds": round(seconds, 3)}

    main = row(result.derivation, "operon" if alone else "pipeline", result.chosen.size)
    main["counts"] = result.counts
    main["front"] = result.front
    main["proposed_by"] = list(result.proposed_by)
    if result.model_only is not None:
        # the model alone's time is its stage of the search (decoding and fitting), not the whole run
        alone_row = row(result.model_only, "model", result.model_only_size, result.counts["model_seconds"])
        alone_row["proposed_by"] = list(result.model_only_proposed_by)
        alone_row["first"] = {k: alone_row[k] for k in ("prediction", "r2_test", "exact", "source")}
        main["first"] = {k: alone_row[k] for k in ("prediction", "r2_test", "exact", "source")}
        main["model_alone"] = alone_row
    else:
        main["first"] = {k: main[k] for k in ("prediction", "r2_test", "exact", "source")}
    return main


def run_derive(model, x, y, decoder: str, cfg: EvalConfig, rng: np.random.Generator, names=None,
               scaling=None) -> Derivation:
    """One decoder alone on ``(x, y)`` at the evaluation's budget (:meth:`EvalConfig.decoder_budget`).

    The data are normalised as in training (by ``scaling`` when the caller chose it) and the
    result is in the data's own units.
    """
    return derive(model, x, y, decoder=decoder, rng=rng, names=names, scaling=scaling, **cfg.decoder_budget(decoder))


def score_derivation(result: Derivation, x_test, y_test, truth, *, brief: bool = False) -> dict:
    """Held-out R^2 and symbolic match (negligible constants dropped on the test points)."""
    r2 = score_on(result, x_test, y_test)
    match = None
    if result.steps is not None and truth is not None:
        match = explain_match(result.steps, result.constants, truth, time_limit=2.0, x=x_test)
    out = {
        "prediction": None if result.expression is None else str(result.expression),
        "r2_test": finite(r2, 6),
        "exact": bool(match.matched) if match else False,
        "source": result.source,
    }
    if brief:
        return out
    return {
        **out,
        "latex": result.latex,
        "tokens": list(result.tokens) if result.tokens else None,
        "status": result.status,
        "note": result.note,
        "constants": [float(c) for c in result.constants],
        "r2_support": finite(result.r2_fit, 6),
        "match_reason": match.reason if match else "no usable candidate",
    }


def _models(cfg: EvalConfig) -> dict[str, PhysDiffuserPlus]:
    ckpt = load_checkpoint(Path(cfg.weights) if cfg.weights else None)
    out = {"trained": ckpt.model}
    if "control" in cfg.models:
        torch.manual_seed(cfg.seed)
        out["control"] = PhysDiffuserPlus(ckpt.config).eval()
    return {k: v for k, v in out.items() if k in cfg.models}


_WORKER: dict = {}


def _init_worker(cfg: EvalConfig) -> None:
    torch.set_num_threads(1)
    _WORKER["cfg"] = cfg
    _WORKER["models"] = _models(cfg)
    _WORKER["equations"] = {e.id: e for e in load_benchmark(cfg.benchmark)}


def gplearn_row(eq: Equation, cfg: EvalConfig) -> dict:
    """gplearn on one benchmark equation's support points, scored on its test points."""
    support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
    seed = int(np.random.default_rng([cfg.seed, equation_number(eq.id), 3]).integers(2**31))
    row = run_gplearn(support.x, support.y, test.x, test.y, eq.step_trees, seed, cfg.gp)
    return {"model": "baseline", "id": eq.id, "tier": eq.tier, "decoder": "gplearn", **row}


def pipeline_units_row(model, eq: Equation, cfg: EvalConfig) -> dict:
    """The pipeline given the benchmark's units (:mod:`physdocs.decoding.dimensional`), on the
    same points, seed and budget as :func:`pipeline_row`."""
    support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
    seed = int(np.random.default_rng([cfg.seed, equation_number(eq.id), 7]).integers(2**31))
    inputs, target = eq.dimensions
    t0 = time.perf_counter()
    result = search_with_units(model, support.x, support.y, inputs=inputs, target=target, target_name=eq.output,
                               cfg=cfg.search, seed=seed, names=eq.display_names, text_names=eq.plain_names)
    scored = score_derivation(result.derivation, test.x, test.y, eq.step_trees)
    row = {"model": "trained", "decoder": "pipeline-units", "id": eq.id, "tier": eq.tier, "n_vars": len(eq.variables),
           **scored, "size": result.chosen.size, "true_size": tree_size(tuple(eq.step_trees)),
           "seconds": round(time.perf_counter() - t0, 3), "counts": result.counts,
           "proposed_by": list(result.proposed_by)}
    return {**row, "first": {k: row[k] for k in ("prediction", "r2_test", "exact", "source")}}


def operon_scaled_row(eq: Equation, cfg: EvalConfig, factor: float, decoder: str) -> dict:
    """Operon alone (:func:`pipeline_row`) with ``factor`` times Operon's evaluations and
    generations: is the pipeline's gain only its longer run?"""
    op = cfg.search.operon
    op = replace(op, max_evaluations=round(op.max_evaluations * factor), generations=round(op.generations * factor))
    return {**pipeline_row(None, eq, replace(cfg, search=replace(cfg.search, operon=op)), alone=True),
            "decoder": decoder}


#: The runner behind each method's ``runner`` (physdocs.methods) that runs on its own job:
#: ``runner(trained model or None, equation, config) -> row``.
RUNNERS = {
    "pipeline": lambda model, eq, cfg: pipeline_row(model, eq, cfg),
    "operon": lambda model, eq, cfg: pipeline_row(model, eq, cfg, alone=True),
    "gplearn": lambda model, eq, cfg: gplearn_row(eq, cfg),
    "operon-3x": lambda model, eq, cfg: operon_scaled_row(eq, cfg, 3.0, "operon-3x"),
    "pipeline-units": pipeline_units_row,
}


def _run_job(job: tuple) -> dict:
    kind, model_name, *rest = job
    cfg: EvalConfig = _WORKER["cfg"]
    if kind in ("pipeline", "baseline"):  # model_name: the method's key
        runner = RUNNERS[METHODS[model_name].runner]
        return runner(_WORKER["models"].get("trained"), _WORKER["equations"][rest[0]], cfg)
    model = _WORKER["models"][model_name]
    if kind == "benchmark":
        eq_id, decoder, variant = rest
        return {"model": model_name, **evaluate_equation(model, _WORKER["equations"][eq_id], decoder, cfg, variant)}
    if kind == "synthetic":
        split, index, decoder = rest
        case = probes.synthetic_case(split, index, cfg.seed)
        rng = np.random.default_rng([cfg.seed, 71, probes.SPLITS.index(split), index, 2])
        t0 = time.perf_counter()
        result = run_derive(model, case.support.x, case.support.y, decoder, cfg, rng)
        row = score_derivation(result, case.test.x, case.test.y, case.steps, brief=True)
        first = score_derivation(result.first_guess or result, case.test.x, case.test.y, case.steps, brief=True)
        return {"model": model_name, "split": split, "index": index, "decoder": decoder,
                "truth": " ".join(case.tokens), "skeleton": case.skeleton, **row, "first": first,
                "seconds": round(time.perf_counter() - t0, 3)}
    n_vars, shape, instance, decoder = rest
    _, support, test = probes.grid_points(n_vars, shape, instance, cfg.seed)
    rng = np.random.default_rng([cfg.seed, 83, n_vars, probes.GRID[n_vars].index(shape), instance, 2])
    result = run_derive(model, support.x, support.y, decoder, cfg, rng)
    first = result.first_guess or result
    return {"model": model_name, "n_vars": n_vars, "shape": shape, "instance": instance, "decoder": decoder,
            "prediction": None if result.expression is None else str(result.expression),
            "final": probes.classify(result.steps, result.constants, n_vars, test.x),
            "first": probes.classify(first.steps, first.constants, n_vars, test.x)}


def cpu_model() -> str | None:
    """The processor's model name (Linux), else what :func:`platform.processor` says, else None.

    The rows Operon takes part in (the pipeline, Operon alone) reproduce exactly only on the
    same model: with the same code and pins, the shipped pipeline row of feynman_047 was
    reproduced on one machine and, repeatably, not on another processor.
    """
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or None


def run_evaluation(cfg: EvalConfig, progress: bool = True) -> dict:
    """Evaluate and return the JSON document (meta, results, summary, probes)."""
    weights = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
    load_checkpoint(weights)  # fail fast with the checkpoint's own message
    eqs = [e for e in load_benchmark(cfg.benchmark) if cfg.tier is None or e.tier == cfg.tier]
    if cfg.limit is not None:
        eqs = eqs[: cfg.limit]
    jobs: list[tuple] = []
    if "benchmark" in cfg.parts:
        jobs += [("benchmark", m, e.id, d, "original") for m in cfg.models for e in eqs for d in cfg.decoders]
        jobs += [("benchmark", "trained", e.id, d, v) for v in cfg.variants if v != "original"
                 for e in eqs for d in cfg.decoders]
    if "benchmark" in cfg.parts or "pipeline" in cfg.parts:
        jobs += [("baseline", b, e.id) for b in cfg.baselines for e in eqs]
    if "pipeline" in cfg.parts:
        jobs += [("pipeline", "pipeline", e.id) for e in eqs]
    if "synthetic" in cfg.parts:
        jobs += [("synthetic", "trained", s, i, d) for s in probes.SPLITS
                 for i in range(cfg.synthetic_per_split) for d in cfg.decoders]
    if "grid" in cfg.parts:
        jobs += [("grid", "trained", k, shape, i, d) for k, shape, i in probes.grid_cases() for d in cfg.decoders]
    t0 = time.perf_counter()
    rows: list[dict] = []
    bar = tqdm(total=len(jobs), disable=not progress, unit="eq", desc="evaluate")
    if cfg.workers > 1:
        with ProcessPoolExecutor(cfg.workers, initializer=_init_worker, initargs=(cfg,)) as pool:
            for row in pool.map(_run_job, jobs):
                rows.append(row)
                bar.update()
    else:
        _init_worker(cfg)
        for job in jobs:
            rows.append(_run_job(job))
            bar.update()
    bar.close()
    kinds = [job[0] for job in jobs]
    results = [r for r, k in zip(rows, kinds, strict=True)
               if k in ("baseline", "pipeline") or (k == "benchmark" and r["variant"] == "original")]
    results += [r.pop("model_alone") for r in results if "model_alone" in r]
    variant_rows = [r for r, k in zip(rows, kinds, strict=True) if k == "benchmark" and r["variant"] != "original"]
    synthetic = [r for r, k in zip(rows, kinds, strict=True) if k == "synthetic"]
    grid = [r for r, k in zip(rows, kinds, strict=True) if k == "grid"]
    summary = summarise(results)
    truth_sizes = {e.id: tree_size(tuple(e.step_trees)) for e in eqs}
    # a leg's weights not yet shipped read their run directory's counts (the same file ships beside them)
    audit = probes.memorisation_audit(load_benchmark(cfg.benchmark), counts_behind(weights))
    return {
        "meta": {
            "weights": weights.name,
            "weights_sha256": sha256(weights),
            "benchmark_sha256": benchmark_sha256(cfg.benchmark),
            "benchmark": Path(cfg.benchmark).name if cfg.benchmark else None,
            "config": cfg.to_dict(),
            "seconds_total": round(time.perf_counter() - t0, 1),
            "best_decoder": best_decoder(summary),
            "cpu_count": os.cpu_count(),
            "cpu": cpu_model(),
        },
        "results": results,
        "summary": summary,
        "timing": timing(results),
        "synthetic": {"results": synthetic, "summary": summarise_synthetic(synthetic)},
        "grid": {"results": grid, "confusion": {d: {"final": probes.confusion(grid, d),
                                                    "first": probes.confusion(grid, d, "first")}
                                                for d in cfg.decoders} if grid else {}},
        "audit": audit,
        "credit": credit(results, truth_sizes),
        "proposers": proposers(results),
        "variants": {"results": variant_rows,
                     "summary": generalisation([*results, *variant_rows], audit["equations"])},
    }
