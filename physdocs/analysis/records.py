"""Per-equation records, tier tables and the findings' evidence, from captured arrays.

Torch-free: everything here reads numpy arrays (attention maps, trajectories) and the
benchmark, so it can be tested on hand-built arrays; :mod:`.capture` makes the arrays. The
records are those of :mod:`physdocs.results.analysis`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager

import numpy as np

from physdocs.analysis import findings as F
from physdocs.analysis import metrics as M
from physdocs.analysis import schema as S
from physdocs.analysis.schema import MODELS
from physdocs.analysis.stats import bootstrap_ci
from physdocs.benchmark import TIERS, Equation
from physdocs.errors import InputError
from physdocs.grammar import ARITY, MASK_ID, token_type
from physdocs.results import finite, nan_if_none, significant
from physdocs.results.analysis import EntropyRow, KeysRow, TierTables, TokenTypeRow
from physdocs.results.causal import CausalResults
from physdocs.results.equations import (
    Entropy,
    EquationRecord,
    ModelRecord,
    PadMass,
    ReceivedByType,
    Trajectory,
    tuples,
)
from physdocs.trajectory import trajectory_stats

ENCODER_COMPONENTS = {c.id: c.hook for c in S.COMPONENTS if c.kind == "encoder"}
DECODER_COMPONENTS = {c.id: c.hook for c in S.COMPONENTS if c.kind != "encoder"}


COMPONENTS = S.COMPONENT_IDS


SEED_ENTROPY_BY_TIER = {"trivial": 1.778, "simple": 2.255, "moderate": 2.327, "complex": 2.826, "multi_step": 2.909}


class AnalysisError(InputError, RuntimeError):
    """An equation or input the analysis cannot process; names the item and the fix."""


@contextmanager
def _about(eq: Equation) -> Iterator[None]:
    """Per-equation work: an unexpected exception becomes an :class:`AnalysisError` naming ``eq``."""
    try:
        yield
    except AnalysisError:
        raise
    except Exception as exc:
        raise AnalysisError(
            f"equation {eq.id} ({eq.name}): the analysis failed ({type(exc).__name__}: {exc}). "
            "Fix: leave it out (PHYSDOCS_EQUATIONS or the config's equation_ids) and report the error "
            "with its traceback (`mkdocs build --verbose` prints it)"
        ) from exc


def _trim(component: str, a: np.ndarray, n: int) -> np.ndarray:
    """[layer, H, q, k] -> real query rows (and real token keys for self-attention)."""
    kind = S.component(component).kind
    if kind == "encoder":
        return a
    if kind == "self":
        return a[:, :, :n, :n]
    return a[:, :, :n, :]


def visible_rows(component: str, a: np.ndarray, n: int) -> np.ndarray:
    """The rows a statistic reads, over keys that exist, each summing to 1.

    Decoder rows are the ``n`` real tokens (BOS .. EOS). Self-attention keys are those same
    tokens: the diffuser's PAD tail is cut off and each row renormalised (its PAD mass is
    reported apart, :func:`pad_mass`); the AR decoder's causal rows already sum to 1 over
    their prefix. Cross-attention keys are all memory slots; encoder maps are whole.
    """
    kind = S.component(component).kind
    if kind == "encoder":
        return a
    if kind == "self":
        return M.restrict_keys(a[..., :n, :], n)[0]
    return a[..., :n, :]


def pad_mass(a: np.ndarray, n: int) -> float:
    """Mean mass the diffuser's real-token rows put on the PAD tail (keys ``>= n``)."""
    return float(M.restrict_keys(a[..., :n, :], n)[1].mean())


def _entropies(component: str, a: np.ndarray, n: int) -> tuple[float, float, list[list[float]]]:
    """Entropy of each row over the keys that exist (see :func:`visible_rows`)."""
    causal = component == "decoder.self"
    rows = visible_rows(component, a, n)
    nats = float(np.nanmean(M.row_entropy(rows, causal=causal)))
    norm_rows = M.normalised_row_entropy(rows, causal=causal)  # [layer, H, q]
    head = np.nanmean(norm_rows, axis=-1)  # [layer, H]
    return nats, float(np.nanmean(norm_rows)), head.round(5).tolist()


def _uniform_entropy(component: str, a: np.ndarray, n: int) -> float:
    """Entropy of uniform attention over the same visible keys (causal rows: the prefix)."""
    causal = component == "decoder.self"
    rows = visible_rows(component, a, n)
    u = M.uniform_attention(rows.shape[-2], rows.shape[-1], causal=causal)
    return float(np.nanmean(M.row_entropy(u, causal=causal)))


