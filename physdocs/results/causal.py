"""The causal analyses' records: cross-attention ablation, activation patching, head ablation.

:func:`physdocs.analysis.causal.causal_results` makes them as dicts (with per-equation arrays
for the findings); :class:`CausalResults` is what the results keep of them, under
``Results.causal``, in the same JSON shape. Torch-free.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from functools import cached_property
from typing import Any

from physdocs.results import Record, jsonable

#: Below this share of its derived equations kept, a zeroed head is one the model needs.
NEEDED_KEPT = 0.5


@dataclass(frozen=True)
class Effect(Record):
    """An intervention's mean effect with its 95% bootstrap CI over ``n`` equations (or pairs)."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


@dataclass(frozen=True)
class CrossCondition:
    """Cross-attention keys blocked in every layer: the loss increase and, when decoded, the derived share.

    ``derived`` and ``success`` are None when the model's decodes were not run (it derives nothing intact).
    """

    condition: str
    loss: Effect
    derived_clean: float
    derived: float | None = None
    success: Effect | None = None

    def to_json(self) -> dict:
        out = {"condition": self.condition, "loss": self.loss.to_json(), "derived_clean": jsonable(self.derived_clean)}
        if self.success is not None:
            out |= {"derived": jsonable(self.derived), "success": self.success.to_json()}
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CrossCondition:
        success = d.get("success")
        return cls(d["condition"], Effect.from_json(d["loss"]), d["derived_clean"], d.get("derived"),
                   None if success is None else Effect.from_json(success))


@dataclass(frozen=True)
class PatchShare:
    """Share of the move toward B's tokens carried by one layer's cross-attention (``head`` None) or one head's."""

    layer: int
    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int
    head: int | None = None

    def to_json(self) -> dict:
        out = jsonable(asdict(self))
        if self.head is None:
            del out["head"]
        return out

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> PatchShare:
        return cls(**d)


@dataclass(frozen=True)
class Patching:
    """Activation patching of the cross-attention over ``n_pairs`` equation pairs at noise ``level``."""

    n_pairs: int
    level: float
    total_move: float | None
    layers: tuple[PatchShare, ...]
    heads: tuple[PatchShare, ...]

    @cached_property
    def _layers(self) -> dict[int, PatchShare]:
        return {r.layer: r for r in self.layers}

    def layer_share(self, layer: int) -> PatchShare | None:
        """The share one layer's cross-attention carries, or None when it was not patched."""
        return self._layers.get(layer)

    def to_json(self) -> dict:
        return {"n_pairs": self.n_pairs, "level": self.level, "total_move": jsonable(self.total_move),
                "layers": [r.to_json() for r in self.layers], "heads": [r.to_json() for r in self.heads]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Patching:
        return cls(d["n_pairs"], d["level"], d["total_move"], tuple(PatchShare.from_json(r) for r in d["layers"]),
                   tuple(PatchShare.from_json(r) for r in d["heads"]))


@dataclass(frozen=True)
class Ablation:
    """One way of removing a head: the loss increase and, when decoded, the share of derivations kept."""

    loss: Effect
    kept: Effect | None = None

    def to_json(self) -> dict:
        return {"loss": self.loss.to_json()} | ({} if self.kept is None else {"kept": self.kept.to_json()})

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> Ablation:
        kept = d.get("kept")
        return cls(Effect.from_json(d["loss"]), None if kept is None else Effect.from_json(kept))


@dataclass(frozen=True)
class HeadAblation:
    """One diffuser self-attention head (numbered from 1), zeroed and mean-ablated."""

    layer: int
    head: int
    zero: Ablation
    mean: Ablation

    @property
    def needed(self) -> bool:
        """Zeroed, it takes away at least half of the derivations (:data:`NEEDED_KEPT`)."""
        kept = self.zero.kept
        return kept is not None and kept.value is not None and kept.value < NEEDED_KEPT

    def to_json(self) -> dict:
        return {"layer": self.layer, "head": self.head, "zero": self.zero.to_json(), "mean": self.mean.to_json()}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> HeadAblation:
        return cls(d["layer"], d["head"], Ablation.from_json(d["zero"]), Ablation.from_json(d["mean"]))


@dataclass(frozen=True)
class CausalModel:
    """The three interventions on one model; ``derived_clean`` of ``n_equations`` are derived intact."""

    derived_clean: int
    n_equations: int
    cross: tuple[CrossCondition, ...]
    patching: Patching
    heads: tuple[HeadAblation, ...]

    @cached_property
    def _heads(self) -> dict[tuple[int, int], HeadAblation]:
        return {(r.layer, r.head): r for r in self.heads}

    def head(self, layer: int, head: int) -> HeadAblation | None:
        """The ablation of one head (numbered from 1), or None when it was not ablated."""
        return self._heads.get((layer, head))

    def to_json(self) -> dict:
        return {"derived_clean": self.derived_clean, "n_equations": self.n_equations,
                "cross": [c.to_json() for c in self.cross], "patching": self.patching.to_json(),
                "heads": [h.to_json() for h in self.heads]}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CausalModel:
        return cls(d["derived_clean"], d["n_equations"], tuple(CrossCondition.from_json(c) for c in d["cross"]),
                   Patching.from_json(d["patching"]), tuple(HeadAblation.from_json(h) for h in d["heads"]))


@dataclass(frozen=True)
class CausalResults:
    """:func:`physdocs.analysis.causal.causal_results` without its per-equation arrays (those feed
    the findings only): the noise ``levels``, the decode's ``steps``, a :class:`CausalModel` per model."""

    levels: tuple[float, ...]
    steps: int
    models: Mapping[str, CausalModel]

    def to_json(self) -> dict:
        return {"levels": list(self.levels), "steps": self.steps,
                "models": {m: r.to_json() for m, r in self.models.items()}}

    @classmethod
    def from_json(cls, d: Mapping[str, Any]) -> CausalResults:
        return cls(tuple(d["levels"]), d["steps"], {m: CausalModel.from_json(r) for m, r in d["models"].items()})
