"""The causal interventions' records: what ``physdocs causal`` ships in ``physdocs/data/causal.json``.

:func:`physdocs.analysis.causal_artifact.compute_causal` makes a :class:`CausalResults`; the command
writes its JSON with the weights' SHA-256 and the benchmark's, and the report's analysis
reads it back (:func:`read_causal`), checked against the weights it analyses. Torch-free.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from physdocs.errors import InputError
from physdocs.results import Record
from physdocs.results.evaluation_rows import Rate


def _tuple_of(kind):
    return lambda rows: tuple(kind.from_json(r) for r in rows)


@dataclass(frozen=True)
class Effect(Record):
    """A mean over ``n`` equations (or pairs) with its 95% bootstrap CI over them."""

    value: float | None
    ci_low: float | None
    ci_high: float | None
    n: int


@dataclass(frozen=True)
class Behaviour(Record):
    """Derivations under an intervention against the intact model's, equation by equation.

    ``kept``: of the equations the intact model derives, those still derived; ``gained``: of
    the others, those now derived; each with its 95% Wilson interval. ``p_value``: the exact
    two-sided McNemar test of lost against gained (no effect: a changed equation is as likely
    to be gained as lost); ``p_holm``: adjusted over its family (the heads), where one.
    """

    kept: Rate
    gained: Rate
    p_value: float | None
    p_holm: float | None = None

    _read = {"kept": Rate.from_json, "gained": Rate.from_json}

    @property
    def lost(self) -> int:
        return self.kept.n - self.kept.k

    @property
    def net(self) -> int:
        """Derivations gained minus lost."""
        return self.gained.k - self.lost

    @property
    def changed(self) -> int:
        return self.lost + self.gained.k


@dataclass(frozen=True)
class Intervention(Record):
    """One intervention on one model: its loss increase and, where decoded, its behaviour;
    beside it the random perturbation of matched norm (same places, same size, random direction).

    ``displacement``: the root mean square norm of what the intervention changes in the heads'
    outputs (``hook_z``, per position and head), which the random perturbation matches. ``n``: equations it applies to (the resample needs a partner).
    """

    name: str
    n: int
    loss: Effect
    behaviour: Behaviour | None = None
    displacement: float | None = None
    random_loss: Effect | None = None
    random_behaviour: Behaviour | None = None

    _read = {"loss": Effect.from_json, "behaviour": Behaviour.from_json, "random_loss": Effect.from_json,
             "random_behaviour": Behaviour.from_json}


@dataclass(frozen=True)
class HeadAblation(Record):
    """One diffuser head (``component`` "self" or "cross", numbered from 1), its output replaced by
    its mean: :class:`Intervention` numbers plus the loss's sign-flip p-value, Holm-adjusted over
    the heads."""

    component: str
    layer: int
    head: int
    ablation: Intervention
    loss_p: float | None = None
    loss_p_holm: float | None = None

    _read = {"ablation": Intervention.from_json}

    @property
    def label(self) -> str:
        return f"{self.component} L{self.layer}H{self.head}"


@dataclass(frozen=True)
class PatchRow(Record):
    """One layer's cross-attention output (``head`` None) or one head's, patched from equation B's run.

    ``move``: how far A's prediction moves toward B's tokens (nats, mean over pairs);
    ``share``: that move over the move B's whole memory causes (None where not computed).
    """

    layer: int
    move: Effect
    share: Effect | None = None
    head: int | None = None

    _read = {"move": Effect.from_json, "share": Effect.from_json}


@dataclass(frozen=True)
class Patching(Record):
    """Activation patching of the cross-attention over ``n_pairs`` equation pairs at noise ``level``;
    ``total_move``: the move B's whole memory causes (nats)."""

    n_pairs: int
    level: float
    total_move: Effect | None
    layers: tuple[PatchRow, ...] = ()
    heads: tuple[PatchRow, ...] = ()

    _read = {"total_move": Effect.from_json, "layers": _tuple_of(PatchRow), "heads": _tuple_of(PatchRow)}

    @cached_property
    def _layers(self) -> dict[int, PatchRow]:
        return {r.layer: r for r in self.layers}

    def layer_row(self, layer: int) -> PatchRow | None:
        """One layer's row, or None when it was not patched."""
        return self._layers.get(layer)


@dataclass(frozen=True)
class Agreement(Record):
    """Across heads, Spearman rho of the loss increase against the share of derivations lost
    (lost minus gained, over all equations), with its 95% CI over equations; ``changed``: heads
    whose ablation changes at least one derivation, of ``n_heads``."""

    rho: float | None
    ci_low: float | None
    ci_high: float | None
    n_heads: int
    changed: int


