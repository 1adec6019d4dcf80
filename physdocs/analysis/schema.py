"""What the analysis produces and the report reads, declared once; torch-free.

* :data:`COMPONENTS` -- the nine attention components, each with its id, the hook-name
  pattern it is captured from, its kind, its labels and its axis names. The analysis
  captures from ``hook``; the pages, figures and the explorer take their labels from here.
* :class:`AnalysisConfig` -- the typed configuration of one analysis run.

The report imports this module, never :mod:`physdocs.analysis.run` (which needs torch),
except to run an analysis that is not cached.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

from physdocs.constants import DEFAULT_SEED
from physdocs.results import jsonable

MODELS = ("trained", "control")
#: The models, and uniform attention over the same visible keys (every statistic's reference),
#: in the reader's words: the figures' legends and titles.
MODEL_LABELS: dict[str, str] = {"trained": "trained model", "control": "random-initialised control",
                                "uniform": "uniform attention"}
TOKEN_TYPES = ("binary", "unary", "variable", "constant", "special")
#: The types the findings call operators, and the name of the two taken together.
OPERATOR_TYPES = ("binary", "unary")
OPERATOR = "operator"
#: Token types (and the operators together, MASK and PAD) in the reader's words: legends and tables.
TYPE_LABELS: dict[str, str] = {
    "binary": "binary operator",
    "unary": "unary operator",
    OPERATOR: "operators (binary and unary together)",
    "variable": "variable",
    "constant": "constant",
    "special": "special (BOS, EOS, STEP)",
    "mask": "MASK",
    "pad": "PAD",
}


@dataclass(frozen=True)
class Component:
    """One attention component of the system.

    ``hook``: the hook-point name, with ``{layer}`` for per-layer components (numbered from
    0, as in the module tree); ``kind``: ``"encoder"``, ``"self"`` or ``"cross"``; ``name``:
    the report's label; ``explorer``: the explorer's kind and label; ``query`` / ``key``:
    what the rows and columns of its map are.
    """

    id: str
    hook: str
    kind: str
    name: str
    explorer_kind: str
    explorer_label: str
    query: str
    key: str

    @property
    def layered(self) -> bool:
        return "{layer}" in self.hook

    def hook_name(self, layer: int = 0) -> str:
        return self.hook.format(layer=layer)


_OBS, _IND, _TOK, _MEM = "observations", "inducing points", "tokens", "memory (observations, then z)"
COMPONENTS: tuple[Component, ...] = (
    Component("encoder.isab1.mab1", "encoder.isabs.0.mab1.attn.hook_pattern", "encoder",
              "encoder ISAB 1, MAB1 (inducing points ← observations)", "isab-mab1",
              "Encoder ISAB 1, MAB1 (inducing points \u2190 observations)", _IND, _OBS),
    Component("encoder.isab1.mab2", "encoder.isabs.0.mab2.attn.hook_pattern", "encoder",
              "encoder ISAB 1, MAB2 (observations ← inducing points)", "isab-mab2",
              "Encoder ISAB 1, MAB2 (observations \u2190 inducing points)", _OBS, _IND),
    Component("encoder.isab2.mab1", "encoder.isabs.1.mab1.attn.hook_pattern", "encoder",
              "encoder ISAB 2, MAB1 (inducing points ← observations)", "isab-mab1",
              "Encoder ISAB 2, MAB1 (inducing points \u2190 observations)", _IND, _OBS),
    Component("encoder.isab2.mab2", "encoder.isabs.1.mab2.attn.hook_pattern", "encoder",
              "encoder ISAB 2, MAB2 (observations ← inducing points)", "isab-mab2",
              "Encoder ISAB 2, MAB2 (observations \u2190 inducing points)", _OBS, _IND),
    Component("encoder.pma", "encoder.pma.mab.attn.hook_pattern", "encoder",
              "encoder PMA (seed ← observations)", "pma", "Encoder PMA (seed \u2190 observations)", "seed", _OBS),
    Component("diffuser.self", "diffuser.layers.{layer}.self_attn.hook_pattern", "self",
              "diffuser self-attention", "self", "Diffuser self-attention (tokens \u2190 tokens)", _TOK, _TOK),
    Component("diffuser.cross", "diffuser.layers.{layer}.cross_attn.hook_pattern", "cross",
              "diffuser cross-attention", "cross", "Diffuser cross-attention (tokens \u2190 memory)", _TOK, _MEM),
    Component("decoder.self", "ar_decoder.layers.{layer}.self_attn.hook_pattern", "self",
              "AR decoder causal self-attention", "self",
              "AR decoder causal self-attention (tokens \u2190 earlier tokens)", _TOK, _TOK),
    Component("decoder.cross", "ar_decoder.layers.{layer}.cross_attn.hook_pattern", "cross",
              "AR decoder cross-attention", "cross", "AR decoder cross-attention (tokens \u2190 memory)", _TOK, _MEM),
)
BY_ID: dict[str, Component] = {c.id: c for c in COMPONENTS}
COMPONENT_IDS: tuple[str, ...] = tuple(BY_ID)


def component(component_id: str) -> Component:
    """The declared component; a ``KeyError`` names the known ids."""
    try:
        return BY_ID[component_id]
    except KeyError:
        raise KeyError(f"no component {component_id!r}; known: {', '.join(COMPONENT_IDS)}") from None


# ----------------------------------------------------------------- arrays: one naming, both ways

#: Per-equation arrays beside the attention maps.
TRAJECTORY_CONFIDENCE = "trajectory_confidence"
INDUCED_MAP = "encoder.isab1.induced"
#: The induced map's name: MAB2's weights times MAB1's, each observation reading the others
#: through the inducing points.
INDUCED_NAME = "encoder ISAB 1, observations ← observations through the inducing points"


def array_key(model: str, eq_id: str, name: str, layer: int | None = None) -> str:
    """The key of an array in the analysis output.

    ``name`` is a component id (its map ``[head, query, key]``) or one of the extra arrays
    (:data:`TRAJECTORY_CONFIDENCE`, :data:`INDUCED_MAP`). ``layer`` (1-based) names one layer
    of a per-layer component; without it, the key holds the last layer at full precision.
    """
    return f"{model}/{eq_id}/{name}" + (f".l{layer}" if layer is not None else "")


def layer_maps(arrays, model: str, eq_id: str, component_id: str, n_layers: int = 16) -> dict:
    """``{layer (1-based): [head, query, key]}`` of one component; the last layer at full precision.

    Encoder components have one layer, stored under the plain key.
    """
    out = {}
    for layer in range(1, n_layers + 1):
        key = array_key(model, eq_id, component_id, layer)
        if key in arrays:
            out[layer] = arrays[key]
    plain = array_key(model, eq_id, component_id)
    if plain in arrays:
        out[max(out, default=1)] = arrays[plain]
    return dict(sorted(out.items()))


@dataclass(frozen=True)
class AnalysisConfig:
    """One analysis run's configuration; the cache key is made of it (and the inputs)."""

    seed: int = DEFAULT_SEED
    equation_ids: tuple[str, ...] | None = None  # None: all 120
    weights: str | None = None  # None: the shipped checkpoint
    n_boot: int = 1000
    n_perm: int = 1000
    diffusion_steps: int = 20
    noise_levels: tuple[float, ...] = (0.25, 0.5, 0.75)  # teacher-forced capture of the diffuser
    head_importance: bool = True
    causal: str | None = None  # the causal interventions' artifact (`physdocs causal --json`); None: not shown
    training_log: str | None = None  # None: the metrics log shipped beside the weights, if any
    evaluation: str | None = None  # evaluation JSON, if any
    benchmark: str | None = None  # a benchmark TOML file; None: the packaged one

    def __post_init__(self) -> None:
        if self.n_boot < 1 or self.n_perm < 1 or self.diffusion_steps < 1:
            raise ValueError(
                f"AnalysisConfig needs n_boot, n_perm and diffusion_steps >= 1, got "
                f"{self.n_boot}, {self.n_perm} and {self.diffusion_steps}"
            )
        if any(not 0 <= t < 1 for t in self.noise_levels):
            raise ValueError(f"AnalysisConfig.noise_levels must lie in [0, 1), got {self.noise_levels}")

    def to_dict(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------- findings: typed records

#: A finding's outcome: the claimed effect, none, or its opposite (a CI beyond the null the other way).
OUTCOMES = ("holds", "does not hold", "opposite")


@dataclass(frozen=True)
class Detail:
    """A number shown beside a finding's statistic (e.g. the unadjusted correlation)."""

    label: str
    value: float | None


@dataclass(frozen=True)
class ClaimResult:
    """One tested finding: our statistic with its uncertainty, a control, the confound and the verdict.

    Made by :func:`physdocs.analysis.claims.judge` from a finding of the registry
    (:mod:`physdocs.analysis.findings`); read by the report as it is.
    """

    key: str
    title: str
    claim: str
    statistic_name: str
    value: float | None
    ci_low: float | None
    ci_high: float | None
    p_value: float | None
    p_text: str
    n: int
    n_unit: str
    control_name: str
    control_value: float | None
    confound: str
    min_effect: float
    min_effect_reason: str
    seed_reported: str
    pages: tuple[str, ...]
    outcome: str  # one of OUTCOMES
    verdict: str
    details: tuple[Detail, ...] = ()
    diff: float | None = None  # trained - control, the paired interval the verdict rests on
    diff_low: float | None = None
    diff_high: float | None = None

    @property
    def holds(self) -> bool:
        return self.outcome == "holds"

    def to_json(self) -> dict:
        return jsonable({**asdict(self), "holds": self.holds})

    @classmethod
    def from_json(cls, d: dict) -> ClaimResult:
        fields = {k: v for k, v in d.items() if k != "holds"}
        fields["pages"] = tuple(d["pages"])
        fields["details"] = tuple(Detail(**x) for x in d["details"])
        return cls(**fields)


@dataclass(frozen=True)
class SplitRow:
    """One statistic on the equations a decoder derives against those it does not, within tiers."""

    statistic: str
    decoder: str  # the decoder whose success splits the equations
    n_derived: int
    n_failed: int
    derived: float | None
    failed: float | None
    difference: float | None  # derived minus failed, all equations pooled
    within_tier: float | None  # the same, within tiers (weighted mean of per-tier differences)
    ci_low: float | None  # 95% bootstrap CI of within_tier
    ci_high: float | None
    p_value: float | None  # permutation within tiers, two-sided
    p_holm: float | None  # Holm-adjusted over the table's family of tests
    differs: bool  # p_holm < 0.05

    def to_json(self) -> dict:
        return jsonable(asdict(self))

    @classmethod
    def from_json(cls, d: dict) -> SplitRow:
        return cls(**d)
