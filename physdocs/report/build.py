"""Build the report's generated files: analysis (cached) -> figures (cached) -> pages.

:func:`build_site_files` returns ``{site path: contents}`` and writes nothing to the site;
``docs/gen_pages.py`` writes what it returns through mkdocs-gen-files. The analysis and the
figure rendering are timed together against ``BuildConfig.budget_seconds``: over budget, a
:class:`BuildError` is raised before anything is cached or published.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from physdocs.report import cache
from physdocs.report import figures as F
from physdocs.report.pages import render_pages

DEFAULT_EVALUATION = cache.PACKAGE_DIR / "data" / "evaluation.json"
DEFAULT_BUDGET = 180.0


class BuildError(RuntimeError):
    """The report cannot be built as configured; the message says why and how to fix it."""


def _default_analysis() -> Any:
    from physdocs.analysis.run import AnalysisConfig

    return AnalysisConfig()


@dataclass(frozen=True)
class BuildConfig:
    """What to build: the analysis config (``physdocs.analysis.run.AnalysisConfig``) and how."""

    analysis: Any = field(default_factory=_default_analysis)
    budget_seconds: float = DEFAULT_BUDGET
    figures: F.FigureSet = "all"
    cache_dir: Path = cache.DEFAULT_CACHE_DIR
    workers: int = 2
    evaluation_path: Path | None = DEFAULT_EVALUATION
    cache_entries: int = 3  # entries kept in cache_dir; older ones are deleted


# ----------------------------------------------------------------- configuration from the environment

ENV_HELP = (
    "PHYSDOCS_EQUATIONS (comma-separated ids), PHYSDOCS_BUDGET (seconds), PHYSDOCS_CACHE_DIR, "
    "PHYSDOCS_FIGURES (all|seed-only), PHYSDOCS_WEIGHTS (path), PHYSDOCS_WORKERS"
)


def config_from_env(
    env: Mapping[str, str], analysis_factory: Callable[..., Any] | None = None
) -> BuildConfig:
    """A :class:`BuildConfig` from ``PHYSDOCS_*`` variables (see :data:`ENV_HELP`); unset = default."""
    if analysis_factory is None:
        from physdocs.analysis.run import AnalysisConfig

        analysis_factory = AnalysisConfig

    def number(name: str, kind: type, default: Any) -> Any:
        raw = env.get(name, "").strip()
        if not raw:
            return default
        try:
            value = kind(raw)
        except ValueError:
            raise BuildError(f"{name}={raw!r} is not a {kind.__name__}; unset it or give a number") from None
        if value <= 0:
            raise BuildError(f"{name}={raw!r} must be positive")
        return value

    analysis_kw: dict[str, Any] = {}
    ids = [s.strip() for s in env.get("PHYSDOCS_EQUATIONS", "").split(",") if s.strip()]
    if ids:
        analysis_kw["equation_ids"] = tuple(ids)
    if env.get("PHYSDOCS_WEIGHTS", "").strip():
        analysis_kw["weights"] = env["PHYSDOCS_WEIGHTS"].strip()
    figures = env.get("PHYSDOCS_FIGURES", "").strip() or "all"
    if figures not in ("all", "seed-only"):
        raise BuildError(f"PHYSDOCS_FIGURES={figures!r}: use 'all' or 'seed-only'")
    cache_dir = env.get("PHYSDOCS_CACHE_DIR", "").strip()
    return BuildConfig(
        analysis=analysis_factory(**analysis_kw),
        budget_seconds=number("PHYSDOCS_BUDGET", float, DEFAULT_BUDGET),
        figures=figures,  # type: ignore[arg-type]
        cache_dir=Path(cache_dir) if cache_dir else cache.DEFAULT_CACHE_DIR,
        workers=number("PHYSDOCS_WORKERS", int, 2),
    )


# ----------------------------------------------------------------- steps


def check_budget(analysis_seconds: float, figure_seconds: float, budget: float, *, cached: bool) -> None:
    """Raise :class:`BuildError` when analysis plus figures took longer than ``budget``."""
    total = analysis_seconds + figure_seconds
    if total <= budget:
        return
    what = "loading the cached analysis" if cached else "the analysis"
    raise BuildError(
        f"{what} took {analysis_seconds:.0f} s and figure rendering {figure_seconds:.0f} s "
        f"({total:.0f} s in all), over the {budget:.0f} s budget: nothing was cached or written. "
        "Fix: build fewer equations (PHYSDOCS_EQUATIONS=feynman_001,feynman_046), render the seed's "
        "figures only (PHYSDOCS_FIGURES=seed-only), or make the slow stage faster; "
        "PHYSDOCS_BUDGET raises the budget."
    )


def attach_evaluation(results: dict, evaluation_path: Path | None) -> dict:
    """Results with the shipped evaluation attached (when the analysis carried none), checked.

    Raises :class:`BuildError` when the evaluation was made with other weights.
    """
    evaluation = results.get("evaluation")
    if evaluation is None and evaluation_path is not None and Path(evaluation_path).is_file():
        evaluation = json.loads(Path(evaluation_path).read_text(encoding="utf-8"))
    if evaluation is not None:
        theirs = evaluation["meta"]["weights_sha256"]
        ours = results["meta"]["weights_sha256"]
        if theirs != ours:
            where = evaluation_path.name if evaluation_path is not None else "evaluation.json"
            raise BuildError(
                f"{where} is for other weights: run `nox -s evaluate` "
                f"(it was made with weights {theirs[:12]}…, the analysis used {ours[:12]}…)"
            )
    return {**results, "evaluation": evaluation}


def benchmark_variables(ids: list[str]) -> dict[str, list[dict[str, Any]]]:
    """``{eq_id: [{name, token, meaning, low, high}, ...]}`` for the packaged equations among ``ids``."""
    from physdocs.benchmark import load_benchmark

    wanted = set(ids)
    return {
        eq.id: [
            {"name": v.name, "token": v.token, "meaning": v.meaning, "low": v.low, "high": v.high}
            for v in eq.variables
        ]
        for eq in load_benchmark()
        if eq.id in wanted
    }


def _run_analysis(cfg: Any) -> tuple[dict, Mapping[str, Any]]:
    from physdocs.analysis.run import run_analysis

    return run_analysis(cfg)


@dataclass
class BuildTimings:
    """Seconds per stage of the last :func:`build_site_files` call, and whether it hit the cache."""

    analysis: float = 0.0
    figures: float = 0.0
    pages: float = 0.0
    cache_hit: bool = False
    figures_rendered: int = 0
    figures_cached: int = 0

    def summary(self) -> str:
        source = "cached" if self.cache_hit else "computed"
        return (
            f"analysis {self.analysis:.1f} s ({source}), figures {self.figures:.1f} s "
            f"({self.figures_rendered} rendered, {self.figures_cached} cached), pages {self.pages:.1f} s"
        )


@dataclass(frozen=True)
class SiteBuild:
    """The generated files (``{site path: str (Markdown) | bytes (PNG)}``) and how long they took."""

    files: dict[str, bytes | str]
    timings: BuildTimings


RunFn = Callable[[Any], tuple[dict, Mapping[str, Any]]]


def build_site_files(cfg: BuildConfig, *, run_fn: RunFn | None = None) -> dict[str, bytes | str]:
    """Every generated page and figure: ``{site path: str (Markdown) | bytes (PNG)}``."""
    return build_site(cfg, run_fn=run_fn).files


def build_site(
    cfg: BuildConfig, *, run_fn: RunFn | None = None, clock: Callable[[], float] = time.perf_counter
) -> SiteBuild:
    """:func:`build_site_files` with timings; ``run_fn`` defaults to ``run_analysis``."""
    timings = BuildTimings()
    cfg_dict = cfg.analysis.to_dict()
    key = cache.cache_key(cfg_dict, cache.weights_path(cfg_dict))

    t0 = clock()
    cached = cache.read_entry(cfg.cache_dir, key)
    if cached is not None:
        raw, arrays = cached
    else:
        raw, arrays = (run_fn or _run_analysis)(cfg.analysis)
    timings.analysis, timings.cache_hit = clock() - t0, cached is not None
    check_budget(timings.analysis, 0.0, cfg.budget_seconds, cached=timings.cache_hit)
    results = attach_evaluation(raw, cfg.evaluation_path)

    t1 = clock()
    jobs = F.figure_jobs(results, arrays, cfg.figures)
    digests = {job.path: cache.figure_digest(job.plot, job.dpi, job.kwargs) for job in jobs}
    figures: dict[str, bytes] = {}
    if timings.cache_hit:
        for job in jobs:
            data = cache.read_figure(cfg.cache_dir, key, digests[job.path])
            if data is not None:
                figures[job.path] = data
    missing = [job for job in jobs if job.path not in figures]
    rendered = F.render_jobs(missing, cfg.workers)
    figures.update(rendered)
    timings.figures = clock() - t1
    timings.figures_rendered, timings.figures_cached = len(rendered), len(jobs) - len(rendered)
    check_budget(timings.analysis, timings.figures, cfg.budget_seconds, cached=timings.cache_hit)

    by_digest = {digests[path]: data for path, data in rendered.items()}
    if timings.cache_hit:
        cache.write_figures(cfg.cache_dir, key, by_digest)
    else:
        cache.write_entry(cfg.cache_dir, key, raw, arrays, by_digest)
        cache.prune(cfg.cache_dir, keep=cfg.cache_entries)

    t2 = clock()
    variables = benchmark_variables([eq["id"] for eq in results["equations"]])
    pages = render_pages(results, set(figures), variables)
    timings.pages = clock() - t2
    return SiteBuild({**pages, **figures}, timings)


def write_mode(path: str, content: bytes | str, docs_dir: Path | str) -> str:
    """The file mode for writing ``path`` through gen-files.

    ``"wb"`` for bytes; for a page that also exists hand-written in ``docs_dir`` (the home
    page), ``"a"``: the generated part follows the hand-written prose; else ``"w"``.
    """
    if isinstance(content, bytes):
        return "wb"
    return "a" if (Path(docs_dir) / path).is_file() else "w"
