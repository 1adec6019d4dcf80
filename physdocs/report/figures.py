"""Which figures the site has, and rendering them (in a small process pool when worth it).

:func:`figure_jobs` turns results (:class:`~physdocs.results.analysis.Results`) + arrays into :class:`FigureJob` records: a site path, a
plot function from :mod:`physdocs.plots` and its keyword arguments; every figure renders at
the seed's 300 DPI (``physdocs.plots.style.DPI_PRINT``). It
decides nothing else; :func:`render_jobs` calls the plot functions and returns PNG bytes.

The seed's figure index (its section 10) keeps the seed's file names under
``figures/attention_maps/`` at print resolution, drawn from the trained model; figures for
equations that a small configuration did not analyse are left out.
"""

from __future__ import annotations

import multiprocessing
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from physdocs.analysis import schema as S
from physdocs.errors import InputError
from physdocs.methods import BY_KEY
from physdocs.report.evaluation_page import method_tier_rows
from physdocs.report.summary import forest_rows, paired_by_tier
from physdocs.results.analysis import Results
from physdocs.results.equations import EquationRecord

#: The ten equations of the seed's per-equation maps, and its three trajectories.
SEED_EQUATIONS = (
    "feynman_001",
    "feynman_020",
    "feynman_021",
    "feynman_045",
    "feynman_046",
    "feynman_075",
    "feynman_076",
    "feynman_100",
    "feynman_101",
    "feynman_120",
)
SEED_TRAJECTORIES = ("feynman_021", "feynman_048", "feynman_076")
SEED_ENCODER_EQUATION = "feynman_046"  # Coulomb's law
#: component -> the seed's file-name suffix (its readable name is the schema's)
SEED_MAPS = {
    "diffuser.self": "diffuser_self_attn",
    "diffuser.cross": "diffuser_cross_attn",
    "decoder.self": "decoder_self_attn",
    "decoder.cross": "decoder_cross_attn",
}
SEED_DIR = "figures/attention_maps"
#: Fewer jobs than this render in this process: a spawned worker imports matplotlib and the
#: plots (seconds), which only pays off over many figures; on a busy 2-core machine it did not
#: pay off for 26 figures (31 s pooled vs 28 s serial).
POOL_MIN_JOBS = 24

FigureSet = Literal["all", "seed-only"]


@dataclass(frozen=True)
class FigureJob:
    """One figure: ``plot`` is the :mod:`physdocs.plots` function that draws it from ``kwargs``."""

    path: str
    plot: Callable[..., Any]
    kwargs: dict[str, Any] = field(compare=False)


# ----------------------------------------------------------------- labels


def seed_map_path(eq_id: str, component: str) -> str:
    return f"{SEED_DIR}/{eq_id}_{SEED_MAPS[component]}.png"


def trajectory_path(eq_id: str) -> str:
    return f"{SEED_DIR}/trajectory_{eq_id}.png"


ENCODER_PATH = f"{SEED_DIR}/encoder_isab_attention.png"
ENTROPY_PATH = f"{SEED_DIR}/attention_entropy_by_tier.png"
TOKEN_TYPE_PATH = f"{SEED_DIR}/token_type_attention.png"
ENTROPY_PAGE = "entropy-scaling.md"  # its findings' statistics are drawn in the entropy figure
HEAD_IMPORTANCE_PATH = "figures/head_importance.png"
TRAINING_PATH = "figures/training_curves.png"
ACCURACY_PATH = "figures/accuracy_by_tier.png"
SUMMARY_PATH = "figures/summary.png"
DATA_DEPENDENCE_PATH = "figures/data_dependence.png"
GRID_PATH = "figures/capability_grid_{decoder}.png"
READOUT_PATH = "figures/logit_lens.png"


def memory_labels(n_keys: int) -> list[str]:
    """Cross-attention keys: one per observation (``p1`` ..) then the pooled slot ``z``."""
    return [f"p{i}" for i in range(1, n_keys)] + ["z"]


def token_labels(tokens: Sequence[str], n: int) -> list[str]:
    """The equation's tokens when they fit the axis, else positions ``t0`` .. ``t{n-1}``."""
    return list(tokens) if len(tokens) == n else [f"t{i}" for i in range(n)]


