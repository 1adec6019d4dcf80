"""Benchmark evaluation: derive every equation with each decoder, trained and control.

For each equation: 50 support points (what the model sees), 200 fresh held-out points
(what R^2 is measured on), both drawn with seeds derived from ``seed`` and the equation
number. The random-initialised control is the same architecture under ``torch.manual_seed(seed)``.
The JSON written here is what the report consumes.

Generalisation (``EvalConfig.variants``): beside the benchmark's own boxes ("original"),
the trained model derives each formula on a range-shifted copy ("shifted": every box
moved by a seeded factor 10**U(-2, 2) and widened by U(1, 4), where the formula stays
finite and real) and on a noisy one ("noisy": 1% relative Gaussian noise on the support
target, scored against the noiseless target). :func:`generalisation` gives every rate
with a Wilson 95% interval, by tier, by exposure in training (never drawn, 1-999 draws,
1,000 or more) and by number of variables (1-2, 3-4, 5-9).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from physdocs import probes
from physdocs.baselines import GPConfig, run_gplearn
from physdocs.benchmark import DEFAULT_PATH, TIERS, Equation, load_benchmark
from physdocs.constants import DEFAULT_SEED, R2_THRESHOLD
from physdocs.decoding.derive import Derivation, derive, score_on
from physdocs.decoding.refine import RefineConfig
from physdocs.decoding.search import SearchConfig, named, search, tree_size
from physdocs.intervals import rate_with_interval
from physdocs.matching import explain_match
from physdocs.methods import BASELINES, DECODERS
from physdocs.methods import BY_KEY as METHODS
from physdocs.models import PhysDiffuserPlus
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, load_checkpoint, sha256, skeleton_log
from physdocs.points import equation_number, equation_points, shifted_box

VARIANTS = ("original", "shifted", "noisy")
EXPOSURE_STRATA = ("never drawn", "1-999 draws", "1,000+ draws")
VARIABLE_GROUPS = ("1-2", "3-4", "5-9")


@dataclass(frozen=True)
class EvalConfig:
    seed: int = DEFAULT_SEED
    decoders: tuple[str, ...] = ("ar", "diffusion")
    models: tuple[str, ...] = ("trained", "control")
    # The budget is counted in candidates and rounds, never seconds, so a seed gives the same
    # result on any machine; the seconds are reported (target: under 10 s per equation).
    beam_size: int = 32  # AR beams
    ar_samples: int = 32  # AR ancestral samples beside the beams
    n_samples: int = 48  # diffusion canvases (first guess)
    refine: RefineConfig | None = RefineConfig()  # diffusion only; None = first guess only
    restarts: int = 4
    # Probes beside the benchmark (physdocs.probes), trained model only; "pipeline" is the
    # derivation pipeline on the benchmark (physdocs.decoding.search).
    parts: tuple[str, ...] = ("benchmark", "synthetic", "grid", "pipeline")
    synthetic_per_split: int = 100
    # Benchmark copies for the trained model ("original" always runs; see the module doc).
    variants: tuple[str, ...] = VARIANTS
    # Classical baselines on the benchmark: gplearn (physdocs.baselines) and Operon alone
    # (physdocs.decoding.operon, at the pipeline's counted budget).
    baselines: tuple[str, ...] = ()
    gp: GPConfig = GPConfig()
    # The derivation pipeline (model candidates -> seeded Operon -> held-back choice), part "pipeline".
    search: SearchConfig = SearchConfig()
    n_support: int = 50
    n_test: int = 200
    weights: str | None = None
    benchmark: str | None = None  # an equations TOML file; None = the packaged benchmark
    tier: str | None = None
    limit: int | None = None
    workers: int = 2

    def __post_init__(self) -> None:
        counts = {k: getattr(self, k) for k in ("beam_size", "n_samples", "restarts", "n_support", "n_test", "workers")}
        bad = {k: v for k, v in counts.items() if v < 1}
        if bad or self.ar_samples < 0 or self.synthetic_per_split < 0:
            raise ValueError(f"EvalConfig counts must be >= 1 (ar_samples, synthetic_per_split >= 0); got "
                             f"{bad or {'ar_samples': self.ar_samples, 'synthetic_per_split': self.synthetic_per_split}}")
        unknown = set(self.parts) - {"benchmark", "synthetic", "grid", "pipeline"}
        if set(self.variants) - set(VARIANTS):
            raise ValueError(f"EvalConfig: unknown variants {sorted(set(self.variants) - set(VARIANTS))}; "
                             f"variants are {', '.join(VARIANTS)}")
        if unknown or set(self.baselines) - set(BASELINES) or set(self.decoders) - set(DECODERS):
            raise ValueError(f"EvalConfig: unknown parts {sorted(unknown)}, baselines {self.baselines} or "
                             f"decoders {self.decoders}; parts are benchmark/synthetic/grid/pipeline, baselines "
                             f"{'/'.join(BASELINES)}, decoders {'/'.join(DECODERS)}")

    def to_dict(self) -> dict:
        return asdict(self)


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

    def row(derivation, label: str, size: int) -> dict:
        scored = score_derivation(derivation, test.x, test.y, eq.step_trees)
        return {"model": "baseline" if alone else "trained", "decoder": label, "id": eq.id, "tier": eq.tier,
                "n_vars": len(eq.variables), **scored, "size": size, "true_size": tree_size(tuple(eq.step_trees)),
                "seconds": round(seconds, 3)}

    main = row(result.derivation, "operon" if alone else "pipeline", result.chosen.size)
    main["counts"] = result.counts
    main["front"] = result.front
    main["proposed_by"] = list(result.proposed_by)
    if result.model_only is not None:
        alone_row = row(result.model_only, "model", result.model_only_size)
        alone_row["proposed_by"] = list(result.model_only_proposed_by)
        alone_row["first"] = {k: alone_row[k] for k in ("prediction", "r2_test", "exact", "source")}
        main["first"] = {k: alone_row[k] for k in ("prediction", "r2_test", "exact", "source")}
        main["model_alone"] = alone_row
    else:
        main["first"] = {k: main[k] for k in ("prediction", "r2_test", "exact", "source")}
    return main


def credit(results: list[dict], truth_sizes: dict[str, int]) -> list[dict]:
    """Every stage's credit at equal budget, per tier and overall, with Wilson 95% intervals:
    the decoders' first guesses and finals, the model alone (both decoders, held-back
    choice), Operon alone, model + Operon, and gplearn; median size against the truth's."""
    methods = [("ar", "trained", "ar", "first"), ("ar", "trained", "ar", "final"),
               ("diffusion", "trained", "diffusion", "first"), ("diffusion", "trained", "diffusion", "final"),
               ("model alone", "trained", "model", "final"), ("Operon alone", "baseline", "operon", "final"),
               ("model + Operon", "trained", "pipeline", "final"), ("gplearn", "baseline", "gplearn", "final")]
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


