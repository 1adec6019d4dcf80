"""One analysis run: trained model and random-initialised control over the benchmark.

``run_analysis(cfg) -> (results, arrays)``: ``results`` is the JSON of a
:class:`physdocs.results.analysis.Results` (entropy, token-type attention, trajectories, head
importance, tested claims); ``arrays`` holds the captured attention maps,
``"{model}/{eq_id}/{component}" -> [head, query, key]``, trimmed to real positions. Plots and
pages consume these; nothing here draws or renders.
"""

from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import torch

from physdocs.analysis import findings as F
from physdocs.analysis import metrics as M
from physdocs.analysis import schema as S
from physdocs.analysis.capture import (
    CAPTURE_NOTE,
    _inputs,
    _load_models,
    capture,
    decoder_head_importance,
    diffuser_head_ablation,
    single_slot_check,
)
from physdocs.analysis.readout import readout_analysis
from physdocs.analysis.records import (
    COMPONENTS,
    ROLE_TYPES,
    SEED_ENTROPY_BY_TIER,
    AnalysisError,
    _about,
    _evidence,
    _mean,
    _tier_tables,
    _trim,
    _uniform_entropy,
    equation_record,
    model_record,
)
from physdocs.analysis.schema import MODELS, AnalysisConfig
from physdocs.analysis.split import split_rows
from physdocs.benchmark import TIERS, benchmark_sha256, load_benchmark
from physdocs.decoding.diffusion import argmax_config, diffusion_decode
from physdocs.models.checkpoint import metrics_log, sha256
from physdocs.results.analysis import HeadImportance, HeadRoles, Meta, Results, SingleSlot
from physdocs.results.causal import read_causal
from physdocs.results.equations import tuples
from physdocs.results.evaluation import Evaluation

__all__ = ["COMPONENTS", "MODELS", "AnalysisConfig", "AnalysisError", "run_analysis"]