def _received(component: str, a: np.ndarray, n: int, tokens: list[str]) -> ReceivedByType:
    """Share of self-attention each token type receives (sums to 1), its uniform baseline, their ratio."""
    mean_map = visible_rows(component, a, n).mean(axis=(0, 1))  # [q, k]
    types = [token_type(t) for t in tokens]
    got = M.attention_received_by_type(mean_map, types)
    base = M.causal_uniform_share(types) if component == "decoder.self" else M.uniform_share(types)
    return ReceivedByType(
        received={k: round(v, 5) for k, v in got.items()},
        uniform={k: round(v, 5) for k, v in base.items()},
        ratio={k: round(v, 5) for k, v in M.received_ratio(got, base).items()},
    )


def model_record(eq: Equation, maps: dict[str, np.ndarray], n: int, traj) -> ModelRecord:
    """What one model's attention does on ``eq``: its captured ``maps`` and its argmax decode ``traj``."""
    entropy, head_entropy, received = {}, {}, {}
    for comp, a in maps.items():
        nats, norm, head = _entropies(comp, a, n)
        entropy[comp] = Entropy(finite(nats, 5), finite(norm, 5))
        head_entropy[comp] = tuples(head)
        if comp in ("diffuser.self", "decoder.self"):
            received[comp] = _received(comp, a, n, eq.tokens)
    cross = maps["diffuser.cross"][:, :, :n, :]
    tokens = traj.trajectory_tokens
    recorded = traj.trajectory()
    return ModelRecord(
        entropy=entropy,
        head_entropy=head_entropy,
        received_by_type=received,
        # masses and divergences can be tiny (a random model's): kept to significant figures
        pad_mass=PadMass(significant(pad_mass(maps["diffuser.self"], n)),
                         significant(pad_mass(maps["diffuser.self"][-1:], n))),
        cross_z_mass=significant(cross[..., -1].mean()),
        cross_obs_concentration=significant(M.observation_selectivity(cross[..., :-1])),
        inducing_specialisation=significant(M.inducing_specialisation(maps["encoder.isab1.mab1"][0])),
        inducing_coverage=finite(M.argmax_coverage(maps["encoder.isab1.mab1"][0]), 5),
        trajectory=Trajectory(
            tokens=tuples(recorded["tokens"]),
            confidence=tuples(recorded["confidence"]),
            final=tuple(traj.tokens),
            # over the equation's positions: BOS, EOS and the PAD after it are given, never decoded
            flicker_rate=finite(M.flicker_rate(tokens[:, 1:max(traj.eos_position, 2)], MASK_ID), 5),
            stats=trajectory_stats(tokens),
            confidence_drop_rate=finite(M.confidence_drop_rate(equation_confidence(traj)), 5),
            resolution_steps=tuple(M.resolution_steps(tokens, MASK_ID).tolist()),
        ),
    )


def equation_record(eq: Equation, models: Mapping[str, ModelRecord]) -> EquationRecord:
    """``eq`` as analysed: its definition (variables included) and a :class:`ModelRecord` per model."""
    return EquationRecord(
        id=eq.id, name=eq.name, tier=eq.tier, output=eq.output, formula=eq.formula, latex=eq.latex,
        tokens=tuple(eq.tokens), token_types=tuple(token_type(t) for t in eq.tokens), variables=tuple(eq.variables),
        depths=tuple(_depths(eq.tokens)), models=dict(models),
    )


ROLE_TYPES = S.TOKEN_TYPES