def run_derive(model, x, y, decoder: str, cfg: EvalConfig, rng: np.random.Generator, names=None) -> Derivation:
    """The one derive call of the evaluation, the CLI and the API: the configured budget per decoder.

    The data are normalised as in training and the result is in the data's own units.
    """
    n = cfg.n_samples if decoder == "diffusion" else cfg.ar_samples
    return derive(
        model, x, y, decoder=decoder, n_samples=n, beam_size=cfg.beam_size, rng=rng, restarts=cfg.restarts,
        names=names, refine=cfg.refine if decoder == "diffusion" else None,
    )


def score_derivation(result: Derivation, x_test, y_test, truth, *, brief: bool = False) -> dict:
    """Held-out R^2 and symbolic match (negligible constants dropped on the test points)."""
    r2 = score_on(result, x_test, y_test)
    match = None
    if result.steps is not None and truth is not None:
        match = explain_match(result.steps, result.constants, truth, time_limit=2.0, x=x_test)
    out = {
        "prediction": None if result.expression is None else str(result.expression),
        "r2_test": _finite(r2),
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
        "r2_support": _finite(result.r2_fit),
        "match_reason": match.reason if match else "no usable candidate",
    }


def _finite(x: float) -> float | None:
    return None if x is None or not math.isfinite(x) else round(float(x), 6)


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
                "median_r2": round(float(np.median(r2)), 4) if np.isfinite(np.median(r2)) else None,
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


