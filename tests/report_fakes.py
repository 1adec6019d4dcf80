"""A synthetic analysis for the report's tests: ``synthetic_run`` builds the results records
(:mod:`physdocs.results.analysis`) that ``physdocs.analysis.run.run_analysis`` builds, without
a model, and returns their JSON; figures are faked unless a test is about rendering them.
Shared by the report's test modules (fixtures in ``conftest.py``).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from physdocs.analysis.claims import Measurement, judge
from physdocs.analysis.findings import REGISTRY
from physdocs.analysis.records import equation_record
from physdocs.analysis.schema import MODELS, SplitRow
from physdocs.analysis.split import STATISTICS
from physdocs.benchmark import get_equation
from physdocs.models.config import SystemConfig
from physdocs.report import build, pages
from physdocs.results import finite
from physdocs.results.analysis import (
    EntropyRow,
    HeadImportance,
    Meta,
    Results,
    SingleSlot,
    TierTables,
    TokenTypeRow,
)
from physdocs.results.causal import (
    Agreement,
    Behaviour,
    CausalMeta,
    CausalModel,
    CausalResults,
    Decode,
    Effect,
    HeadAblation,
    Intervention,
    Patching,
    PatchRow,
)
from physdocs.results.equations import Entropy, ModelRecord, PadMass, ReceivedByType, Trajectory, tuples
from physdocs.results.evaluation_rows import Rate
from physdocs.results.readout import (
    DECODERS,
    K_CROSS,
    K_SELF,
    KEY_TYPES,
    POINT_FEATURES,
    READOUT_TYPES,
    Coefficient,
    Estimate,
    KeyTypeRow,
    KnockoutRow,
    LensRow,
    PartsRow,
    Readout,
)
from physdocs.results.readout import (
    PatchRow as ReadoutPatchRow,
)
from physdocs.trajectory import TrajectoryStats
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


def _trajectory(tokens: list[str], rng: np.random.Generator) -> tuple[Trajectory, np.ndarray]:
    width = len(tokens) + 3
    final = tokens + ["PAD"] * 3
    rows = [["BOS"] + ["MASK"] * (width - 1)]
    for step in range(1, 4):
        k = step * width // 3
        rows.append(final[:k] + ["MASK"] * (width - k))
    conf = rng.uniform(0.2, 1.0, size=(len(rows), width))
    conf[0] = np.nan
    traj = Trajectory(
        tokens=tuples(rows),
        confidence=tuples([[finite(c, 5) for c in r] for r in conf]),
        final=tuple(final),
        flicker_rate=0.0,
        # what physdocs.trajectory.trajectory_stats gives these rows: formula tokens from step 1
        stats=TrajectoryStats(first_equation_step=1, pad_only_steps=0, repeated_variable=False, revisions=0,
                              equation_steps=3),
        confidence_drop_rate=0.0,
        resolution_steps=(0,) * width,
    )
    return traj, conf.astype(np.float32)


def _model_record(value: float, offset: int, trajectory: Trajectory) -> ModelRecord:
    shares = {"binary": value}
    return ModelRecord(
        entropy={c: Entropy(value + offset, value / 2) for c in COMPONENTS},
        head_entropy={c: tuples([[value] * 4] * 4) for c in COMPONENTS},
        received_by_type={c: ReceivedByType(shares, shares, {"binary": 1.0}) for c in ("diffuser.self", "decoder.self")},
        pad_mass=PadMass(0.0, 0.0), cross_z_mass=value, cross_obs_concentration=value,
        inducing_specialisation=value, inducing_coverage=value, trajectory=trajectory,
    )


def synthetic_run(cfg: FakeAnalysisConfig, *, names: dict[str, str] | None = None, value: float = 0.123456):
    """Results (``Results.to_json()``) and arrays shaped like ``run_analysis`` output; ``value``
    marks every statistic."""
    rng = np.random.default_rng(cfg.seed)
    ids = cfg.equation_ids or ("feynman_001",)
    records, arrays = [], {}
    for eq_id in ids:
        eq = get_equation(eq_id)
        models = {}
        for m_i, model in enumerate(MODELS):
            traj, conf = _trajectory(eq.tokens, rng)
            models[model] = _model_record(value, m_i, traj)
            arrays[f"{model}/{eq_id}/trajectory_confidence"] = conf
            for c in COMPONENTS:
                q, k = _shape(c, len(eq.tokens))
                arrays[f"{model}/{eq_id}/{c}"] = rng.dirichlet(np.ones(k), size=(4, q)).astype(np.float32)
        record = equation_record(replace(eq, name=(names or {}).get(eq.id, eq.name)), models)
        records.append(replace(record, variables=()))  # the pages take variables from the build
    tiers = sorted({r.tier for r in records})
    entropy_rows = tuple(
        EntropyRow(tier=t, model=model, component=c, n=len(ids), nats=value, normalised=value,
                   nats_ci=(value / 2, value * 2), normalised_ci=(value / 2, value * 2))
        for t in tiers
        for model in (*MODELS, "uniform")
        for c in COMPONENTS
    )
    type_rows = tuple(
        TokenTypeRow(tier=t, model=model, component=c, type="binary", received=value, uniform_share=value, ratio=value)
        for t in tiers
        for model in MODELS
        for c in ("diffuser.self", "decoder.self")
    )
    claims = tuple(judge(f, Measurement(value, value / 2, value * 2, value / 10, -value, len(ids))) for f in REGISTRY)
    split = tuple(SplitRow(statistic=label, decoder=decoder, n_derived=1, n_failed=len(ids) - 1, derived=value,
                           failed=value / 2, difference=value / 2, within_tier=value / 3, ci_low=-value, ci_high=value,
                           p_value=value / 10, p_holm=value / 5, differs=False)
                  for label, decoder, _ in STATISTICS)
    heads = tuples([[value] * 4] * 4)
    results = Results(
        meta=Meta(weights="physdiffuser.safetensors", weights_sha256="ab" * 32, seed=cfg.seed, n_equations=len(ids),
                  seconds={"total": value}, trained_meta={}, config=cfg.to_dict(), capture="",
                  seed_entropy_by_tier={"trivial": 1.778, "moderate": 2.327},
                  model_config=SystemConfig().to_dict()),
        equations=tuple(records),
        tiers=TierTables(entropy_rows, type_rows, keys=()),
        claims=claims,
        head_importance={"trained": HeadImportance(heads, heads)},
        head_roles={},
        inducing_coverage={},
        single_slot=SingleSlot(max_abs_deviation_from_one=0.0, n_maps=16, n_keys=1),
        evaluation=None,
        split=split,
        causal=fake_causal(value, len(ids)),
        training_log=(),
        readout=fake_readout(value, len(ids)),
    )
    return results.to_json(), arrays


def fake_causal(value: float, n: int) -> CausalResults:
    """The causal artifact's record (:mod:`physdocs.results.causal`) with every number ``value``."""
    effect = Effect(value=value, ci_low=value / 2, ci_high=value * 2, n=n)
    rate = Rate(n=n, k=1, rate=1 / n, low=value / 2, high=value * 2)
    behaviour = Behaviour(kept=rate, gained=rate, p_value=value, p_holm=value)
    cross = tuple(Intervention(c, n, loss=effect, behaviour=behaviour, displacement=value, random_loss=effect,
                               random_behaviour=behaviour)
                  for c in ("observations blocked", "z blocked", "both blocked", "observations blocked, z's weight held",
                            "z blocked, the observations' weight held", "observations resampled"))
    heads = (HeadAblation("self", 1, 1, Intervention("self L1H1", n, effect, behaviour, value, effect, behaviour),
                          loss_p=value, loss_p_holm=value),
             HeadAblation("cross", 1, 1, Intervention("cross L1H1", n, effect, None, value, effect), loss_p=value))
    model = CausalModel(
        derived=rate, cross=cross, heads=heads,
        patching=Patching(n_pairs=n, level=0.5, total_move=effect, layers=(PatchRow(1, effect, effect),),
                          heads=(PatchRow(1, effect, effect, head=1),)),
        reseed=behaviour, agreement=Agreement(value, value / 2, value * 2, n_heads=2, changed=1),
    )
    meta = CausalMeta(weights="physdiffuser.safetensors", weights_sha256="ab" * 32, benchmark_sha256="cd" * 32,
                      equations=("feynman_001", "feynman_046")[:n], seed=2026,
                      command="physdocs causal --json physdocs/data/causal.json", seconds=value, threads=1)
    return CausalResults(meta=meta, levels=(0.25, 0.5, 0.75),
                         decode=Decode(argmax=3, samples=2, steps=20, restarts=2, r2_threshold=0.99),
                         models={"trained": model, "control": model})


