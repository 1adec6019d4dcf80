"""Build the report's generated files: analysis (cached) -> figures (cached) -> explorer data -> pages.

:func:`build_site` returns ``{site path: contents}`` (and timings) and writes nothing to the site;
``docs/gen_pages.py`` writes what it returns through mkdocs-gen-files. The analysis and the
figure rendering are timed together against ``BuildConfig.budget_seconds``: over budget, the
build still finishes and caches its results, and ``timings.over_budget`` says which stage was
slow (``docs/gen_pages.py`` prints it as a warning).

Every failure the build knows (missing, corrupted or mismatched weights, a malformed
benchmark file, an equation the analysis cannot process) is raised as one
:class:`BuildError` whose message names the cause and the fix; ``docs/gen_pages.py`` turns
it into a one-line mkdocs error. A failed build caches nothing and returns nothing.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from physdocs.errors import InputError, WeightsError
from physdocs.paths import CAUSAL_FILE, EQUAL_TIME_FILE, EVALUATION_FILE
from physdocs.report import cache
from physdocs.report import explorer as X
from physdocs.report import figures as F
from physdocs.report.apparatus import about_from_env
from physdocs.report.overview import overview_html
from physdocs.report.pages import EquationPageError, render_pages
from physdocs.report.render import TEMPLATES_DIR
from physdocs.results.analysis import Results
from physdocs.results.equal_time import EqualTime
from physdocs.results.equations import EquationRecord
from physdocs.results.evaluation import Evaluation

DEFAULT_EVALUATION = EVALUATION_FILE
DEFAULT_EQUAL_TIME = EQUAL_TIME_FILE
DEFAULT_BUDGET = 180.0
#: The causal interventions for the shipped weights (``physdocs causal``), shown only for them.
DEFAULT_CAUSAL = CAUSAL_FILE


class BuildError(RuntimeError):
    """The report cannot be built as configured; the message says why and how to fix it."""


def _default_analysis() -> Any:
    from physdocs.analysis.schema import AnalysisConfig  # torch-free

    return AnalysisConfig()


@dataclass(frozen=True)
class BuildConfig:
    """What to build: the analysis config (``physdocs.analysis.schema.AnalysisConfig``) and how."""

    analysis: Any = field(default_factory=_default_analysis)
    budget_seconds: float = DEFAULT_BUDGET
    figures: F.FigureSet = "all"
    cache_dir: Path = cache.DEFAULT_CACHE_DIR
    workers: int = 2
    evaluation_path: Path | None = DEFAULT_EVALUATION
    equal_time_path: Path | None = DEFAULT_EQUAL_TIME  # shown only for the evaluation's weights
    # The causal artifact the analysis reads (checked against its weights); None: not shown.
    causal_path: Path | None = None
    cache_entries: int = 3  # entries kept in cache_dir; older ones are deleted


# ----------------------------------------------------------------- configuration from the environment

ENV_HELP = (
    "PHYSDOCS_EQUATIONS (comma-separated ids), PHYSDOCS_BUDGET (seconds), PHYSDOCS_CACHE_DIR, "
    "PHYSDOCS_FIGURES (all|seed-only), PHYSDOCS_WEIGHTS (path), PHYSDOCS_BENCHMARK (a benchmark "
    "TOML file instead of the packaged one), PHYSDOCS_WORKERS, PHYSDOCS_EVALUATION and PHYSDOCS_CAUSAL "
    "(the evaluation's and the causal interventions' JSON for other weights)"
)


def config_from_env(
    env: Mapping[str, str], analysis_factory: Callable[..., Any] | None = None
) -> BuildConfig:
    """A :class:`BuildConfig` from ``PHYSDOCS_*`` variables (see :data:`ENV_HELP`); unset = default."""
    if analysis_factory is None:
        from physdocs.analysis.schema import AnalysisConfig

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
    if env.get("PHYSDOCS_BENCHMARK", "").strip():
        benchmark = env["PHYSDOCS_BENCHMARK"].strip()
        if not Path(benchmark).is_file():
            raise BuildError(
                f"PHYSDOCS_BENCHMARK={benchmark!r} is not a file. Fix: point it at a benchmark TOML "
                "file (the format of physdocs/data/equations.toml), or unset it to use the packaged one"
            )
        analysis_kw["benchmark"] = str(Path(benchmark).resolve())
    figures = env.get("PHYSDOCS_FIGURES", "").strip() or "all"
    if figures not in ("all", "seed-only"):
        raise BuildError(f"PHYSDOCS_FIGURES={figures!r}: use 'all' or 'seed-only'")
    cache_dir = env.get("PHYSDOCS_CACHE_DIR", "").strip()
    # The shipped evaluation belongs to the shipped weights: other weights get the evaluation
    # named by PHYSDOCS_EVALUATION, or none (their pages say "not evaluated").
    evaluation = env.get("PHYSDOCS_EVALUATION", "").strip()
    evaluation_path = Path(evaluation) if evaluation else (None if "weights" in analysis_kw else DEFAULT_EVALUATION)
    # Likewise the causal artifact: the shipped one covers the shipped weights on the whole
    # packaged benchmark; other weights, another benchmark or a subset get PHYSDOCS_CAUSAL or none.
    causal = env.get("PHYSDOCS_CAUSAL", "").strip()
    own = not ({"weights", "benchmark", "equation_ids"} & set(analysis_kw))
    causal_path = Path(causal) if causal else (DEFAULT_CAUSAL if own else None)
    return BuildConfig(
        analysis=analysis_factory(**analysis_kw),
        budget_seconds=number("PHYSDOCS_BUDGET", float, DEFAULT_BUDGET),
        figures=figures,  # type: ignore[arg-type]
        cache_dir=Path(cache_dir) if cache_dir else cache.DEFAULT_CACHE_DIR,
        workers=number("PHYSDOCS_WORKERS", int, 2),
        evaluation_path=evaluation_path,
        causal_path=causal_path,
    )


# ----------------------------------------------------------------- steps


def budget_note(analysis_seconds: float, figure_seconds: float, budget: float, *, cached: bool) -> str | None:
    """The warning for a build that took longer than ``budget`` (None within it), naming the
    slower stage. Over budget is never a failure: a busy machine still finishes the build,
    and what it computed is cached, so the next build reads it."""
    total = analysis_seconds + figure_seconds
    if total <= budget:
        return None
    what = "loading the cached analysis" if cached else "the analysis"
    slow = what if analysis_seconds >= figure_seconds else "figure rendering"
    return (
        f"{what} took {analysis_seconds:.0f} s and figure rendering {figure_seconds:.0f} s "
        f"({total:.0f} s in all), over the {budget:.0f} s budget; the slow stage is {slow}. "
        "Its results are cached, so the next build reads them. To build faster: fewer equations "
        "(PHYSDOCS_EQUATIONS=feynman_001,feynman_046), the seed's figures only (PHYSDOCS_FIGURES=seed-only), "
        "or a less busy machine; PHYSDOCS_BUDGET sets the budget."
    )


def attach_evaluation(results: Results, evaluation_path: Path | None) -> Results:
    """Results with the shipped evaluation attached (when the analysis carried none), checked
    and read once into its typed record (:class:`Evaluation`), which the pages read.

    Raises :class:`BuildError` when the evaluation was made with other weights.
    """
    evaluation = results.evaluation
    if evaluation is None and evaluation_path is not None and Path(evaluation_path).is_file():
        evaluation = Evaluation.from_json(json.loads(Path(evaluation_path).read_text(encoding="utf-8")))
    if evaluation is not None:
        theirs = evaluation.meta.weights_sha256
        ours = results.meta.weights_sha256
        if theirs != ours:
            where = evaluation_path.name if evaluation_path is not None else "evaluation.json"
            raise BuildError(
                f"{where} is for other weights: run `nox -s evaluate` "
                f"(it was made with weights {theirs[:12]}…, the analysis used {ours[:12]}…)"
            )
    return replace(results, evaluation=evaluation)


def read_equal_time(path: Path | None) -> EqualTime | None:
    """The equal-time benchmark at ``path`` (None when there is none: it is optional).

    Raises :class:`BuildError` naming the file when it cannot be read.
    """
    if path is None or not Path(path).is_file():
        return None
    try:
        return EqualTime.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise BuildError(
            f"{path} is not an equal-time benchmark ({type(exc).__name__}: {exc}). Fix: run "
            f"`python benchmarks/equal_time.py --out {path}` again, or delete the file"
        ) from exc


def _run_analysis(cfg: Any) -> tuple[dict, Mapping[str, Any]]:
    from physdocs.analysis.run import run_analysis

    return run_analysis(cfg)


#: Added to a checkpoint error: how the docs build chooses its weights.
WEIGHTS_HINT = (
    " (docs build: PHYSDOCS_WEIGHTS=PATH names the checkpoint to analyse; unset, the shipped "
    "physdocs/weights/physdiffuser.safetensors)"
)


def known_error(exc: BaseException) -> bool:
    """Whether ``exc`` is one of the package's input errors (:class:`physdocs.errors.InputError`)."""
    return isinstance(exc, InputError)


