"""A synthetic analysis for the report's tests: ``synthetic_run`` follows the results contract
of ``physdocs.analysis.run.run_analysis`` without a model; figures are faked unless a test is
about rendering them. Shared by the report's test modules (fixtures in ``conftest.py``).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from physdocs.analysis.claims import Measurement, judge
from physdocs.analysis.findings import REGISTRY
from physdocs.analysis.schema import SplitRow
from physdocs.analysis.split import STATISTICS
from physdocs.benchmark import get_equation
from physdocs.grammar import token_type
from physdocs.report import build, pages
from tests.evaluation_fakes import evaluation_json  # noqa: F401 - the fakes' one import point

ROOT = Path(__file__).resolve().parents[1]
COMPONENTS = tuple(pages.COMPONENT_NAMES)
HOSTILE = '<script>alert("x")</script> [link](javascript:alert(1)) {: onclick=alert(1) } | *em*'


@dataclass(frozen=True)
class FakeAnalysisConfig:
    """Stands in for ``AnalysisConfig``: same role, no torch."""

    seed: int = 2026
    equation_ids: tuple[str, ...] | None = ("feynman_001", "feynman_046")
    weights: str | None = None
    n_boot: int = 10

    def to_dict(self) -> dict:
        return asdict(self)


def _shape(component: str, n_tok: int) -> tuple[int, int]:
    return {
        "encoder.isab1.mab1": (16, 50),
        "encoder.isab1.mab2": (50, 16),
        "encoder.isab2.mab1": (16, 50),
        "encoder.isab2.mab2": (50, 16),
        "encoder.pma": (1, 50),
        "diffuser.self": (n_tok, n_tok),
        "diffuser.cross": (n_tok, 51),
        "decoder.self": (n_tok, n_tok),
        "decoder.cross": (n_tok, 51),
    }[component]


def _trajectory(tokens: list[str], rng: np.random.Generator) -> tuple[dict, np.ndarray]:
    width = len(tokens) + 3
    final = tokens + ["PAD"] * 3
    rows = [["BOS"] + ["MASK"] * (width - 1)]
    for step in range(1, 4):
        k = step * width // 3
        rows.append(final[:k] + ["MASK"] * (width - k))
    conf = rng.uniform(0.2, 1.0, size=(len(rows), width))
    conf[0] = np.nan
    traj = {
        "tokens": rows,
        "confidence": [[None if math.isnan(c) else round(float(c), 5) for c in r] for r in conf],
        "final": final,
        "status": "ok",
        "flicker_rate": 0.0,
        # what decoding.diffusion.trajectory_stats gives these rows: formula tokens from step 1
        "first_equation_step": 1,
        "pad_only_steps": 0,
        "repeated_variable": False,
        "revisions": 0,
        "equation_steps": 3,
    }
    return traj, conf.astype(np.float32)


def synthetic_run(cfg: FakeAnalysisConfig, *, names: dict[str, str] | None = None, value: float = 0.123456):
    """Results and arrays shaped like ``run_analysis`` output; ``value`` marks every statistic."""
    rng = np.random.default_rng(cfg.seed)
    ids = cfg.equation_ids or ("feynman_001",)
    records, arrays = [], {}
    for eq_id in ids:
        eq = get_equation(eq_id)
        models = {}
        for m_i, model in enumerate(("trained", "control")):
            models[model] = {
                "entropy": {c: {"nats": value + m_i, "normalised": value / 2} for c in COMPONENTS},
                "head_entropy": {c: [[value] * 4] * 4 for c in COMPONENTS},
                "received_by_type": {"diffuser.self": {"binary": value}, "decoder.self": {"binary": value}},
                "inducing_specialisation": value,
            }
            traj, conf = _trajectory(eq.tokens, rng)
            models[model]["trajectory"] = traj
            arrays[f"{model}/{eq_id}/trajectory_confidence"] = conf
            for c in COMPONENTS:
                q, k = _shape(c, len(eq.tokens))
                arrays[f"{model}/{eq_id}/{c}"] = rng.dirichlet(np.ones(k), size=(4, q)).astype(np.float32)
        records.append(
            {
                "id": eq.id,
                "name": (names or {}).get(eq.id, eq.name),
                "tier": eq.tier,
                "output": eq.output,
                "formula": eq.formula,
                "latex": eq.latex,
                "tokens": eq.tokens,
                "token_types": [token_type(t) for t in eq.tokens],
                "models": models,
            }
        )
    tiers = sorted({r["tier"] for r in records})
    entropy_rows = [
        {
            "tier": t,
            "model": model,
            "component": c,
            "nats": value,
            "normalised": value,
            "nats_ci": [value / 2, value * 2],
            "normalised_ci": [value / 2, value * 2],
        }
        for t in tiers
        for model in ("trained", "control", "uniform")
        for c in COMPONENTS
    ]
    type_rows = [
        {
            "tier": t,
            "model": model,
            "component": c,
            "type": "binary",
            "received": value,
            "uniform_share": value,
            "ratio": value,
        }
        for t in tiers
        for model in ("trained", "control")
        for c in ("diffuser.self", "decoder.self")
    ]
    claims = [judge(f, Measurement(value, value / 2, value * 2, value / 10, -value, len(ids))).to_dict()
              for f in REGISTRY]
    split = [SplitRow(statistic=label, decoder=decoder, n_derived=1, n_failed=len(ids) - 1, derived=value,
                      failed=value / 2, difference=value / 2, within_tier=value / 3, ci_low=-value, ci_high=value,
                      p_value=value / 10, p_holm=value / 5, differs=False).to_dict()
             for label, decoder, _ in STATISTICS]
    results = {
        "meta": {
            "weights": "physdiffuser.safetensors",
            "weights_sha256": "ab" * 32,
            "seed": cfg.seed,
            "n_equations": len(ids),
            "seconds": {"total": value},
            "trained_meta": {},
            "seed_entropy_by_tier": {"trivial": 1.778, "moderate": 2.327},
        },
        "equations": records,
        "tiers": {"entropy": entropy_rows, "token_type": type_rows},
        "claims": claims,
        "head_importance": {"trained": {"diffuser.self": [[value] * 4] * 4}},
        "single_slot": {"max_abs_deviation_from_one": 0.0, "n_maps": 16},
        "evaluation": None,
        "split": split,
        "causal": fake_causal(value, len(ids)),
        "training_log": [],
    }
    return results, arrays


def fake_causal(value: float, n: int) -> dict:
    """The shape of ``physdocs.analysis.causal.causal_results`` with every number ``value``."""
    effect = {"value": value, "ci_low": value / 2, "ci_high": value * 2, "n": n}
    model = {
        "derived_clean": 1, "n_equations": n,
        "cross": [{"condition": c, "loss": effect, "derived_clean": value, "derived": value / 2, "success": effect}
                  for c in ("observations blocked", "z blocked", "both blocked")],
        "patching": {"n_pairs": n, "level": 0.5, "total_move": value,
                     "layers": [{"layer": 1, **effect}], "heads": [{"layer": 1, "head": 1, **effect}]},
        "heads": [{"layer": 1, "head": 1, "zero": {"loss": effect, "kept": effect}, "mean": {"loss": effect}}],
    }
    return {"levels": [0.25, 0.5, 0.75], "steps": 20, "models": {"trained": model, "control": model}}


def fake_render(jobs, workers=2):
    return {job.path: f"PNG {job.path}".encode() for job in jobs}


def fake_weights(tmp_path) -> Path:
    """A stand-in weights file: the synthetic analysis only hashes it."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights-v1")
    return path


def fake_build_config(tmp_path, weights, **kw) -> build.BuildConfig:
    analysis = FakeAnalysisConfig(weights=str(weights))
    return build.BuildConfig(analysis=analysis, cache_dir=tmp_path / "cache", evaluation_path=None, **kw)