def map_labels(component: str, tokens: Sequence[str], shape: Sequence[int]) -> tuple[list[str], list[str]]:
    """(query labels, key labels) of a decoder-side map ``[H, q, k]``."""
    n_q, n_k = shape[-2], shape[-1]
    keys = token_labels(tokens, n_k) if component.endswith("self") else memory_labels(n_k)
    return token_labels(tokens, n_q), keys


def plain_title(text: str) -> str:
    """Text safe for a matplotlib title: ``$`` would start mathtext."""
    return re.sub(r"\$", r"\\$", text)


# ----------------------------------------------------------------- jobs


def _equation_title(eq: EquationRecord, what: str) -> str:
    return plain_title(f"{eq.id} {eq.name}: {what} ({S.MODEL_LABELS['trained']})")


def seed_jobs(results: Results, arrays: Mapping[str, np.ndarray]) -> list[FigureJob]:
    """The seed's figure index (section 10), for the equations present in ``results``."""
    from physdocs import plots as P  # matplotlib: only when figures are drawn

    jobs = []
    for eq in filter(None, map(results.equation, SEED_EQUATIONS)):
        for comp in SEED_MAPS:
            what = S.component(comp).name
            attn = arrays[S.array_key("trained", eq.id, comp)]
            q, k = map_labels(comp, eq.tokens, attn.shape)
            kw = {"attn": attn, "query_labels": q, "key_labels": k, "title": _equation_title(eq, what)}
            jobs.append(FigureJob(seed_map_path(eq.id, comp), P.attention_heads, kw))
    for eq in filter(None, map(results.equation, SEED_TRAJECTORIES)):
        kw = {
            "tokens": eq.models["trained"].trajectory.tokens,
            "confidence": arrays[S.array_key("trained", eq.id, S.TRAJECTORY_CONFIDENCE)],
            "title": _equation_title(eq, "diffusion refinement"),
        }
        jobs.append(FigureJob(trajectory_path(eq.id), P.trajectory, kw))
    eq = results.equation(SEED_ENCODER_EQUATION)
    if eq is not None:
        panels = [(c.name, arrays[S.array_key("trained", eq.id, c.id)], c.query, c.key)
                  for c in S.COMPONENTS if c.kind == "encoder"]
        induced = arrays.get(S.array_key("trained", eq.id, S.INDUCED_MAP))
        if induced is not None:
            panels.append((S.INDUCED_NAME, induced, "observations", "observations"))
        kw = {"panels": panels, "title": _equation_title(eq, "encoder attention")}
        jobs.append(FigureJob(ENCODER_PATH, P.encoder_maps, kw))
    # the plots read JSON rows, as the figure cache keys on them
    jobs.append(
        FigureJob(
            ENTROPY_PATH,
            P.entropy_by_tier,
            {"rows": [r.to_json() for r in results.tiers.entropy], "seed_reported": results.meta.seed_entropy_by_tier,
             "verdicts": [c.to_json() for c in results.claims if ENTROPY_PAGE in c.pages]},
        )
    )
    jobs.append(
        FigureJob(TOKEN_TYPE_PATH, P.token_type_attention, {"rows": [r.to_json() for r in results.tiers.token_type]})
    )
    return jobs