def as_build_error(exc: BaseException) -> BuildError:
    """A known error (:func:`known_error`) as a :class:`BuildError` with the same message."""
    hint = WEIGHTS_HINT if isinstance(exc, WeightsError) else ""
    return BuildError(f"{exc}{hint}")


@dataclass
class BuildTimings:
    """Seconds per stage of the last :func:`build_site` call, and whether it hit the cache."""

    analysis: float = 0.0
    figures: float = 0.0
    explorer: float = 0.0
    overviews: float = 0.0
    pages: float = 0.0
    cache_hit: bool = False
    pages_cached: bool = False
    figures_rendered: int = 0
    figures_cached: int = 0
    explorer_files: int = 0
    explorer_bytes: int = 0  # all payloads together
    explorer_largest: int = 0  # the largest single payload (one equation page's data)
    over_budget: str | None = None  # the warning when analysis and figures took longer than the budget

    def summary(self) -> str:
        source = "cached" if self.cache_hit else "computed"
        return (
            f"analysis {self.analysis:.1f} s ({source}), figures {self.figures:.1f} s "
            f"({self.figures_rendered} rendered, {self.figures_cached} cached), "
            f"explorer data {self.explorer:.1f} s ({self.explorer_files} files, "
            f"{self.explorer_bytes / 1000:.1f} KB, largest {self.explorer_largest / 1000:.1f} KB), "
            f"overviews {self.overviews:.1f} s, "
            f"pages {self.pages:.1f} s ({'cached' if self.pages_cached else 'rendered'})"
        )