def _tier_tables(records: list[EquationRecord], uniform: list[dict], n_boot: int, rng) -> TierTables:
    """Per tier: entropy per component and model (and uniform attention), token-type shares, key masses."""
    entropy_rows, type_rows = [], []
    for tier in TIERS:
        idx = [i for i, e in enumerate(records) if e.tier == tier]
        if not idx:
            continue
        for comp in COMPONENTS:
            for model in MODELS:
                nats = [nan_if_none(records[i].models[model].entropy[comp].nats) for i in idx]
                norm = [nan_if_none(records[i].models[model].entropy[comp].normalised) for i in idx]
                n_est, n_lo, n_hi = bootstrap_ci(nats, n_boot=n_boot, rng=rng)
                z_est, z_lo, z_hi = bootstrap_ci(norm, n_boot=n_boot, rng=rng)
                entropy_rows.append(EntropyRow(
                    tier=tier, model=model, component=comp, n=len(idx),
                    nats=finite(n_est, 4), normalised=finite(z_est, 4),
                    nats_ci=(finite(n_lo, 4), finite(n_hi, 4)), normalised_ci=(finite(z_lo, 4), finite(z_hi, 4)),
                ))
            u = finite(np.mean([uniform[i][comp] for i in idx]), 4)
            entropy_rows.append(EntropyRow(tier=tier, model="uniform", component=comp, n=len(idx), nats=u,
                                           normalised=1.0, nats_ci=(u, u), normalised_ci=(1.0, 1.0)))
            if comp not in ("diffuser.self", "decoder.self"):
                continue
            # Received and uniform are mean shares over the tier's equations (each sums to 1
            # over the types, absent types counting 0); ratio = received / uniform.
            # The operators together (S.OPERATOR), as the findings group them: shares add.
            for model in MODELS:
                for typ in (*S.TOKEN_TYPES, S.OPERATOR):
                    members = S.OPERATOR_TYPES if typ == S.OPERATOR else (typ,)
                    shares = [records[i].models[model].received_by_type[comp] for i in idx]
                    got = [sum(r.received.get(t, 0.0) for t in members) for r in shares]
                    base = [sum(r.uniform.get(t, 0.0) for t in members) for r in shares]
                    if not any(base):
                        continue
                    type_rows.append(TokenTypeRow(
                        tier=tier, model=model, component=comp, type=typ,
                        received=finite(np.mean(got), 4),
                        uniform_share=finite(np.mean(base), 4),
                        ratio=finite(float(np.mean(got)) / float(np.mean(base)), 4),
                    ))
    keys_rows = []
    for tier in TIERS:
        idx = [i for i, e in enumerate(records) if e.tier == tier]
        for model in MODELS if idx else ():
            rec = [records[i].models[model] for i in idx]
            keys_rows.append(KeysRow(
                tier=tier, model=model, n=len(idx),
                pad_mass=_mean(r.pad_mass.mean for r in rec),
                pad_mass_last_layer=_mean(r.pad_mass.last_layer for r in rec),
                z_mass=_mean(r.cross_z_mass for r in rec),
                obs_concentration=_mean(r.cross_obs_concentration for r in rec),
            ))
    return TierTables(tuple(entropy_rows), tuple(type_rows), tuple(keys_rows))


def _mean(values) -> float | None:
    """Mean to 4 significant figures, None (a record's missing value) counting as nan."""
    return significant(np.mean([nan_if_none(v) for v in values]), 4)


def _evidence(records: list[EquationRecord], equations, maps_by_model, lengths, trajectories, roles,
              causal: CausalResults | None = None, readout=None) -> F.Evidence:
    """The arrays the registered findings are computed from (:class:`~physdocs.analysis.findings.Evidence`).

    ``readout``: ``{model: ModelReadout}`` of :func:`physdocs.analysis.readout.readout_analysis`, or None."""
    types, groups = [], []
    for i, eq in enumerate(equations):
        types += [token_type(t) for t in eq.tokens]
        groups += [i] * lengths[i]

    def model_evidence(m: str) -> F.ModelEvidence:
        conc, ratio, depth, step, position, step_group, operator = [], [], [], [], [], [], []
        for i in range(len(equations)):
            n = lengths[i]
            # Concentration over the observation keys alone: the pooled z slot is reported apart.
            cross = maps_by_model[m][i]["diffuser.cross"][:, :, :n, :-1]  # [layer, H, q, points]
            obs_only = M.restrict_keys(cross, cross.shape[-1])[0].mean(axis=(0, 1))  # [q, points]
            conc += M.row_concentration(obs_only).tolist()
            self_map = visible_rows("diffuser.self", maps_by_model[m][i]["diffuser.self"], n).mean(axis=(0, 1))
            ratio += M.received_ratio_per_key(self_map).tolist()
            # Coarse-to-fine on matched pairs: depth and step of the same decoded canvas.
            d, st = decoded_depth_steps(trajectories[m][i])
            depth += d
            step += st
            position += list(range(len(d)))
            step_group += [i] * len(d)
            operator += [float(token_type(t) in S.OPERATOR_TYPES) for t in trajectories[m][i].tokens[:len(d)]]
        rec = [r.models[m] for r in records]

        def field(read) -> np.ndarray:
            return np.array([nan_if_none(read(r)) for r in rec], dtype=float)

        return F.ModelEvidence(
            inducing_specialisation=field(lambda r: r.inducing_specialisation),
            entropy_nats=field(lambda r: r.entropy["diffuser.self"].nats),
            entropy_normalised=field(lambda r: r.entropy["diffuser.self"].normalised),
            head_entropy=np.array([r.head_entropy["diffuser.self"] for r in rec], dtype=float),
            leaf_ratio=np.array([leaf_ratio(r) for r in rec], dtype=float),
            obs_selectivity=field(lambda r: r.cross_obs_concentration),
            token_concentration=np.array(conc, dtype=float),
            token_ratio=np.array(ratio, dtype=float),
            depth=np.array(depth, dtype=float), step=np.array(step, dtype=float),
            position=np.array(position, dtype=float), step_group=np.array(step_group),
            drop_rate=field(lambda r: r.trajectory.confidence_drop_rate),
            dec_operator=np.array(operator, dtype=float),
            drop_sweep=tuple((eps, np.array([M.confidence_drop_rate(equation_confidence(trajectories[m][i]), eps)
                                             for i in range(len(equations))])) for eps in DROP_SWEEP),
            roles=roles.get(m) if roles else None,
            **causal_evidence(causal, m),
            **({} if readout is None else {k: getattr(readout[m], k) for k in READOUT_FIELDS}),
        )

    return F.Evidence(
        tier=np.array([TIERS.index(e.tier) for e in equations]),
        length=np.array(lengths),
        token_types=tuple(types),
        token_groups=np.array(groups),
        trained=model_evidence("trained"),
        control=model_evidence("control"),
    )


