"""The home page's architecture diagram, drawn from the analysed weights' configuration.

:func:`architecture_svg` is a pure function of the model's :class:`~physdocs.models.config.SystemConfig`
(as the weights' sidecar records it) and the decoding budget the evaluation used, so every
size in the diagram is the trained model's own: a new configuration redraws it. It is an SVG
(text stays sharp and selectable, no figure rendering); the page embeds it and links the same
file, which opens at its natural size on a phone.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import TYPE_CHECKING, Any

from physdocs import methods as M

if TYPE_CHECKING:  # physdocs.models imports torch, which a warm build never needs
    from physdocs.models.config import SystemConfig

#: Where the page links the full-size drawing.
ARCHITECTURE_PATH = "architecture.svg"
#: The drawing's own size (px; the boxes span 1000 x 250 inside a margin for the strokes); the
#: page scales it to the column. Every coordinate is a whole pixel: the page's decimals are results.
WIDTH, HEIGHT, MARGIN = 1008, 254, 4
#: Bits per number in the observation encoding (IEEE-754 half precision).
BITS = 16


@dataclass(frozen=True)
class Budget:
    """The decoding budget drawn beside the decoders (None: not recorded, left out)."""

    diffusion_steps: int | None = None
    diffusion_samples: int | None = None
    beam_size: int | None = None
    ar_samples: int | None = None
    n_support: int | None = None
    operon_seeds: int | None = None
    holdout: float | None = None

    @classmethod
    def from_configs(cls, analysis: Mapping[str, Any], evaluation: Mapping[str, Any] | None) -> Budget:
        """From the analysis config (its sampler's steps) and the evaluation's config (the search's budget)."""
        search = (evaluation or {}).get("search") or {}
        return cls(diffusion_steps=analysis.get("diffusion_steps"), diffusion_samples=search.get("n_samples"),
                   beam_size=search.get("beam_size"), ar_samples=search.get("ar_samples"),
                   n_support=(evaluation or {}).get("n_support"), operon_seeds=search.get("n_seeds"),
                   holdout=search.get("holdout"))


@dataclass(frozen=True)
class Box:
    x: float
    y: float
    w: float
    h: float
    title: str
    lines: Sequence[str]
    colour: str = "#555555"


def _plural(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def boxes(system: SystemConfig, budget: Budget) -> tuple[list[Box], str]:
    """The diagram's boxes, left to right, and what the memory holds; each line computed from the configuration."""
    enc, dif, ar = system.encoder, system.diffuser, system.ar
    columns = enc.input_dim // BITS
    points = f"{budget.n_support} points" if budget.n_support else "a set of points"
    memory = "a key per point + z" if system.memory == "points+pooled" else "z alone (one key)"
    decode_dif = [f"{budget.diffusion_steps} refinement steps" if budget.diffusion_steps else "iterative unmasking"]
    if budget.diffusion_samples:
        decode_dif.append(f"{budget.diffusion_samples} canvases per equation")
    decode_ar = [f"beam {budget.beam_size} + {budget.ar_samples} samples" if budget.beam_size and budget.ar_samples
                 else "left to right"]
    choose = [f"seeded with the best {budget.operon_seeds}" if budget.operon_seeds else "seeded with the best",
              "the choice is made on", f"{budget.holdout:.0%} held-back rows" if budget.holdout else "held-back rows"]
    grey = M.MODEL_COLOURS["uniform"]
    return [
        Box(0, 70, 150, 110, "Observations", [points, f"up to {columns - 1} inputs + y",
                                             f"each number as {BITS} bits", "(IEEE-754 multi-hot)"], grey),
        Box(175, 70, 170, 110, "Set encoder", [f"d = {enc.d_model}, {_plural(enc.n_heads, 'head')}",
                                              f"{enc.n_isab} × ISAB, {enc.n_inducing} inducing",
                                              f"PMA, {_plural(enc.n_seeds, 'seed')}", f"→ z ({enc.z_dim})"],
            M.MODEL_COLOURS["trained"]),
        Box(440, 10, 200, 110, M.BY_KEY["diffusion"].label,
            ["masked discrete diffusion", f"{dif.n_layers} layers × {dif.n_heads} heads, d = {dif.d_model}",
             *decode_dif], M.BY_KEY["diffusion"].colour),
        Box(440, 134, 200, 106, M.BY_KEY["ar"].label,
            ["autoregressive", f"{ar.n_layers} layers × {ar.n_heads} heads, d = {ar.d_model}", *decode_ar],
            M.BY_KEY["ar"].colour),
        Box(670, 70, 136, 110, "Constants", ["each candidate's C", "fitted by BFGS", "on the fit rows"], grey),
        Box(834, 70, 166, 110, "Operon", ["genetic programming", *choose], M.BY_KEY["operon"].colour),
    ], memory


def _text(x: float, y: float, s: str, size: int = 13, weight: str = "normal", anchor: str = "middle") -> str:
    return (f'<text x="{x:g}" y="{y:g}" font-size="{size}" font-weight="{weight}" text-anchor="{anchor}">'
            f"{escape(s)}</text>")


def _box(b: Box) -> str:
    cx = b.x + b.w / 2
    parts = [f'<rect x="{b.x:g}" y="{b.y:g}" width="{b.w:g}" height="{b.h:g}" rx="8" fill="#ffffff" '
             f'stroke="{b.colour}" stroke-width="3"/>', _text(cx, b.y + 22, b.title, 15, "bold")]
    parts += [_text(cx, b.y + 44 + 18 * i, line) for i, line in enumerate(b.lines)]
    return "\n".join(parts)


def _arrow(x1: float, y1: float, x2: float, y2: float) -> str:
    return (f'<line x1="{x1:g}" y1="{y1:g}" x2="{x2:g}" y2="{y2:g}" stroke="#333333" stroke-width="2" '
            'marker-end="url(#arch-arrow)"/>')


def architecture_svg(system: SystemConfig, budget: Budget = Budget()) -> str:  # noqa: B008
    """The diagram as a standalone SVG document (sizes in px, a ``viewBox`` so it scales)."""
    (obs, enc, dif, ar, fit, operon), memory = boxes(system, budget)
    mid = obs.y + obs.h / 2
    split = enc.x + enc.w + 47  # where the memory reaches both decoders
    body = [
        _arrow(obs.x + obs.w, mid, enc.x - 2, mid),
        f'<line x1="{enc.x + enc.w:g}" y1="{mid:g}" x2="{split:g}" y2="{mid:g}" stroke="#333333" stroke-width="2"/>',
        f'<line x1="{split:g}" y1="{dif.y + dif.h / 2:g}" x2="{split:g}" y2="{ar.y + ar.h / 2:g}" '
        'stroke="#333333" stroke-width="2"/>',
        _arrow(split, dif.y + dif.h / 2, dif.x - 2, dif.y + dif.h / 2),
        _arrow(split, ar.y + ar.h / 2, ar.x - 2, ar.y + ar.h / 2),
        _text(split, enc.y - 10, "cross-attention", 12),
        _text(enc.x + enc.w / 2, enc.y + enc.h + 20, f"memory: {memory}", 12),
        _arrow(dif.x + dif.w, dif.y + dif.h / 2, fit.x - 2, fit.y + 30),
        _arrow(ar.x + ar.w, ar.y + ar.h / 2, fit.x - 2, fit.y + fit.h - 30),
        _arrow(fit.x + fit.w, mid, operon.x - 2, mid),
        _text(operon.x + operon.w / 2, operon.y + operon.h + 22, "→ the formula", 13, "bold"),
        *(_box(b) for b in (obs, enc, dif, ar, fit, operon)),
    ]
    title = (f"PhysDiffuser+: a set encoder ({system.encoder.n_isab} ISAB, PMA) reads the observations; "
             f"{M.BY_KEY['diffusion'].label} and the {M.BY_KEY['ar'].label} propose formulas through "
             "cross-attention; constants are fitted and the best candidates seed Operon")
    return "\n".join([
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" font-family="Roboto, Helvetica, Arial, sans-serif" fill="#222222">',
        f"<title>{escape(title)}</title>",
        '<defs><marker id="arch-arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M 0 0 L 10 5 L 0 10 z" fill="#333333"/></marker></defs>',
        f'<g transform="translate({MARGIN},{MARGIN // 2})">', *body, "</g>",
        "</svg>",
    ]) + "\n"