@dataclass(frozen=True)
class SiteBuild:
    """The generated files and how long they took.

    ``files``: ``{site path: str (Markdown) | bytes (PNG figures, JSON explorer payloads)}``.
    """

    files: dict[str, bytes | str]
    timings: BuildTimings


RunFn = Callable[[Any], tuple[dict, Mapping[str, Any]]]


def _each_equation(
    equations: Sequence[EquationRecord], make: Callable[[EquationRecord], bytes], what: str
) -> dict[str, bytes]:
    """``{equation id: make(eq)}``; a failure is a :class:`BuildError` naming the equation and ``what``."""
    out = {}
    for eq in equations:
        try:
            out[eq.id] = make(eq)
        except Exception as exc:
            raise BuildError(
                f"equation {eq.id}: its {what} ({type(exc).__name__}: {exc}). Fix: delete the cache "
                "directory (PHYSDOCS_CACHE_DIR, default .cache/physdocs) and rebuild; if it happens again, "
                "leave the equation out (PHYSDOCS_EQUATIONS) and report the error"
            ) from exc
    return out


def explorer_files(equations: Sequence[EquationRecord], arrays: Mapping[str, Any]) -> dict[str, bytes]:
    """``{equation id: explorer payload}`` for ``equations`` (:mod:`.explorer`, which reads the
    record's JSON); the site path is :func:`.explorer.data_path`.
    """
    return _each_equation(
        equations, lambda eq: X.payload_json(X.explorer_payload(eq.to_json(), arrays)).encode("ascii"),
        "attention explorer data could not be made")


def overview_files(equations: Sequence[EquationRecord], arrays: Mapping[str, Any]) -> dict[str, bytes]:
    """``{equation id: overview block (UTF-8 HTML)}`` for ``equations`` (:mod:`.overview`, which
    reads the record's JSON)."""
    return _each_equation(equations, lambda eq: overview_html(eq.to_json(), arrays).encode("utf-8"),
                          "attention overview could not be drawn")