#: The runner behind each method's ``runner`` (physdocs.methods) that runs on its own job:
#: ``runner(trained model or None, equation, config) -> row``.
RUNNERS = {
    "pipeline": lambda model, eq, cfg: pipeline_row(model, eq, cfg),
    "operon": lambda model, eq, cfg: pipeline_row(model, eq, cfg, alone=True),
    "gplearn": lambda model, eq, cfg: gplearn_row(eq, cfg),
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
    audit = probes.memorisation_audit(load_benchmark(cfg.benchmark), skeleton_log(weights))
    return {
        "meta": {
            "weights": weights.name,
            "weights_sha256": sha256(weights),
            "benchmark_sha256": hashlib.sha256(Path(cfg.benchmark or DEFAULT_PATH).read_bytes()).hexdigest(),
            "benchmark": Path(cfg.benchmark).name if cfg.benchmark else None,
            "config": cfg.to_dict(),
            "seconds_total": round(time.perf_counter() - t0, 1),
            "best_decoder": best_decoder(summary),
            "cpu_count": os.cpu_count(),
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


def _source_digest() -> str:
    """SHA-256 over the package's Python source: a code change invalidates cached evaluations."""
    h = hashlib.sha256()
    root = Path(__file__).parent
    for path in sorted(root.rglob("*.py")):
        h.update(str(path.relative_to(root)).encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def cached_evaluation(cfg: EvalConfig, cache_dir: Path, progress: bool = True) -> Path:
    """The evaluation JSON for ``cfg``, computed once per weights, equations, config and source."""
    weights = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
    equations = Path(cfg.benchmark) if cfg.benchmark else Path(DEFAULT_PATH)
    key_doc = {
        "weights": sha256(weights),
        "equations": hashlib.sha256(equations.read_bytes()).hexdigest(),
        "config": {k: v for k, v in cfg.to_dict().items() if k not in ("weights", "benchmark", "workers")},
        "source": _source_digest(),
    }
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"evaluation-{key}.json"
    if path.is_file():
        return path
    doc = run_evaluation(cfg, progress=progress)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    tmp.replace(path)
    return path


def evaluate_benchmark(*, weights=None, tier=None, decoders=None, json_path=None, control=True, limit=None,
                       baselines=()) -> dict:
    """CLI entry: run, print per-tier tables, optionally write JSON."""
    cfg = replace(EvalConfig(), weights=weights, tier=tier, limit=limit, baselines=tuple(baselines),
                  decoders=tuple(decoders) if decoders else EvalConfig.decoders,
                  models=("trained", "control") if control else ("trained",))
    doc = run_evaluation(cfg)
    print(format_summary(doc["summary"]))
    if json_path:
        Path(json_path).parent.mkdir(parents=True, exist_ok=True)
        Path(json_path).write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
    return doc


def format_summary(summary: list[dict]) -> str:
    lines = [f"{'model':<8} {'decoder':<9} {'tier':<10} {'n':>3} {'R2>0.99':>8} {'exact':>6} "
             f"{'first R2>0.99':>13} {'median R2':>9}"]
    for r in summary:
        med = "-" if r["median_r2"] is None else f"{r['median_r2']:.3f}"
        lines.append(f"{r['model']:<8} {r['decoder']:<9} {r['tier']:<10} {r['n']:>3} {r['r2_gt_099']:>8.2f} "
                     f"{r['exact']:>6.2f} {r['first_r2_gt_099']:>13.2f} {med:>9}")
    return "\n".join(lines)
