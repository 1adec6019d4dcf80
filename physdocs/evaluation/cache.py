"""Evaluations computed once per weights, equations, configuration and source, and the CLI entry."""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path

from physdocs.benchmark import DEFAULT_PATH
from physdocs.evaluation.config import EvalConfig
from physdocs.evaluation.jobs import run_evaluation
from physdocs.evaluation.summary import format_summary
from physdocs.models.checkpoint import DEFAULT_WEIGHTS, sha256
from physdocs.paths import source_sha256


def cached_evaluation(cfg: EvalConfig, cache_dir: Path, progress: bool = True) -> Path:
    """The evaluation JSON for ``cfg``, computed once per weights, equations, config and source."""
    weights = Path(cfg.weights) if cfg.weights else DEFAULT_WEIGHTS
    equations = Path(cfg.benchmark) if cfg.benchmark else Path(DEFAULT_PATH)
    key_doc = {
        "weights": sha256(weights),
        "equations": hashlib.sha256(equations.read_bytes()).hexdigest(),
        "config": {k: v for k, v in cfg.to_dict().items() if k not in ("weights", "benchmark", "workers")},
        "source": source_sha256(),
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
