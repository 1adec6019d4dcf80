"""The analysis results as typed records: what ``run_analysis`` returns and the report reads.

:class:`Results` is one analysis run; its JSON (``Results.to_json()``) is the cached
``results.json``, with the keys it has always had, so ``Results.from_json(d).to_json() == d``
and an entry written before these records existed still reads. The report parses it once
(:mod:`physdocs.report.build`) and reads attributes from then on.

The evaluation the run was split by is the evaluation's own record
(:class:`physdocs.results.evaluation.Evaluation`). JSON-shaped parts that are another
module's business stay as they are written: the checkpoint's metadata, the analysis config
and the training log.
Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields
from functools import cached_property
from typing import Any

from physdocs.analysis.schema import ClaimResult, SplitRow
from physdocs.results import Record, jsonable
from physdocs.results.causal import CausalResults
from physdocs.results.equations import EquationRecord, HeadGrid, tuples
from physdocs.results.evaluation import Evaluation
from physdocs.results.readout import Readout

# ----------------------------------------------------------------- tier tables


@dataclass(frozen=True)
class EntropyRow(Record):
    """Mean row entropy of one component and model over a tier, with 95% bootstrap CIs.

    ``model`` is ``"trained"``, ``"control"`` or ``"uniform"`` (uniform attention over the same keys).
    """

    tier: str
    model: str
    component: str
    n: int
    nats: float | None
    normalised: float | None
    nats_ci: tuple[float | None, float | None]
    normalised_ci: tuple[float | None, float | None]

    _read = {"nats_ci": tuple, "normalised_ci": tuple}



@dataclass(frozen=True)
class TokenTypeRow(Record):
    """Self-attention one token type receives over a tier: mean share, uniform share, their ratio."""

    tier: str
    model: str
    component: str
    type: str
    received: float | None
    uniform_share: float | None
    ratio: float | None


@dataclass(frozen=True)
class KeysRow(Record):
    """Over a tier: mass on the PAD tail (diffuser self-attention), on z and over observations (cross)."""

    tier: str
    model: str
    n: int
    pad_mass: float | None
    pad_mass_last_layer: float | None
    z_mass: float | None
    obs_concentration: float | None


@dataclass(frozen=True)
class TierTables:
    """The per-tier tables: entropy per component, attention by token type, key masses.

    Its queries look a row up by its keys (None: no such row) through indexes built on first use.
    """

    entropy: tuple[EntropyRow, ...]
    token_type: tuple[TokenTypeRow, ...]
    keys: tuple[KeysRow, ...]

    @cached_property
    def _entropy(self) -> dict[tuple[str, str, str], EntropyRow]:
        return {(r.component, r.tier, r.model): r for r in self.entropy}

    @cached_property
    def _token_type(self) -> dict[tuple[str, str, str, str], TokenTypeRow]:
        return {(r.component, r.tier, r.type, r.model): r for r in self.token_type}

    def entropy_row(self, component: str, tier: str, model: str) -> EntropyRow | None:
        """One component's entropy over one tier for one model (or "uniform")."""
        return self._entropy.get((component, tier, model))

    def token_type_row(self, component: str, tier: str, token_type: str, model: str) -> TokenTypeRow | None:
        """The attention one token type receives in one component over one tier, for one model."""
        return self._token_type.get((component, tier, token_type, model))

    def to_json(self) -> dict:
        return {"entropy": [r.to_json() for r in self.entropy], "token_type": [r.to_json() for r in self.token_type],
                "keys": [r.to_json() for r in self.keys]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> TierTables:
        return cls(tuple(EntropyRow.from_json(r) for r in d["entropy"]),
                   tuple(TokenTypeRow.from_json(r) for r in d["token_type"]),
                   tuple(KeysRow.from_json(r) for r in d["keys"]))

# ----------------------------------------------------------------- heads


@dataclass(frozen=True)
class HeadImportance:
    """Loss increase when one head is zeroed, ``[layer][head]``, for each self-attention component."""

    diffuser_self: HeadGrid
    decoder_self: HeadGrid

    def to_json(self) -> dict:
        return jsonable({"diffuser.self": self.diffuser_self, "decoder.self": self.decoder_self})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HeadImportance:
        return cls(tuples(d["diffuser.self"]), tuples(d["decoder.self"]))


@dataclass(frozen=True)
class HeadRoles:
    """Per diffuser head, the loss increase on masked tokens of each type: ``increase[layer][head][type]``."""

    types: tuple[str, ...]
    increase: HeadGrid

    def to_json(self) -> dict:
        return {"types": list(self.types), "increase": jsonable(self.increase)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HeadRoles:
        return cls(tuple(d["types"]), tuples(d["increase"]))


@dataclass(frozen=True)
class SingleSlot(Record):
    """The seed's one-slot memory re-run: how far any cross-attention weight is from 1."""

    max_abs_deviation_from_one: float
    n_maps: int
    n_keys: int


@dataclass(frozen=True)
class Meta:
    """What the run analysed and how: weights, seed, timings, the config, the capture's note.

    ``trained_meta`` (the checkpoint's sidecar) and ``config``
    (:meth:`physdocs.analysis.schema.AnalysisConfig.to_dict`) are kept as written.
    """

    weights: str
    weights_sha256: str
    seed: int
    n_equations: int
    seconds: Mapping[str, float]
    trained_meta: Mapping[str, Any]
    config: Mapping[str, Any]
    capture: str
    seed_entropy_by_tier: Mapping[str, float]
    # The trained model's SystemConfig as a dict (the home page draws it); empty when not recorded.
    model_config: Mapping[str, Any] = field(default_factory=dict)

    def seed_entropy(self, tier: str) -> float | None:
        """The seed's reported diffuser self-attention entropy over ``tier``, or None when it has none."""
        return self.seed_entropy_by_tier.get(tier)

    def to_json(self) -> dict:
        return jsonable({f.name: getattr(self, f.name) for f in fields(self)})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Meta:
        return cls(**d)


#: The training log's quantities in the reader's words: the training figures' legends and the
#: metadata table (``last_val_ar_loss`` reads "validation, last: AR decoder loss ...").
LOG_LABELS: dict[str, str] = {
    "ar_loss": "AR decoder loss (nats per token)",
    "ar_loss_shuffled": "AR decoder loss, another equation's observations",
    "ar_gap": "AR decoder loss gap from the observations (nats)",
    "ar_token_acc": "AR decoder next-token accuracy",
    "ar_seq_acc": "AR decoder whole-sequence accuracy",
    "diff_loss": "PhysDiffuser loss (nats per masked token)",
    "diff_real_loss": "PhysDiffuser loss on masked equation tokens",
    "diff_real_loss_shuffled": "PhysDiffuser loss on masked equation tokens, another equation's observations",
    "diff_gap": "PhysDiffuser loss gap from the observations (nats)",
    "diff_token_acc": "PhysDiffuser accuracy, masked tokens",
    "diff_real_token_acc": "PhysDiffuser accuracy, masked equation tokens",
    "diff_fix_acc": "PhysDiffuser accuracy at putting a wrong token right",
    "length_loss": "length head loss (nats)",
    "length_acc": "length head accuracy",
    "lr": "learning rate",
}


@dataclass(frozen=True)
class LogRecord:
    """One line of the training log as the report reads it (a key the line lacks is None).

    The log itself stays as training wrote it (``Results.training_log``, which the plots take);
    this is the typed view of the keys the report's sentences and figure choice read.
    """

    kind: str | None = None  # "train" or "val"
    step: int | None = None
    elapsed: float | None = None  # seconds since training started
    samples_per_s: float | None = None
    ar_token_acc: float | None = None
    diff_real_token_acc: float | None = None
    ar_gap: float | None = None  # loss increase with another equation's observations (nats)
    diff_gap: float | None = None
    ar_loss_shuffled: float | None = None
    leg: str | None = None  # the leg of the run that wrote it (None: the run's first leg)

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> LogRecord:
        return cls(**{f.name: d[f.name] for f in fields(cls) if f.name in d})


#: The name of a run's first leg (its records carry no ``leg``: later legs are marked when shipped).
FIRST_LEG = "first"


@dataclass(frozen=True)
class Leg:
    """One leg of the training run: consecutive log lines with one ``leg`` mark.

    A leg starts from the previous leg's weights with a fresh optimiser and schedule
    (``physdocs train --init``); steps and seconds count on across legs, so the leg ran from
    step ``start`` (the previous leg's end; 0 for the first) to ``end``, for ``minutes``.
    """

    name: str
    start: int
    end: int
    minutes: float | None

    @property
    def steps(self) -> int:
        return self.end - self.start


def log_legs(records: Sequence[Mapping[str, Any]]) -> tuple[Leg, ...]:
    """The legs of a training log (raw lines, in the order written), in order."""
    out: list[Leg] = []
    groups: list[tuple[str, list[Mapping[str, Any]]]] = []
    for r in records:
        if r.get("step") is None:
            continue
        name = r.get("leg") or FIRST_LEG
        if not groups or groups[-1][0] != name:
            groups.append((name, []))
        groups[-1][1].append(r)
    step, second = 0, 0.0  # where the previous leg ended: this one counts on from there
    for name, rows in groups:
        seconds = [r["elapsed"] for r in rows if r.get("elapsed") is not None]
        last = max(int(r["step"]) for r in rows)
        out.append(Leg(name, step, last, (max(seconds) - second) / 60 if seconds else None))
        step, second = last, max(seconds) if seconds else second
    return tuple(out)


@dataclass(frozen=True)
class Results:
    """One analysis run, trained model beside the random-initialised control.

    ``evaluation`` is the evaluation the run was split by (or the build attached); ``split``
    is None without one. ``causal`` (the shipped interventions, without their per-equation
    arrays) is None when the build gave none for these weights. ``head_importance`` and
    ``head_roles`` are empty when the config turned head importance off.
    """

    meta: Meta
    equations: tuple[EquationRecord, ...]
    tiers: TierTables
    claims: tuple[ClaimResult, ...]
    head_importance: Mapping[str, HeadImportance]
    head_roles: Mapping[str, HeadRoles]
    inducing_coverage: Mapping[str, float]
    single_slot: SingleSlot
    evaluation: Evaluation | None
    split: tuple[SplitRow, ...] | None
    causal: CausalResults | None
    training_log: tuple[Mapping[str, Any], ...]
    readout: Readout | None = None  # knockouts, logit lens, path patching; None: not run

    def equation(self, eq_id: str) -> EquationRecord | None:
        """The record of ``eq_id``, or None when the run did not analyse it."""
        return next((eq for eq in self.equations if eq.id == eq_id), None)

    def head_roles_of(self, model: str) -> HeadRoles | None:
        """One model's head roles, or None when the run did not measure them."""
        return self.head_roles.get(model)

    @cached_property
    def log(self) -> tuple[LogRecord, ...]:
        """The training log's lines as :class:`LogRecord`, parsed once."""
        return tuple(LogRecord.from_json(r) for r in self.training_log)

    def to_json(self) -> dict:
        return {
            "meta": self.meta.to_json(),
            "equations": [eq.to_json() for eq in self.equations],
            "tiers": self.tiers.to_json(),
            "claims": [c.to_json() for c in self.claims],
            "head_importance": {m: h.to_json() for m, h in self.head_importance.items()},
            "head_roles": {m: r.to_json() for m, r in self.head_roles.items()},
            "inducing_coverage": jsonable(dict(self.inducing_coverage)),
            "single_slot": self.single_slot.to_json(),
            "evaluation": None if self.evaluation is None else self.evaluation.to_json(),
            "split": None if self.split is None else [r.to_json() for r in self.split],
            "causal": None if self.causal is None else self.causal.to_json(),
            "training_log": jsonable(list(self.training_log)),
            "readout": None if self.readout is None else self.readout.to_json(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Results:
        return cls(
            meta=Meta.from_json(d["meta"]),
            equations=tuple(EquationRecord.from_json(eq) for eq in d["equations"]),
            tiers=TierTables.from_json(d["tiers"]),
            claims=tuple(ClaimResult.from_json(c) for c in d["claims"]),
            head_importance={m: HeadImportance.from_json(h) for m, h in d["head_importance"].items()},
            head_roles={m: HeadRoles.from_json(r) for m, r in d["head_roles"].items()},
            inducing_coverage=dict(d["inducing_coverage"]),
            single_slot=SingleSlot.from_json(d["single_slot"]),
            evaluation=None if d["evaluation"] is None else Evaluation.from_json(d["evaluation"]),
            split=None if d["split"] is None else tuple(SplitRow.from_json(r) for r in d["split"]),
            causal=None if d["causal"] is None else CausalResults.from_json(d["causal"]),
            training_log=tuple(d["training_log"]),
            readout=None if d.get("readout") is None else Readout.from_json(d["readout"]),
        )

