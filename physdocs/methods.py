"""The derivation methods, each declared once: its key, the rows it writes, its names and look.

The evaluation writes rows keyed by ``(model, decoder)``; everything that names or draws a
method (the evaluation page's tables, the home page's sentence, the equations index, the
plots) reads this registry, so a method is added here and nowhere else in the report.
Torch-free and import-free, so every layer can read it.
"""

from __future__ import annotations

from dataclasses import dataclass

#: The compared models' colours in every figure: the trained model, the random-initialised
#: control (its decoders' rows below take the same colour) and uniform attention, the reference
#: every attention statistic is read against.
MODEL_COLOURS: dict[str, str] = {"trained": "#0072B2", "control": "#E69F00", "uniform": "#999999"}


@dataclass(frozen=True)
class Method:
    """One derivation method as the reader meets it.

    ``model`` / ``decoder``: the fields of its evaluation rows (``model`` is "trained",
    "control" or "baseline"). ``label``: its name in tables and legends; ``description``: its
    name in a sentence (None: not named in the home page's sentence). ``colour``, ``marker``:
    its look in every figure. ``index``: shown per equation in the equations index.
    ``runner``: the evaluation's runner that writes its rows (``physdocs.evaluation.RUNNERS``;
    None: rows another runner writes beside its own, as the pipeline writes the model alone's).
    """

    key: str
    model: str
    decoder: str
    label: str
    description: str | None
    colour: str
    marker: str
    index: bool = False
    runner: str | None = None


#: In reading order: the pipeline first, then its parts and the baselines, the controls last.
REGISTRY: tuple[Method, ...] = (
    Method("pipeline", "trained", "pipeline", "model + Operon",
           "the full pipeline (the model's candidates seeding the Operon search)", "#0072B2", "o", index=True, runner="pipeline"),
    Method("pipeline-units", "trained", "pipeline-units", "model + Operon, with units",
           "the full pipeline given every variable's units (dimension check and dimensional analysis)",
           "#000000", "*", index=True, runner="pipeline-units"),
    Method("operon", "baseline", "operon", "Operon alone", "Operon alone", "#D55E00", "s", index=True,
           runner="operon"),
    Method("model", "trained", "model", "model alone", "the model alone (both decoders)", "#56B4E9", "D"),
    Method("diffusion", "trained", "diffusion", "PhysDiffuser", "the PhysDiffuser alone", "#009E73", "^",
           index=True, runner="decoder"),
    Method("ar", "trained", "ar", "AR decoder", None, "#CC79A7", "v", index=True, runner="decoder"),
    Method("operon-3x", "baseline", "operon-3x", "Operon alone, 3× budget",
           "Operon alone with three times its evaluations and generations (more time than the pipeline takes)",
           "#8C3B00", "X", runner="operon-3x"),
    Method("gplearn", "baseline", "gplearn", "gplearn", "gplearn", "#999933", "P", runner="gplearn"),
    Method("control-diffusion", "control", "diffusion", "control, PhysDiffuser", "the random-initialised control",
           MODEL_COLOURS["control"], "x", runner="decoder"),
    Method("control-ar", "control", "ar", "control, AR decoder", None, MODEL_COLOURS["control"], "+",
           runner="decoder"),
)
BY_KEY: dict[str, Method] = {m.key: m for m in REGISTRY}
BY_ROWS: dict[tuple[str, str], Method] = {(m.model, m.decoder): m for m in REGISTRY}
#: The methods ``physdocs evaluate --method`` can add beside the decoders and the pipeline
#: (each runs on its own job): the baselines, and variants of the pipeline.
BASELINES: tuple[str, ...] = tuple(m.key for m in REGISTRY if m.runner not in (None, "decoder", "pipeline"))
#: The decoders one model decodes with alone.
DECODERS: tuple[str, ...] = tuple(dict.fromkeys(m.decoder for m in REGISTRY if m.runner == "decoder"))


def label(model: str, decoder: str) -> str:
    """The reader's name of the rows ``(model, decoder)``: ``("baseline", "operon") -> "Operon alone"``."""
    m = BY_ROWS.get((model, decoder))
    return m.label if m else f"{model} model, {decoder} decoder"