@dataclass(frozen=True)
class CausalModel(Record):
    """The interventions on one model. ``derived``: the intact model's derivations (of all
    equations); ``reseed``: the same decode re-seeded (decode instability), None when not decoded."""

    derived: Rate
    cross: tuple[Intervention, ...]
    heads: tuple[HeadAblation, ...]
    patching: Patching
    reseed: Behaviour | None = None
    agreement: Agreement | None = None

    _read = {"derived": Rate.from_json, "cross": _tuple_of(Intervention), "heads": _tuple_of(HeadAblation),
             "patching": Patching.from_json, "reseed": Behaviour.from_json, "agreement": Agreement.from_json}

    @cached_property
    def _heads(self) -> dict[tuple[str, int, int], HeadAblation]:
        return {(r.component, r.layer, r.head): r for r in self.heads}

    def head(self, component: str, layer: int, head: int) -> HeadAblation | None:
        """One head's ablation (numbered from 1), or None when it was not ablated."""
        return self._heads.get((component, layer, head))

    def condition(self, name: str) -> Intervention | None:
        """One cross-attention condition by name, or None."""
        return next((c for c in self.cross if c.name == name), None)


@dataclass(frozen=True)
class Decode(Record):
    """How behaviour is decoded: the evaluation's sampler with fewer canvases and no refinement.

    ``argmax`` canvases at the likeliest lengths, ``samples`` more at lengths drawn from the
    length head, ``steps`` refinement steps; the best candidate by R^2 on the support points
    (constants fitted with ``restarts`` BFGS starts) counts as derived at held-out R^2 >
    ``r2_threshold``.
    """

    argmax: int
    samples: int
    steps: int
    restarts: int
    r2_threshold: float


@dataclass(frozen=True)
class CausalMeta(Record):
    """Where the results come from: the weights and benchmark (names and SHA-256), the
    equations in order, the seed, the command and its seconds and cores."""

    weights: str
    weights_sha256: str
    benchmark_sha256: str
    equations: tuple[str, ...]
    seed: int
    command: str
    seconds: float = 0.0
    threads: int = 1

    _read = {"equations": tuple}


@dataclass(frozen=True)
class CausalResults(Record):
    """The causal interventions on the trained model and the random-initialised control.

    ``per_equation``: ``{model: {name: [E] or [E, heads] numbers}}``, what the findings are
    computed from (aligned with ``meta.equations``; None where undefined).
    """

    meta: CausalMeta
    levels: tuple[float, ...]
    decode: Decode
    models: Mapping[str, CausalModel]
    per_equation: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    _read = {"meta": CausalMeta.from_json, "levels": tuple, "decode": Decode.from_json,
             "models": lambda d: {m: CausalModel.from_json(r) for m, r in d.items()}}


class CausalArtifactError(InputError):
    """A causal artifact that cannot be shown: unreadable, or made for other weights, another
    benchmark or other equations; the message names the command that makes the right one."""


def causal_command(weights: str | None, path: str, benchmark: str | None = None) -> str:
    """The command that computes the artifact for ``weights`` (None: the shipped ones) into ``path``."""
    parts = ["physdocs causal"]
    if weights:
        parts.append(f"--weights {weights}")
    if benchmark:
        parts.append(f"--equations {benchmark}")
    return " ".join([*parts, f"--json {path}"])


def read_causal(path: Path, *, weights_sha256: str, benchmark_sha256: str, equations: Sequence[str],
                weights: str | None = None, benchmark: str | None = None) -> CausalResults:
    """The artifact at ``path``, checked to be for these weights, benchmark and equations.

    Raises :class:`CausalArtifactError` (one line, naming the command to run) otherwise: the
    report never shows interventions made on other weights.
    """
    fix = f"run `{causal_command(weights, str(path), benchmark)}`"
    try:
        result = CausalResults.from_json(json.loads(Path(path).read_text(encoding="utf-8")))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as exc:
        raise CausalArtifactError(f"{path} is not a causal artifact ({type(exc).__name__}: {exc}): {fix}") from exc
    meta = result.meta
    for what, theirs, ours in (("weights", meta.weights_sha256, weights_sha256),
                               ("benchmark", meta.benchmark_sha256, benchmark_sha256)):
        if theirs != ours:
            raise CausalArtifactError(f"{Path(path).name} was computed for other {what} (SHA-256 {theirs[:12]}…, "
                                      f"the analysis reads {ours[:12]}…): {fix}")
    if tuple(meta.equations) != tuple(equations):
        raise CausalArtifactError(f"{Path(path).name} covers {len(meta.equations)} equations, the analysis "
                                  f"{len(equations)} others: {fix} for the same equations")
    return result