def _per_equation(
    cfg: BuildConfig,
    key: str,
    cache_hit: bool,
    equations: Sequence[EquationRecord],
    folder: str,
    suffix: str,
    make: Callable[[list[EquationRecord]], dict[str, bytes]],
) -> dict[str, bytes]:
    """``{equation id: bytes}``: read from ``folder`` of the cache entry, the missing ones made and cached."""
    out: dict[str, bytes] = {}
    if cache_hit:
        for eq in equations:
            data = cache.read_file(cfg.cache_dir, key, f"{folder}/{eq.id}.{suffix}")
            if data is not None:
                out[eq.id] = data
    missing = [eq for eq in equations if eq.id not in out]
    if missing:
        made = make(missing)
        out.update(made)
        cache.write_files(cfg.cache_dir, key, {f"{folder}/{eq_id}.{suffix}": b for eq_id, b in made.items()})
    return {eq.id: out[eq.id] for eq in equations}


def build_site(
    cfg: BuildConfig, *, run_fn: RunFn | None = None, clock: Callable[[], float] = time.perf_counter
) -> SiteBuild:
    """Every generated file, ``{site path: str (Markdown) | bytes (PNG, JSON)}``, with timings.

    ``run_fn`` defaults to ``run_analysis``.

    The package's input errors (:class:`physdocs.errors.InputError`) come out as :class:`BuildError`.
    """
    try:
        return _build_site(cfg, run_fn, clock)
    except BuildError:
        raise
    except Exception as exc:
        if known_error(exc):
            raise as_build_error(exc) from exc
        raise


def _json_digest(value: Any) -> str:
    return hashlib.sha256(json.dumps(value, sort_keys=True, default=str).encode()).hexdigest()


def _evaluation_json(results: Results) -> dict | None:
    """The attached evaluation as written, for the digests that key cached figures and pages."""
    return None if results.evaluation is None else results.evaluation.to_json()