def extra_jobs(results: Results, arrays: Mapping[str, np.ndarray]) -> list[FigureJob]:
    """Beyond the seed: the home page's summary, head importance, training, accuracy (equation
    pages draw their maps in HTML: :mod:`physdocs.report.overview`)."""
    from physdocs import plots as P
    from physdocs.plots import accuracy as A
    from physdocs.plots.summary import summary_figure

    jobs = []
    evaluation = results.evaluation
    if results.claims:
        kw = {"findings": forest_rows(results.claims), "paired": paired_by_tier(evaluation),
              "first": BY_KEY["pipeline"].label, "second": BY_KEY["operon"].label}
        jobs.append(FigureJob(SUMMARY_PATH, summary_figure, kw))
    if results.head_importance:
        # one figure, one colour scale: the control beside the trained model it is compared with
        kw = {"importance": {m: h.to_json() for m, h in results.head_importance.items()},
              "title": "Head importance: loss increase when one head is ablated"}
        jobs.append(FigureJob(HEAD_IMPORTANCE_PATH, P.head_importance, kw))
    if results.readout is not None and results.readout.lens:
        from physdocs.plots.readout import logit_lens
        from physdocs.results.readout import DECODER_LABELS

        decoders = {d: f"{label} ({'masked positions' if d == 'diffuser' else 'next-token positions'})"
                    for d, label in DECODER_LABELS.items() if any(r.decoder == d for r in results.readout.lens)}
        jobs.append(FigureJob(READOUT_PATH, logit_lens,
                              {"rows": [r.to_json() for r in results.readout.lens], "decoders": decoders}))
    log = list(results.training_log)
    if log:
        jobs.append(FigureJob(TRAINING_PATH, P.training_curves, {"records": log}))
    if any(r.kind == "val" and r.ar_loss_shuffled is not None for r in results.log):
        jobs.append(FigureJob(DATA_DEPENDENCE_PATH, A.data_dependence, {"records": log}))
    table = method_tier_rows(evaluation) if evaluation else None
    if table:
        # the plots take JSON (hashed into the figure cache's key): each cell as its record's JSON
        rows = [{**{k: r[k] for k in ("method", "measure", "key")},
                 "cells": [c.to_json() if c else None for c in r["cells"]]} for r in table["rows"]]
        jobs.append(FigureJob(ACCURACY_PATH, A.accuracy_by_method, {"rows": rows, "tiers": table["tiers"]}))
    grid = evaluation.grid if evaluation else None
    for decoder, tables in sorted((grid.confusion if grid else {}).items()):
        title = f"Capability grid, {BY_KEY[decoder].label} with its full budget: true shape (rows) against derived"
        confusion = {k: t.to_json() for k, t in tables["final"].items()}
        jobs.append(FigureJob(GRID_PATH.format(decoder=decoder), A.capability_grid,
                              {"confusion": confusion, "title": title}))
    return jobs


def figure_jobs(
    results: Results, arrays: Mapping[str, np.ndarray], figures: FigureSet = "all"
) -> list[FigureJob]:
    """Every figure of the site for ``results``: the seed's index, plus the rest when ``"all"``."""
    if figures not in ("all", "seed-only"):
        raise ValueError(f"figures must be 'all' or 'seed-only', got {figures!r}")
    jobs = seed_jobs(results, arrays)
    if figures == "all":
        jobs += extra_jobs(results, arrays)
    return jobs


# ----------------------------------------------------------------- rendering


def plot_name(plot: Callable[..., Any]) -> str:
    """``module.function`` of a plot: what the figure cache keys on and errors name."""
    return f"{plot.__module__.removeprefix('physdocs.plots.')}.{plot.__qualname__}"


class FigureError(InputError, RuntimeError):
    """Drawing one figure failed; the message names the figure, its plot and the cause."""


def render_job(job: FigureJob) -> tuple[str, bytes]:
    """``(path, png bytes)`` of one job; a failure is raised as :class:`FigureError`."""
    from physdocs.plots.style import DPI_PRINT, figure_png

    try:
        fig = job.plot(**job.kwargs)
        return job.path, figure_png(fig, DPI_PRINT)
    except Exception as exc:
        raise FigureError(
            f"figure {job.path} ({plot_name(job.plot)}) could not be drawn: {type(exc).__name__}: {exc}. "
            "Fix: render the seed's figures only (PHYSDOCS_FIGURES=seed-only) or leave the "
            "equation out (PHYSDOCS_EQUATIONS); `mkdocs build --verbose` shows the traceback"
        ) from exc


def render_jobs(jobs: Iterable[FigureJob], workers: int = 2) -> dict[str, bytes]:
    """Render ``jobs``; with ``workers > 1`` and enough jobs, in a spawned process pool."""
    jobs = list(jobs)
    if workers <= 1 or len(jobs) < POOL_MIN_JOBS:
        return dict(render_job(job) for job in jobs)
    # Spawned workers: forking a process that holds threads (mkdocs serve, torch) is unsafe.
    ctx = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        return dict(pool.map(render_job, jobs, chunksize=4))