def run_analysis(cfg: AnalysisConfig = AnalysisConfig()) -> tuple[dict, dict[str, np.ndarray]]:  # noqa: B008
    """Capture, measure and test; returns (results, arrays). Deterministic for a config."""
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    torch.set_num_threads(max(1, torch.get_num_threads()))
    equations = list(load_benchmark(cfg.benchmark))
    if cfg.equation_ids is not None:
        known = {e.id: e for e in equations}
        missing = [i for i in cfg.equation_ids if i not in known]
        if missing:
            raise AnalysisError(f"unknown equation id(s) {missing}: see `physdocs equations`")
        equations = [known[i] for i in cfg.equation_ids]
    trained, control, trained_meta, weights = _load_models(cfg)
    # The interventions are a shipped artifact (`physdocs causal`), read only for these weights:
    # checked before any compute, so a mismatch stops the build at once, naming the command.
    causal = None
    if cfg.causal:
        causal = read_causal(Path(cfg.causal), weights_sha256=sha256(Path(weights)),
                             benchmark_sha256=benchmark_sha256(cfg.benchmark), equations=[e.id for e in equations],
                             weights=cfg.weights, benchmark=cfg.benchmark)
    inp = _inputs(equations, cfg.seed, trained.cfg.diffuser.max_len)
    timings["inputs"] = time.perf_counter() - t0

    maps_by_model: dict[str, list[dict[str, np.ndarray]]] = {}
    trajectories = {}
    for name, model in (("trained", trained), ("control", control)):
        t1 = time.perf_counter()
        captured = capture(model, inp, cfg.noise_levels, cfg.seed)
        maps_by_model[name] = [
            {comp: captured[comp][i] for comp in COMPONENTS} for i in range(len(equations))
        ]
        with torch.no_grad():
            memory = model.encode(inp.obs)
        trajectories[name] = diffusion_decode(
            model, memory, argmax_config(cfg.diffusion_steps, cfg.seed),
            n_samples=1, n_vars=None)
        timings[f"capture_{name}"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    records, uniform, arrays = [], [], {}
    for i, eq in enumerate(equations):
        with _about(eq):
            n = inp.lengths[i]
            models = {}
            for m in MODELS:
                maps = maps_by_model[m][i]
                models[m] = model_record(eq, maps, n, trajectories[m][i])
                for comp, a in maps.items():
                    trimmed = _trim(comp, a, n)
                    arrays[S.array_key(m, eq.id, comp)] = trimmed[-1].astype(np.float32)  # last layer [H, q, k]
                    if S.component(comp).kind != "encoder":  # encoders have one layer
                        for layer in range(trimmed.shape[0]):
                            arrays[S.array_key(m, eq.id, comp, layer + 1)] = trimmed[layer].astype(np.float16)
                conf = trajectories[m][i].confidence.astype(np.float32)
                arrays[S.array_key(m, eq.id, S.TRAJECTORY_CONFIDENCE)] = conf
                # The point-to-point map ISAB 1 induces (MAB2 @ MAB1), head-averaged: [points, points].
                arrays[S.array_key(m, eq.id, S.INDUCED_MAP)] = M.induced_map(
                    maps["encoder.isab1.mab1"][0], maps["encoder.isab1.mab2"][0]).mean(axis=0).astype(np.float32)
            uniform.append({comp: _uniform_entropy(comp, maps_by_model["trained"][i][comp], n) for comp in COMPONENTS})
            records.append(equation_record(eq, models))
    timings["metrics"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    importance, roles = {}, {}
    if cfg.head_importance:
        for m, model in (("trained", trained), ("control", control)):
            diffuser_grid, roles[m] = diffuser_head_ablation(model, inp, cfg.seed)
            importance[m] = HeadImportance(tuples(diffuser_grid), tuples(decoder_head_importance(model, inp)))
    timings["head_importance"] = time.perf_counter() - t1


    t1 = time.perf_counter()
    readout, readout_evidence = None, None
    if len(inp.lengths) >= 2:  # path patching reads each equation against a partner's data
        readout, readout_evidence = readout_analysis(
            {"trained": trained, "control": control}, inp.obs, inp.canvas, inp.lengths, inp.support,
            level=cfg.noise_levels[len(cfg.noise_levels) // 2] if cfg.noise_levels else 0.5, seed=cfg.seed,
            n_boot=cfg.n_boot)
    timings["readout"] = time.perf_counter() - t1

    t1 = time.perf_counter()
    rng = np.random.default_rng(cfg.seed)
    tiers = _tier_tables(records, uniform, cfg.n_boot, rng)
    evidence = _evidence(records, equations, maps_by_model, inp.lengths, trajectories, roles, causal, readout_evidence)
    settings = F.Settings(n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=cfg.seed)
    claims = tuple(F.evaluate_all(evidence, settings))
    timings["claims"] = time.perf_counter() - t1
    single = single_slot_check(inp, cfg.seed)

    evaluation = None
    if cfg.evaluation and Path(cfg.evaluation).exists():
        evaluation = json.loads(Path(cfg.evaluation).read_text())
    split = None
    if evaluation is not None:
        split = tuple(split_rows(
            [r.to_json() for r in records], evaluation, {e.id: TIERS.index(e.tier) for e in equations},
            n_boot=cfg.n_boot, n_perm=cfg.n_perm, seed=cfg.seed))
    log = []
    log_path = Path(cfg.training_log) if cfg.training_log else metrics_log(Path(weights))
    if log_path.exists():
        log = [json.loads(line) for line in log_path.read_text().splitlines() if line.strip()]
    timings["total"] = time.perf_counter() - t0
    results = Results(
        meta=Meta(weights=Path(weights).name, weights_sha256=sha256(Path(weights)), seed=cfg.seed,
                  n_equations=len(equations), seconds={k: round(v, 2) for k, v in timings.items()},
                  trained_meta=trained_meta, config=cfg.to_dict(),
                  capture=CAPTURE_NOTE.format(levels=", ".join(f"{t:g}" for t in cfg.noise_levels)),
                  seed_entropy_by_tier=SEED_ENTROPY_BY_TIER, model_config=trained.cfg.to_dict()),
        equations=tuple(records),
        tiers=tiers,
        claims=claims,
        head_importance=importance,
        head_roles={m: HeadRoles(ROLE_TYPES, tuples(M.role_profile(r).round(5).tolist())) for m, r in roles.items()},
        inducing_coverage={m: _mean(r.models[m].inducing_coverage for r in records) for m in MODELS},
        single_slot=SingleSlot(**single),
        evaluation=None if evaluation is None else Evaluation.from_json(evaluation),
        split=split,
        causal=None if causal is None else replace(causal, per_equation={}),  # the arrays feed the findings only
        training_log=tuple(log),
        readout=readout,
    )
    return results.to_json(), arrays