def _templates_digest() -> str:
    """SHA-256 (hex) of every file under ``templates/`` (names and bytes)."""
    h = hashlib.sha256()
    for path in sorted(p for p in TEMPLATES_DIR.rglob("*") if p.is_file()):
        h.update(path.relative_to(TEMPLATES_DIR).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return h.hexdigest()


def _figures(cfg: BuildConfig, key: str, results: Results, arrays: Mapping[str, Any],
             timings: BuildTimings) -> tuple[dict[str, bytes], dict[str, bytes]]:
    """``({site path: png}, {cache file name: bytes} to add to the entry)``.

    A manifest in the entry (``{site path: digest}``, named by the figure set, the attached
    evaluation and the figure code) lets a warm build read the PNGs without building the jobs,
    loading the arrays or importing matplotlib. Otherwise the jobs are built, figures whose
    digest is cached are read, and the rest are rendered.
    """
    code = cache.source_digest("plots", "report/figures.py")
    manifest_name = f"figures/manifest-{cfg.figures}-{_json_digest(_evaluation_json(results))[:16]}-{code[:16]}.json"
    if timings.cache_hit:
        manifest = cache.read_file(cfg.cache_dir, key, manifest_name)
        if manifest is not None:
            wanted = json.loads(manifest)
            found: dict[str, bytes] = {}
            for path, digest in wanted.items():
                data = cache.read_figure(cfg.cache_dir, key, digest)
                if data is None:
                    break
                found[path] = data
            else:
                timings.figures_cached = len(found)
                return found, {}

    jobs = F.figure_jobs(results, arrays, cfg.figures)
    digests = {job.path: cache.figure_digest(F.plot_name(job.plot), job.kwargs, code)
               for job in jobs}
    figures: dict[str, bytes] = {}
    if timings.cache_hit:
        for job in jobs:
            data = cache.read_figure(cfg.cache_dir, key, digests[job.path])
            if data is not None:
                figures[job.path] = data
    rendered = F.render_jobs([job for job in jobs if job.path not in figures], cfg.workers)
    figures.update(rendered)
    timings.figures_rendered, timings.figures_cached = len(rendered), len(jobs) - len(rendered)
    new = {f"figures/{digests[path]}.png": data for path, data in rendered.items()}
    new[manifest_name] = json.dumps(digests, sort_keys=True).encode()
    return figures, new


def with_evaluation(cfg: BuildConfig) -> BuildConfig:
    """The build config whose analysis reads the evaluation and the causal artifact (when it
    names none and the file is given).

    The analysis splits equations by what the evaluation derives (derived against failed), and
    its causal findings read the artifact's per-equation numbers, so both are its inputs: a new
    file makes a new cache entry. A causal artifact that is named but missing is passed on, so
    the analysis stops with one line naming the command that makes it.
    """
    analysis = cfg.analysis
    path = cfg.evaluation_path
    if getattr(analysis, "evaluation", "") is None and path is not None and Path(path).is_file():
        analysis = replace(analysis, evaluation=str(Path(path).resolve()))
    if getattr(analysis, "causal", "") is None and cfg.causal_path is not None:
        analysis = replace(analysis, causal=str(Path(cfg.causal_path).resolve()))
    return replace(cfg, analysis=analysis)


def _build_site(cfg: BuildConfig, run_fn: RunFn | None, clock: Callable[[], float]) -> SiteBuild:
    cfg = with_evaluation(cfg)
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
    results = attach_evaluation(Results.from_json(raw), cfg.evaluation_path)  # read once; the pages read it
    equal_time = read_equal_time(cfg.equal_time_path)

    t1 = clock()
    figures, rendered = _figures(cfg, key, results, arrays, timings)
    timings.figures = clock() - t1
    timings.over_budget = budget_note(timings.analysis, timings.figures, cfg.budget_seconds,
                                      cached=timings.cache_hit)
    if not timings.cache_hit:
        cache.write_entry(cfg.cache_dir, key, raw, arrays)
        cache.prune(cfg.cache_dir, keep=cfg.cache_entries)
    cache.write_files(cfg.cache_dir, key, rendered)

    # Explorer payloads and overview blocks depend on the cached analysis and their own code:
    # kept beside it, one file per equation.
    t2 = clock()
    made = _per_equation(cfg, key, timings.cache_hit, results.equations,
                         f"explorer-{cache.source_digest('report/explorer.py')[:16]}", "json",
                         lambda eqs: explorer_files(eqs, arrays))
    explorer = {X.data_path(eq_id): data for eq_id, data in made.items()}
    timings.explorer = clock() - t2
    timings.explorer_files = len(explorer)
    timings.explorer_bytes = sum(len(b) for b in explorer.values())
    timings.explorer_largest = max((len(b) for b in explorer.values()), default=0)

    # The overview blocks are read (or drawn) only when the pages are rendered again.
    overview_folder = f"overview-{cache.source_digest('report/overview.py', 'plots/pixels.py', 'plots/style.py')[:16]}"
    t3 = clock()
    ids = [eq.id for eq in results.equations]
    about = about_from_env(os.environ)  # the home page's version, build date and citation
    # Rendered pages are kept in the entry under a digest of everything else they depend on.
    pages_name = "pages/" + _json_digest([
        _evaluation_json(results), equal_time.to_json() if equal_time else None, sorted(figures), ids,
        cache.source_digest("report"), _templates_digest(), overview_folder, about.to_json(),
    ]) + ".json"
    cached_pages = cache.read_file(cfg.cache_dir, key, pages_name)
    if cached_pages is not None:
        pages = json.loads(cached_pages)
    else:
        t_overview = clock()
        overviews = {eq_id: data.decode("utf-8") for eq_id, data in _per_equation(
            cfg, key, timings.cache_hit, results.equations, overview_folder, "html",
            lambda eqs: overview_files(eqs, arrays)).items()}
        timings.overviews = clock() - t_overview
        # Equation records carry their variables: the benchmark file is not read again.
        variables = {eq.id: eq.variables for eq in results.equations}
        try:
            pages = render_pages(results, set(figures), variables, explorer=ids, overviews=overviews,
                                 equal_time=equal_time, about=about)
        except EquationPageError as exc:
            raise BuildError(
                f"{exc}. Fix: correct the equation's entry in the benchmark file, or leave it out "
                "(PHYSDOCS_EQUATIONS); `mkdocs build --verbose` shows the traceback"
            ) from exc
        cache.write_files(cfg.cache_dir, key, {pages_name: json.dumps(pages, sort_keys=True).encode()})
    timings.pages = clock() - t3 - timings.overviews
    timings.pages_cached = cached_pages is not None
    return SiteBuild({**pages, **figures, **explorer}, timings)


def write_mode(path: str, content: bytes | str, docs_dir: Path | str) -> str:
    """The file mode for writing ``path`` through gen-files.

    ``"wb"`` for bytes; for a page that also exists hand-written in ``docs_dir`` (the methodology
    page), ``"a"``: the generated part follows the hand-written prose; else ``"w"``.
    """
    if isinstance(content, bytes):
        return "wb"
    return "a" if (Path(docs_dir) / path).is_file() else "w"