def fake_readout(value: float, n: int, n_layers: int = 4) -> Readout:
    """:func:`physdocs.analysis.readout.readout_analysis`'s record: the knockouts in the order
    of the weights (top ``3 value``, random ``2 value``, bottom ``value``), operators decided a
    layer before leaves, every other number ``value``."""

    def est(x: float) -> Estimate:
        return Estimate(x, x / 2, x * 2, n)

    knock = tuple(KnockoutRow(d, block, k, 50.0 if block == "cross_attn" else 9.0, est(3 * value), est(2 * value),
                              est(value), (0.3, 0.2, 0.1))
                  for d in DECODERS for block, ks in (("cross_attn", K_CROSS), ("self_attn", (K_SELF,))) for k in ks)
    decided = (0.1,) + (0.0,) * (n_layers - 1) + (0.9,)
    lens = tuple(LensRow(d, t, 10, (value,) * n_layers + (0.5,), decided,
                         est(2.0 if t == "operator" else 3.0)) for d in DECODERS for t in READOUT_TYPES)
    return Readout(
        level=0.5, n_equations=n, k_claim=K_CROSS[0], knockouts=knock,
        key_types=tuple(KeyTypeRow(d, t, 3 * value, 2 * value, value, (1.0, 2.0, 3.0))
                        for d in DECODERS for t in KEY_TYPES),
        favoured=tuple(Coefficient(d, m, f, value, -value, 2 * value, n) for d, m in
                       (("diffuser", "trained"), ("ar_decoder", "trained"), ("diffuser", "control"))
                       for f in POINT_FEATURES),
        lens=lens,
        patching=tuple(ReadoutPatchRow(d, layer, est(value), est(2 * value), est(value), est(value),
                                       est(value / 2))
                       for d in DECODERS for layer in range(1, n_layers + 1)),
        parts=tuple(PartsRow(d, est(value), est(2 * value), est(3 * value)) for d in DECODERS),
    )


def fake_render(jobs, workers=2):
    return {job.path: f"PNG {job.path}".encode() for job in jobs}


def fake_weights(tmp_path) -> Path:
    """A stand-in weights file: the synthetic analysis only hashes it."""
    path = tmp_path / "w.safetensors"
    path.write_bytes(b"weights-v1")
    return path


def fake_build_config(tmp_path, weights, **kw) -> build.BuildConfig:
    analysis = FakeAnalysisConfig(weights=str(weights))
    return build.BuildConfig(analysis=analysis, cache_dir=tmp_path / "cache",
                             **{"evaluation_path": None, "equal_time_path": None, **kw})
