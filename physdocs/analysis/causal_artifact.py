"""The causal interventions as a shipped artifact, like ``evaluation.json``.

The interventions decode every equation about fifty times (:mod:`.causal`), minutes of
compute that the report's build must not repeat. ``physdocs causal --json
physdocs/data/causal.json`` computes them once (:func:`compute_causal`); the repository ships
the JSON, which names the weights' and the benchmark's SHA-256. The build reads it back through
:func:`physdocs.results.causal.read_causal`, which stops with one line naming this command
when the weights differ; ``physdocs report --weights`` computes it for its own weights
(:func:`cached_causal`).
"""

from __future__ import annotations

import hashlib
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

import numpy as np
import torch

from physdocs.analysis.capture import _inputs, _load_models
from physdocs.analysis.causal import CausalConfig, CausalInputs, Derivations, causal_model
from physdocs.benchmark import benchmark_sha256, load_benchmark
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, sha256
from physdocs.paths import source_sha256
from physdocs.results import jsonable
from physdocs.results.causal import CausalMeta, CausalResults, causal_command

#: Decimals kept of the per-equation numbers the findings read (a loss in nats, a 0/1 change).
DECIMALS = 5


def _plain(value):
    """Per-equation arrays as nested lists of rounded floats, nan (undefined) as None."""
    if value is None:
        return None
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    return jsonable(np.round(np.asarray(value, dtype=float), DECIMALS).tolist())


def compute_causal(cfg: CausalConfig = CausalConfig(), equation_ids: tuple[str, ...] | None = None,  # noqa: B008
                   progress=None, command: str | None = None) -> CausalResults:
    """Every intervention on the trained model (behaviour decoded throughout, both baselines)
    and on the random-initialised control (loss, and the decodes the findings compare)."""
    t0 = time.perf_counter()
    say = progress or (lambda line: print(f"  {line} ({time.perf_counter() - t0:.0f} s)", file=sys.stderr, flush=True))
    equations = list(load_benchmark(cfg.benchmark))
    if equation_ids is not None:
        known = {e.id: e for e in equations}
        equations = [known[i] for i in equation_ids]
    trained, control, _, weights = _load_models(cfg)
    raw = _inputs(equations, cfg.seed, trained.cfg.diffuser.max_len)
    derives = Derivations(raw.support, raw.test, raw.scalings, restarts=cfg.restarts, seed=cfg.seed)
    inp = CausalInputs(raw.obs, raw.canvas, raw.lengths, [len(e.variables) for e in equations], derives)
    models, per_equation = {}, {}
    for name, model, decode in (("trained", trained, True), ("control", control, False)):
        models[name], arrays = causal_model(name, model, inp, cfg, decode=decode, progress=say)
        per_equation[name] = {k: _plain(v) for k, v in arrays.items()}
    meta = CausalMeta(weights=Path(weights).name, weights_sha256=sha256(Path(weights)),
                      benchmark_sha256=benchmark_sha256(cfg.benchmark), equations=tuple(e.id for e in equations),
                      seed=cfg.seed, command=command or causal_command(cfg.weights, "FILE", cfg.benchmark),
                      seconds=round(time.perf_counter() - t0, 1), threads=torch.get_num_threads())
    return CausalResults(meta=meta, levels=tuple(cfg.levels), decode=cfg.decode(), models=models,
                         per_equation=per_equation)


def write_causal(result: CausalResults, path: Path) -> Path:
    """Write the artifact atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result.to_json(), indent=1, sort_keys=True, allow_nan=False) + "\n", encoding="utf-8")
    tmp.replace(path)
    return path


def cached_causal(cfg: CausalConfig, cache_dir: Path) -> Path:
    """The artifact for ``cfg``'s weights and benchmark, computed once per weights, benchmark,
    config and package source (``physdocs report --weights`` uses it)."""
    weights = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
    key_doc = {"weights": sha256(weights), "benchmark": benchmark_sha256(cfg.benchmark),
               "config": {k: v for k, v in asdict(cfg).items() if k not in ("weights", "benchmark")},
               "source": source_sha256()}
    key = hashlib.sha256(json.dumps(key_doc, sort_keys=True, default=str).encode()).hexdigest()[:20]
    path = Path(cache_dir) / f"causal-{key}.json"
    if not path.is_file():
        write_causal(compute_causal(cfg), path)
    return path


def summary(result: CausalResults) -> str:
    """A few lines for the terminal: intact derivations and the strongest interventions."""
    trained = result.models["trained"]
    lines = [f"weights {result.meta.weights} ({result.meta.weights_sha256[:12]}…), {len(result.meta.equations)} "
             f"equations, {result.meta.seconds:.0f} s",
             f"intact: trained derives {trained.derived.k} of {trained.derived.n}, control "
             f"{result.models['control'].derived.k}"]
    for c in trained.cross:
        b = c.behaviour
        kept = "" if b is None else f", kept {b.kept.k}/{b.kept.n}, gained {b.gained.k}/{b.gained.n}"
        loss = "undefined" if c.loss.value is None else f"+{c.loss.value:.3f} nats"
        lines.append(f"{c.name}: loss {loss}{kept}")
    return "\n".join(lines)