#: The findings' evidence from the knockouts, logit lens and path patching.
READOUT_FIELDS = ("knockout_cross", "knockout_self", "decision_sums", "indirect")


def _array(values) -> np.ndarray | None:
    """A shipped per-equation list (None: undefined) as floats, nan where undefined."""
    if values is None:
        return None
    return np.array([[nan_if_none(v) for v in row] if isinstance(row, list) else nan_if_none(row) for row in values],
                    dtype=float)


def causal_evidence(causal: CausalResults | None, model: str) -> dict:
    """The :class:`~physdocs.analysis.findings.ModelEvidence` fields the causal findings read,
    from the shipped artifact (all None without one). Where a statistic is shown on the causal
    page with its interval, the finding takes that estimate: one interval for one statistic."""
    if causal is None:
        return {}
    per = causal.per_equation[model]
    record = causal.models[model]

    def shown(name: str) -> tuple[float, float, float] | None:
        row = record.condition(name)
        if row is None or row.loss.value is None:
            return None
        return (row.loss.value, nan_if_none(row.loss.ci_low), nan_if_none(row.loss.ci_high))

    agreement = record.agreement
    return {
        "obs_blocked_loss": _array(per["observations blocked"]["loss"]),
        "obs_blocked_derived": _array(per["observations blocked"]["derived"]),
        "obs_blocked_loss_ci": shown("observations blocked"),
        "resample_loss": _array(per["observations resampled"]["loss"]),
        "resample_loss_ci": shown("observations resampled"),
        "head_loss": _array(per["heads"]["loss"]),
        "head_derived": _array(per["heads"]["derived"]),
        "head_agreement_ci": None if agreement is None else (
            nan_if_none(agreement.rho), nan_if_none(agreement.ci_low), nan_if_none(agreement.ci_high)),
    }


def leaf_ratio(record: ModelRecord) -> float:
    """Diffuser self-attention received by variables and constants, as a ratio to uniform."""
    rec = record.received_by_type["diffuser.self"]
    got = sum(rec.received.get(t, 0.0) for t in ("variable", "constant"))
    base = sum(rec.uniform.get(t, 0.0) for t in ("variable", "constant"))
    return got / base if base > 0 else float("nan")


#: The thresholds the smoothness finding is also shown at (a drop must exceed one to count).
DROP_SWEEP = (0.01, 0.05, 0.1, 0.2)


def equation_confidence(traj) -> np.ndarray:
    """``[step, position]`` confidence over the equation's own positions: BOS, EOS and the PAD
    after it are given from the start and never decoded, so they cannot drop."""
    return np.asarray(traj.confidence, dtype=float)[:, 1:max(traj.eos_position, 2)]


def decoded_depth_steps(traj) -> tuple[list[int], list[int]]:
    """Tree depth and resolution step of each position of the decoded canvas, BOS .. EOS."""
    final = list(traj.tokens)
    end = final.index("EOS") + 1 if "EOS" in final else len(final)
    seq = [t for t in final[:end]]
    body = M.tree_depths(seq[1:-1] if seq[-1] == "EOS" else seq[1:], ARITY)
    d = [-1, *body] + ([-1] if seq[-1] == "EOS" else [])
    st = M.resolution_steps(traj.trajectory_tokens, MASK_ID)[: len(d)].tolist()
    return d, st


def _depths(tokens: list[str]) -> list[int]:
    """Tree depth per canvas position (BOS/EOS/markers: -1), aligned with the tokens."""
    body = M.tree_depths(tokens[1:-1], ARITY)
    return [-1, *body, -1]
