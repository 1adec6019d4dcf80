"""The analysis's per-equation records: what each model's attention does on one equation.

Part of :class:`physdocs.results.analysis.Results` (its ``equations``); the JSON keeps the
keys ``run_analysis`` has always written. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, fields
from typing import Any

from physdocs.benchmark import Variable
from physdocs.results import Record, jsonable
from physdocs.trajectory import TrajectoryStats

#: Per head, ``[layer][head]`` (or deeper: ``[layer][head][type]``): numbers or None.
HeadGrid = tuple[Any, ...]


def tuples(values: Any) -> Any:
    """Nested lists (or arrays' ``tolist()``) as nested tuples: a record's fields do not change."""
    return tuple(tuples(v) for v in values) if isinstance(values, list | tuple) else values


@dataclass(frozen=True)
class Entropy(Record):
    """One component's mean row entropy over an equation, in nats and as a share of the uniform's."""

    nats: float | None
    normalised: float | None


@dataclass(frozen=True)
class ReceivedByType:
    """Self-attention each token type receives (shares summing to 1), its uniform share, their ratio."""

    received: Mapping[str, float]
    uniform: Mapping[str, float]
    ratio: Mapping[str, float]

    def to_json(self) -> dict:
        return jsonable({"received": dict(self.received), "uniform": dict(self.uniform), "ratio": dict(self.ratio)})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ReceivedByType:
        return cls(dict(d["received"]), dict(d["uniform"]), dict(d["ratio"]))


@dataclass(frozen=True)
class PadMass(Record):
    """Mass the diffuser's real-token rows put on the PAD tail: all layers, and the last."""

    mean: float | None
    last_layer: float | None


@dataclass(frozen=True)
class Trajectory:
    """One argmax diffusion decode: the canvas and confidence after each step (row 0 the start).

    ``stats`` is what its steps were spent on (:func:`physdocs.trajectory.trajectory_stats`);
    its fields sit at the top level of the JSON.
    """

    tokens: tuple[tuple[str, ...], ...]
    confidence: tuple[tuple[float | None, ...], ...]
    final: tuple[str, ...]
    flicker_rate: float | None
    stats: TrajectoryStats
    confidence_drop_rate: float | None
    resolution_steps: tuple[int, ...]

    def to_json(self) -> dict:
        return {"tokens": [list(r) for r in self.tokens], "confidence": jsonable(self.confidence),
                "final": list(self.final), "flicker_rate": jsonable(self.flicker_rate), **self.stats.to_json(),
                "confidence_drop_rate": jsonable(self.confidence_drop_rate),
                "resolution_steps": list(self.resolution_steps)}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Trajectory:
        return cls(tuples(d["tokens"]), tuples(d["confidence"]), tuple(d["final"]), d["flicker_rate"],
                   TrajectoryStats(**{f.name: d[f.name] for f in fields(TrajectoryStats)}),
                   d["confidence_drop_rate"], tuple(d["resolution_steps"]))


@dataclass(frozen=True)
class ModelRecord:
    """What one model's attention does on one equation (:func:`physdocs.analysis.records.model_record`).

    ``entropy`` and ``head_entropy`` (``[layer][head]``, normalised) per component id;
    ``received_by_type`` for the two self-attention components.
    """

    entropy: Mapping[str, Entropy]
    head_entropy: Mapping[str, HeadGrid]
    received_by_type: Mapping[str, ReceivedByType]
    pad_mass: PadMass
    cross_z_mass: float | None
    cross_obs_concentration: float | None
    inducing_specialisation: float | None
    inducing_coverage: float | None
    trajectory: Trajectory

    def entropy_of(self, component: str) -> Entropy | None:
        """One component's entropy, or None when the model has no such component."""
        return self.entropy.get(component)

    def to_json(self) -> dict:
        return {
            "entropy": {c: e.to_json() for c, e in self.entropy.items()},
            "head_entropy": {c: jsonable(g) for c, g in self.head_entropy.items()},
            "received_by_type": {c: r.to_json() for c, r in self.received_by_type.items()},
            "pad_mass": self.pad_mass.to_json(),
            **jsonable({"cross_z_mass": self.cross_z_mass, "cross_obs_concentration": self.cross_obs_concentration,
                        "inducing_specialisation": self.inducing_specialisation,
                        "inducing_coverage": self.inducing_coverage}),
            "trajectory": self.trajectory.to_json(),
        }

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> ModelRecord:
        return cls(
            entropy={c: Entropy.from_json(e) for c, e in d["entropy"].items()},
            head_entropy={c: tuples(g) for c, g in d["head_entropy"].items()},
            received_by_type={c: ReceivedByType.from_json(r) for c, r in d["received_by_type"].items()},
            pad_mass=PadMass.from_json(d["pad_mass"]),
            cross_z_mass=d["cross_z_mass"],
            cross_obs_concentration=d["cross_obs_concentration"],
            inducing_specialisation=d["inducing_specialisation"],
            inducing_coverage=d["inducing_coverage"],
            trajectory=Trajectory.from_json(d["trajectory"]),
        )


@dataclass(frozen=True)
class EquationRecord:
    """One benchmark equation as analysed: its definition, and a :class:`ModelRecord` per model.

    It carries its variables, so the report need not read the benchmark file again.
    """

    id: str
    name: str
    tier: str
    output: str
    formula: str
    latex: str
    tokens: tuple[str, ...]
    token_types: tuple[str, ...]
    variables: tuple[Variable, ...]
    depths: tuple[int, ...]
    models: Mapping[str, ModelRecord]

    def to_json(self) -> dict:
        return {"id": self.id, "name": self.name, "tier": self.tier, "output": self.output, "formula": self.formula,
                "latex": self.latex, "tokens": list(self.tokens), "token_types": list(self.token_types),
                "variables": [jsonable(asdict(v)) for v in self.variables], "depths": list(self.depths),
                "models": {m: r.to_json() for m, r in self.models.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> EquationRecord:
        return cls(d["id"], d["name"], d["tier"], d["output"], d["formula"], d["latex"], tuple(d["tokens"]),
                   tuple(d["token_types"]), tuple(Variable(**v) for v in d["variables"]), tuple(d["depths"]),
                   {m: ModelRecord.from_json(r) for m, r in d["models"].items()})
