"""Faithfulness of the attention and where the formula is decided, as typed records (torch-free).

:func:`physdocs.analysis.readout.readout_analysis` makes a :class:`Readout`; it is kept under
``Results.readout`` and read by the faithfulness and readout pages. Each number is a mean over
equations with its 95% bootstrap interval over equations (:class:`Estimate`), unless a field
says otherwise. Decoders are named as their modules are: ``"diffuser"`` and ``"ar_decoder"``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from physdocs.results import Record, nan_if_none

#: The decoders, as their modules are named in the model, and as the pages name them.
DECODERS = ("diffuser", "ar_decoder")
DECODER_LABELS = {"diffuser": "diffuser", "ar_decoder": "AR decoder"}
#: Token classes of the per-layer readout: the grammar's binary and unary merged.
READOUT_TYPES = ("operator", "variable", "constant", "special")
#: Self-attention key types of the knockouts; ``masked``: the diffuser's MASK positions.
KEY_TYPES = ("operator", "leaf", "special", "masked")
#: How the keys to knock out are chosen: the most attended, random ones, the least attended.
MODES = ("top", "random", "bottom")
#: Cross-attention knockout sizes (of the 50 observation keys); the faithfulness finding reads
#: K_CLAIM (a tenth of the observations). Self-attention loses one key per row: equations have
#: few tokens of each kind.
K_CROSS = (5, 20)
K_CLAIM = 5
K_SELF = 1
#: The point features the cross-attention weight is regressed on (each a within-equation rank in [0, 1]).
POINT_FEATURES = ("|y|", "extreme x", "leverage", "local slope")


def _many(cls) -> Callable[[Any], tuple]:
    return lambda xs: tuple(cls.from_json(x) for x in xs)


@dataclass(frozen=True)
class Estimate(Record):
    """A mean over ``n`` equations with its 95% bootstrap interval over equations."""

    value: float
    low: float
    high: float
    n: int

    _read = {"value": nan_if_none, "low": nan_if_none, "high": nan_if_none}


@dataclass(frozen=True)
class KnockoutRow(Record):
    """One decoder's attention block with ``k`` keys knocked out per row, in every layer, chosen
    three ways: the loss rise (nats per scored token) for each."""

    decoder: str
    block: str  # "cross_attn" (observation keys) or "self_attn" (token keys)
    k: int
    n_keys: float  # mean number of keys a row could lose
    top: Estimate
    random: Estimate
    bottom: Estimate
    weight: tuple[float, float, float]  # the mean weight a row lost, per mode (averaged over heads and layers)

    _read = {"top": Estimate.from_json, "random": Estimate.from_json, "bottom": Estimate.from_json, "weight": tuple}

    @property
    def ordered(self) -> bool:
        """Whether the point estimates fall in the order of the attention: top > random > bottom."""
        return self.top.value > self.random.value > self.bottom.value


@dataclass(frozen=True)
class KeyTypeRow(Record):
    """Self-attention, one key removed per row: the loss rise (nats) of the scored rows by the
    type of the key they lost, each row weighted by its share of lost keys of that type (over
    layers and heads); ``weight`` is that share summed, for each mode."""

    decoder: str
    key_type: str
    top: float
    random: float
    bottom: float
    weight: tuple[float, float, float]

    _read = {"top": nan_if_none, "random": nan_if_none, "bottom": nan_if_none, "weight": tuple}


@dataclass(frozen=True)
class Coefficient(Record):
    """Which observations cross-attention favours: the change of ln(weight / uniform) from the
    lowest to the highest point on ``feature``, other features held fixed, within equations."""

    decoder: str
    model: str  # "trained" or "control"
    feature: str
    value: float
    low: float
    high: float
    n: int

    _read = {"value": nan_if_none, "low": nan_if_none, "high": nan_if_none}


@dataclass(frozen=True)
class LensRow(Record):
    """The logit lens over one decoder's scored tokens of one type.

    ``correct[r]``: the share whose true token is the top readout ``r`` (0: the embedding;
    ``r``: after layer ``r``; the last is the model's output). ``decided[r]``: of the tokens the
    output gets right, the share from whose readout ``r`` on it stays on top. ``decision``: the
    mean of that readout, over the tokens the output gets right and the embedding alone does not.
    """

    decoder: str
    type: str
    n: int
    correct: tuple[float, ...]
    decided: tuple[float, ...]
    decision: Estimate

    _read = {"correct": tuple, "decided": tuple, "decision": Estimate.from_json}


@dataclass(frozen=True)
class PatchRow(Record):
    """Path patching of one layer (1-based) from a partner equation's memory: the loss rise
    (nats per scored token) when the layer's whole output, or the z or observation part of its
    cross-attention output, takes its value from the partner's run.

    ``*_direct``: patched into the final residual stream only (read straight through the final
    norm and unembedding); ``layer_total``: patched where it enters the next layer.
    ``layer_restored``: the denoising direction, the loss the partner's run loses (nats)
    when the layer's output takes the equation's own clean value, through the later layers.
    """

    decoder: str
    layer: int
    layer_direct: Estimate
    layer_total: Estimate
    z_direct: Estimate
    obs_direct: Estimate
    layer_restored: Estimate

    _read = {k: Estimate.from_json for k in ("layer_direct", "layer_total", "z_direct", "obs_direct",
                                             "layer_restored")}


@dataclass(frozen=True)
class PartsRow(Record):
    """The z and observation parts of every cross-attention layer patched at once (total effect,
    through the later layers), beside the partner's whole memory: loss rise in nats."""

    decoder: str
    z_total: Estimate
    obs_total: Estimate
    all_memory: Estimate

    _read = {k: Estimate.from_json for k in ("z_total", "obs_total", "all_memory")}


@dataclass(frozen=True)
class Readout(Record):
    """The faithfulness and readout analyses of the trained model (the control's numbers enter
    the findings). ``level``: the diffuser's share of masked equation positions; ``k_claim``:
    the cross-attention knockout size the faithfulness finding reads."""

    level: float
    n_equations: int
    k_claim: int
    knockouts: tuple[KnockoutRow, ...]
    key_types: tuple[KeyTypeRow, ...]
    favoured: tuple[Coefficient, ...]
    lens: tuple[LensRow, ...]
    patching: tuple[PatchRow, ...]
    parts: tuple[PartsRow, ...]

    _read = {
        "knockouts": _many(KnockoutRow), "key_types": _many(KeyTypeRow), "favoured": _many(Coefficient),
        "lens": _many(LensRow), "patching": _many(PatchRow), "parts": _many(PartsRow),
    }

    def lens_row(self, decoder: str, token_type: str) -> LensRow | None:
        return next((r for r in self.lens if r.decoder == decoder and r.type == token_type), None)

    def knockout(self, decoder: str, block: str, k: int) -> KnockoutRow | None:
        return next((r for r in self.knockouts if (r.decoder, r.block, r.k) == (decoder, block, k)), None)
