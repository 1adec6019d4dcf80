"""``physdocs`` command line: equations, derive, train, evaluate, causal, report.

User errors (bad id, missing weights, bad config) exit non-zero with one line.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

from physdocs.benchmark import TIERS, BenchmarkError, get_equation, load_benchmark
from physdocs.constants import DEFAULT_SEED
from physdocs.methods import BASELINES, DECODERS


class UserError(Exception):
    """An error the user can fix; printed as one line."""


def _equations(args) -> None:
    eqs = load_benchmark()
    if args.tier:
        eqs = tuple(e for e in eqs if e.tier == args.tier)
    if args.json:
        print(json.dumps([e.to_dict() for e in eqs], indent=2))
        return
    for e in eqs:
        print(f"{e.id}  {e.tier:<10}  {e.name}: {e.output} = {e.formula}")


def _load_model(weights: str | None):
    """Shipped (or given) weights; random weights only when none exist, and say so."""
    import torch

    from physdocs.models import PhysDiffuserPlus, SystemConfig
    from physdocs.models.checkpoint import DEFAULT_WEIGHTS, CheckpointError, load_checkpoint

    if weights is None and not DEFAULT_WEIGHTS.exists():
        torch.manual_seed(DEFAULT_SEED)
        return PhysDiffuserPlus(SystemConfig()).eval(), "random (no trained weights shipped yet)"
    try:
        ckpt = load_checkpoint(Path(weights) if weights else None)
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    return ckpt.model, str(ckpt.path)


def _derive_csv(args) -> None:
    from physdocs.api import UserDataError, derive, read_csv
    from physdocs.units import UnitError, parse_units_spec

    columns = [c.strip() for c in args.columns.split(",")] if args.columns else None
    try:
        x, y, names, target = read_csv(args.csv, args.target, columns)
        units = parse_units_spec(args.units) if args.units else None
        constants = parse_units_spec(", ".join(args.constant), "--constant") if args.constant else None
        result = derive(x, y, names=names, target=target, decoder=args.decoder, weights=args.weights,
                        seed=args.seed, where=str(args.csv), budget=args.budget, progress=_progress(args),
                        units=units, constants=constants)
    except (UserDataError, UnitError) as exc:
        raise UserError(str(exc)) from exc
    if args.json:
        print(json.dumps(result.to_json(), indent=2))
        return
    held = "-" if result.r2_heldout is None else f"{result.r2_heldout:.4f}"
    print(f"data:      {args.csv}: {result.n_rows} rows used, {result.n_dropped} dropped (NaN or inf)")
    if result.found:
        print(f"formula:   {target} = {result.formula}")
    else:
        print(f"no formula found: {result.verdict}")
        print(f"best:      {target} = {result.formula} (not a law)")
    print(f"R2:        {held} on {result.rows_heldout} held-out rows ({result.r2_fit:.4f} on the "
          f"{result.rows_fit + result.rows_heldback} rows fitted and held back; the model read {result.rows_model})")
    scaled = [f"{n} / 2^{e}" for n, e in zip(names, result.scaling.x_exp, strict=True) if e]
    if result.scaling.y_exp:
        scaled.append(f"{target} / 2^{result.scaling.y_exp}")
    print(f"scaling:   {', '.join(scaled) if scaled else 'none needed'}")
    print(f"decoder:   {result.decoder}   time: {result.seconds:.2f} s")
    if result.units is not None:
        carried = "".join(f"; fitted numbers may carry {n} ({u})" for n, u in (constants or {}).items())
        print(f"units:     {result.units['rejected']} candidates rejected for their units{carried}")
    for line in result.warnings:
        print(f"warning:   {line}")
    for alt in result.alternatives:
        print(f"also fits: {target} = {alt['formula']} (size {alt['size']}, held-back R2 {alt['r2_heldout']:.6f}): "
              "the data cannot tell it from the chosen formula")
    _print_front(result.front)


def _progress(args):
    """One line per pipeline stage on stderr (not with --json, whose stdout must stay JSON only)."""
    if args.json:
        return None
    return lambda line: print(f"  {line}", file=sys.stderr, flush=True)


def _print_front(front: list[dict]) -> None:
    """Accuracy against size, as PySR prints its equations: the chosen one marked."""
    if not front:
        return
    # the chosen one: marked by the search over the groups (units), else the best score
    best = next((r for r in front if r.get("chosen")), None) or min(front, key=lambda r: r["score"])
    print("front:     size  R2 held-back  formula")
    for r in front:
        mark = ">" if r is best else " "
        r2 = "-" if r["r2_heldout"] is None else f"{r['r2_heldout']:.6f}"
        print(f"         {mark}{r['size']:>5}  {r2:>12}  {r['formula']}")


#: ``derive`` uses at most this many threads...
MAX_DERIVE_THREADS = 2


def derive_threads() -> int:
    """...and never more than the cores this process may run on: two threads on one core
    only wait for each other (the answer is the same)."""
    import os

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return max(1, min(MAX_DERIVE_THREADS, cores))


def _derive(args) -> None:
    import torch

    args.threads = args.threads or derive_threads()
    if args.csv:
        torch.set_num_threads(args.threads)
        _derive_csv(args)
        return
    if not args.id:
        raise UserError("give an equation id (e.g. feynman_001) or --csv FILE")

    from physdocs.decoding.derive import score_on

    torch.set_num_threads(args.threads)
    try:
        eq = get_equation(args.id)
    except KeyError as exc:
        raise UserError(str(exc.args[0])) from exc
    model, source = _load_model(args.weights)
    from physdocs.evaluation import EvalConfig  # its settings and seeds: the evaluation's row, reproduced
    from physdocs.points import equation_number, equation_points

    # The evaluation's settings and seeds, so `derive` reproduces its row for this equation.
    cfg = EvalConfig(seed=args.seed)
    support, test = equation_points(eq, cfg.seed, cfg.n_support, cfg.n_test)
    t0 = time.perf_counter()
    front: list[dict] = []
    if args.decoder in (None, "pipeline"):
        from physdocs.decoding.search import search

        args.decoder = "pipeline"
        seed = int(np.random.default_rng([cfg.seed, equation_number(eq.id), 7]).integers(2**31))
        found = search(model, support.x, support.y, cfg=cfg.search.scaled(args.budget), seed=seed,
                       names=eq.display_names, text_names=eq.plain_names, progress=_progress(args))
        result, front = found.derivation, found.front
    else:
        from physdocs.decoding.derive import derive

        rng = np.random.default_rng([cfg.seed, equation_number(eq.id), 2])
        result = derive(model, support.x, support.y, decoder=args.decoder, rng=rng, names=eq.display_names,
                        **cfg.decoder_budget(args.decoder))
        if result.expression is not None:
            from physdocs.decoding.search import named

            result.expression = named(result.expression, eq.plain_names)
    seconds = time.perf_counter() - t0
    r2 = score_on(result, test.x, test.y)
    doc = result.to_json()
    doc.update({"equation": eq.id, "truth": f"{eq.output} = {eq.formula}", "weights": source, "r2_test": r2,
                "seconds": seconds, "front": front})
    if not args.json:
        doc.pop("trajectory", None)
        doc.pop("candidates", None)
        print(f"weights:   {source}")
        print(f"equation:  {eq.id} {eq.name}: {eq.output} = {eq.formula}")
        print(f"predicted: {eq.output} = {doc['expression']}   [{doc['status']}, {result.source}]")
        print(f"R2 (held-out points): {r2:.4f}   time: {seconds:.2f} s   decoder: {args.decoder}")
        _print_front(front)
        return
    print(json.dumps(doc, indent=2, default=float))


def _train(args) -> None:
    from dataclasses import replace

    from physdocs.training.loop import TrainConfig, train

    cfg = TrainConfig()
    if args.config:
        path = Path(args.config)
        if not path.exists():
            raise UserError(f"config file {path} not found: pass a JSON file written by a previous run")
        try:
            cfg = TrainConfig.from_dict(json.loads(path.read_text()))
        except (json.JSONDecodeError, TypeError, KeyError) as exc:
            raise UserError(f"config file {path} is invalid ({exc}): compare with runs/*/train_config.json") from exc
    updates = {}
    if args.minutes is not None:
        updates["minutes"] = args.minutes
    if args.out:
        updates["out_dir"] = args.out
    if args.max_steps is not None:
        updates["max_steps"] = args.max_steps
    if args.init:
        if not Path(args.init).is_file():
            raise UserError(f"--init {args.init}: no such weights file: pass a .safetensors checkpoint")
        updates["init_weights"] = str(args.init)
    cfg = replace(cfg, **updates)
    meta = train(cfg, resume=args.resume, ship=args.ship)
    print(json.dumps(meta, indent=2))


def _evaluate(args) -> None:
    from physdocs.baselines import available
    from physdocs.evaluation import evaluate_benchmark

    if "gplearn" in (args.baseline or ()) and not available():
        raise UserError("gplearn is not installed: pip install 'physdocs[baselines]' (or drop --baseline gplearn)")
    evaluate_benchmark(
        weights=args.weights, tier=args.tier, decoders=args.decoder, json_path=args.json,
        control=not args.no_control, limit=args.limit, baselines=args.baseline or (),
    )


def _causal(args) -> None:
    import torch

    from physdocs.analysis.causal import CausalConfig
    from physdocs.analysis.causal_artifact import compute_causal, summary, write_causal
    from physdocs.models.checkpoint import CheckpointError, load_checkpoint
    from physdocs.results.causal import causal_command

    torch.set_num_threads(args.threads)
    weights = str(Path(args.weights)) if args.weights else None
    equations = str(Path(args.equations)) if args.equations else None
    if equations:
        load_benchmark(equations)  # the benchmark's own validation: one line naming the fault and the fix
    try:
        load_checkpoint(Path(weights) if weights else None)
    except CheckpointError as exc:
        raise UserError(str(exc)) from exc
    cfg = CausalConfig(weights=weights, benchmark=equations, seed=args.seed)
    result = compute_causal(cfg, command=causal_command(weights, args.json or "FILE", equations))
    print(summary(result))
    if args.json:
        print(f"causal: {write_causal(result, Path(args.json))}")


#: The modules the report's build needs (the optional extra ``physdocs[report]``).
REPORT_MODULES = ("mkdocs", "material", "mkdocs_gen_files", "mkdocstrings", "mkdocstrings_handlers.python")


def _report(args) -> None:
    import importlib.util
    import os
    import subprocess

    from physdocs.benchmark import load_benchmark
    from physdocs.evaluation import EvalConfig, cached_evaluation
    from physdocs.models.checkpoint import CheckpointError, load_checkpoint
    from physdocs.report.site_sources import prepare_config

    missing = [m for m in REPORT_MODULES if importlib.util.find_spec(m.split(".")[0]) is None]
    if missing:
        raise UserError(f"the report needs the site tools ({', '.join(missing)} missing): "
                        "pip install 'physdocs[report]'")
    env = dict(os.environ, DISABLE_MKDOCS_2_WARNING="true", NO_MKDOCS_2_WARNING="1")
    equations = weights = None
    if args.equations:
        equations = str(Path(args.equations).resolve())
        load_benchmark(equations)  # the benchmark's own validation: one line naming the fault and the fix
        env["PHYSDOCS_BENCHMARK"] = equations
    if args.weights:
        weights = str(Path(args.weights).resolve())
        try:
            load_checkpoint(Path(weights))
        except CheckpointError as exc:
            raise UserError(str(exc)) from exc
        env["PHYSDOCS_WEIGHTS"] = weights
    if (equations or weights) and not args.no_evaluate:
        cfg = EvalConfig(weights=weights, benchmark=equations, parts=("benchmark", "pipeline"),
                         search=EvalConfig().search.scaled(args.budget))
        env["PHYSDOCS_EVALUATION"] = str(cached_evaluation(cfg, Path(args.cache_dir)))
    if (equations or weights) and not args.no_causal:
        # The shipped interventions belong to the shipped weights and benchmark: these get their own.
        from physdocs.analysis.causal import CausalConfig
        from physdocs.analysis.causal_artifact import cached_causal

        print("causal interventions for these weights and equations (cached; minutes for the whole benchmark)",
              file=sys.stderr, flush=True)
        env["PHYSDOCS_CAUSAL"] = str(cached_causal(CausalConfig(weights=weights, benchmark=equations),
                                                   Path(args.cache_dir)))
    # In a checkout the repository's mkdocs.yml; anywhere else, the packaged site sources
    # written into a build folder under the cache directory.
    config = Path("mkdocs.yml") if Path("mkdocs.yml").is_file() else prepare_config(Path(args.cache_dir) / "site-src")
    cmd = [sys.executable, "-m", "physdocs.report.publish", "--site-dir", str(Path(args.site_dir).resolve()), "--",
           sys.executable, "-m", "mkdocs", "build", "--strict", "--config-file", str(config)]
    code = subprocess.run(cmd, env=env).returncode
    if code:
        raise UserError(f"the report build failed (exit {code}); its message is above")
    print(f"report: {Path(args.site_dir).resolve() / 'index.html'}")


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="physdocs", description=__doc__.splitlines()[0])
    sub = p.add_subparsers(dest="command", required=True)
    e = sub.add_parser("equations", help="list the 120 benchmark equations")
    e.add_argument("--tier", choices=TIERS)
    e.add_argument("--json", action="store_true")
    e.set_defaults(fn=_equations)
    d = sub.add_parser("derive", help="derive a formula: a benchmark equation, or your own data (--csv)")
    d.add_argument("id", nargs="?", help="benchmark equation id, e.g. feynman_001")
    d.add_argument("--csv", help="a CSV file with a header row: derive the target from the other columns")
    d.add_argument("--target", help="the CSV column to derive (default: the last)")
    d.add_argument("--columns", help="comma-separated input columns (default: all but the target)")
    d.add_argument("--units", help='units of every column and the target, e.g. "m=kg, v=m/s, p=kg*m/s" '
                   "(1 for a pure number): no formula with other units is chosen, and dimensional analysis runs")
    d.add_argument("--constant", action="append", metavar="NAME=UNIT",
                   help='a physical constant the law holds that is not a column, e.g. "g=m/s**2" (repeatable; '
                   "with --units): fitted numbers may carry its units")
    d.add_argument("--decoder", choices=("pipeline", "diffusion", "ar"),
                   help="default: the pipeline (both decoders seed Operon); ar or diffusion: one decoder alone")
    d.add_argument("--budget", type=float, default=1.0,
                   help="multiplies every count of the pipeline's budget (0.5: about half the time)")
    d.add_argument("--weights", help="checkpoint .safetensors (default: the shipped weights)")
    d.add_argument("--json", action="store_true", help="JSON output, with the trajectory")
    d.add_argument("--seed", type=int, default=DEFAULT_SEED)
    d.add_argument("--threads", type=int, help="torch threads (default: the cores this process may use, at most 2)")
    d.set_defaults(fn=_derive)
    t = sub.add_parser("train", help="train encoder + diffuser + AR decoder (torchrun-aware)")
    t.add_argument("--config", help="JSON TrainConfig")
    t.add_argument("--minutes", type=float, help="wall-clock budget")
    t.add_argument("--max-steps", type=int)
    t.add_argument("--out", help="run directory (default runs/default)")
    t.add_argument("--resume", action="store_true", help="continue from the run directory's checkpoint")
    t.add_argument("--init", help="start a new leg from these weights (fresh optimiser and schedule)")
    t.add_argument("--ship", action="store_true", help="copy the final weights into physdocs/weights/")
    t.set_defaults(fn=_train)
    v = sub.add_parser("evaluate", help="derive all benchmark equations; per-tier tables")
    v.add_argument("--tier", choices=TIERS)
    v.add_argument("--decoder", choices=DECODERS, action="append")
    v.add_argument("--weights")
    v.add_argument("--json", help="write the results JSON here")
    v.add_argument("--no-control", action="store_true", help="skip the random-initialised control")
    v.add_argument("--limit", type=int, help="only the first N equations (per tier filter)")
    v.add_argument("--method", "--baseline", dest="baseline", choices=BASELINES, action="append",
                   help="also run a method on the same points (repeatable): a baseline (gplearn, an optional "
                        "dependency; Operon alone at the pipeline's counted budget or three times it) or the "
                        "pipeline given the benchmark's units")
    v.set_defaults(fn=_evaluate)
    c = sub.add_parser("causal", help="compute the causal interventions the report shows (physdocs/data/causal.json)")
    c.add_argument("--weights", help="checkpoint .safetensors (default: the shipped weights)")
    c.add_argument("--equations", help="an equations TOML file (default: the packaged benchmark)")
    c.add_argument("--json", help="write the artifact here (the report reads physdocs/data/causal.json)")
    c.add_argument("--seed", type=int, default=DEFAULT_SEED)
    c.add_argument("--threads", type=int, default=1, help="torch threads (default 1: the timing the docs quote)")
    c.set_defaults(fn=_causal)
    r = sub.add_parser("report", help="build the report for your own equations and/or checkpoint")
    r.add_argument("--equations", help="an equations TOML file (the format of physdocs/data/equations.toml)")
    r.add_argument("--weights", help="a checkpoint .safetensors with its JSON sidecar")
    r.add_argument("--site-dir", default="site", help="where the site goes (default: site)")
    r.add_argument("--cache-dir", default=".cache/physdocs", help="where evaluations are cached")
    r.add_argument("--no-evaluate", action="store_true", help="skip the evaluation (pages say 'not evaluated')")
    r.add_argument("--no-causal", action="store_true",
                   help="skip the causal interventions for your weights or equations (the causal page says so)")
    r.add_argument("--budget", type=float, default=1.0,
                   help="multiplies the pipeline's counted budget in the evaluation (0.25: a quick report)")
    r.set_defaults(fn=_report)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        args.fn(args)
    except (UserError, BenchmarkError) as exc:
        print(f"physdocs: error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
