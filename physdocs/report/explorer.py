"""Data and markup for the interactive attention explorer on each equation page.

The explorer is ``docs/assets/explorer.js`` (vanilla JS, no dependencies, works offline): it
finds every ``<div class="attention-explorer" data-src=...>`` that :func:`explorer_html`
writes into a page, fetches the JSON that :func:`explorer_payload` / :func:`payload_json`
produce, and draws it (model, component, layer and head selectors, a keyboard-usable query
list, the selected row as bars, and a heatmap of the whole matrix).

Payload (``"format": "physdocs-attention/1"``; JSON, compact, sorted keys, no timestamps)::

    id, tokens, token_types
    component_order, model_order          display order (JSON objects are sorted by key)
    components[comp]                       same for both models
        kind      "self" | "cross" | "isab-mab1" | "isab-mab2" | "pma"
        label     readable name;  causal: true for the AR decoder's self-attention;
                  pad_key: true where the last key is the padding mass (diffuser.self)
        queries   query labels: token strings, "i1".."i16" (inducing points),
                  "p1".."p50" (observation points) or "seed" (the PMA query)
        keys      key labels: as above, "z" for the pooled memory slot of cross-attention,
                  and a final "PAD" for diffuser.self: the mass on the canvas's padding
                  positions, 1 - row sum
        shape     [n_queries, n_keys]
    models[model][comp]
        heads     number of heads;  n_layers: layers the model has for this component
        detail    "all" | "last" | "mean" | "omitted" (see the size rule below)
        layers    the layer numbers (1-based) present in ``data``
        data      {str(layer): [matrix, ...]}: one matrix per head, or a single
                  mean-of-heads matrix when detail == "mean"; a matrix is the weights as
                  uint8 (round(a * 255), clipped to 0..255), row-major, base64-encoded
    quantisation  {"dtype": "uint8", "scale": 255, "order": "row-major", "encoding": "base64"}
    max_bytes     the size limit;  reductions: what the size rule removed, in order

Size rule. A payload serialised with :func:`payload_json` is at most
:data:`MAX_PAYLOAD_BYTES` (200 KB) of UTF-8. Everything is included when it fits; otherwise
reductions are applied one at a time, in this order, until it fits:

1. control model: per-layer data dropped, last layer kept, one component at a time in
   :data:`REDUCE_ORDER` order (decoder cross, decoder self, diffuser cross, diffuser self);
2. trained model: the same;
3. control model: heads replaced by their mean (last layer), component by component in
   :data:`REDUCE_ORDER` order;
4. trained model: the same;
5. control model: matrices omitted (labels kept, ``detail: "omitted"``), same order;
6. trained model: the same.

If even that does not fit (only with absurdly long labels), :class:`ValueError` is raised:
the limit is never exceeded. A default-size model (4 layers, 4 heads) on the longest
benchmark equation (feynman_087, 38 tokens) needs steps 1 and the first of step 2.
"""

from __future__ import annotations

import base64
import html
import json
import posixpath
from collections.abc import Mapping
from typing import Any

import numpy as np

from physdocs.analysis import schema as S

FORMAT = "physdocs-attention/1"
MAX_PAYLOAD_BYTES = 200_000
MODELS = S.MODELS
#: component -> (kind, readable label), in display order (declared in :mod:`physdocs.analysis.schema`).
COMPONENTS: dict[str, tuple[str, str]] = {c.id: (c.explorer_kind, c.explorer_label) for c in S.COMPONENTS}
#: Per-layer components: the order in which the size rule reduces them (first = first to go).
LAYERED_REDUCE_ORDER = ("decoder.cross", "decoder.self", "diffuser.cross", "diffuser.self")
#: All components, first to be reduced first (the report's claims rest on the last ones).
REDUCE_ORDER = (
    "decoder.cross",
    "decoder.self",
    "encoder.isab2.mab2",
    "encoder.isab2.mab1",
    "encoder.isab1.mab2",
    "encoder.pma",
    "diffuser.cross",
    "encoder.isab1.mab1",
    "diffuser.self",
)
#: Where the site keeps the payloads: ``equations/data/<id>.json`` (see :func:`data_path`).
DATA_DIR = "equations/data"
PAD_LABEL = "PAD"
MEMORY_SLOT_LABEL = "z"
SEED_LABEL = "seed"
_DETAILS = ("all", "last", "mean", "omitted")


# ----------------------------------------------------------------- encoding


def quantise(a: np.ndarray) -> np.ndarray:
    """Attention weights in [0, 1] -> uint8, round(a * 255); NaN -> 0, clipped to 0..255."""
    a = np.nan_to_num(np.asarray(a, dtype=np.float64), nan=0.0, posinf=1.0, neginf=0.0)
    return np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)


def encode_matrix(a: np.ndarray) -> str:
    """One [query, key] matrix -> base64 of its uint8 quantisation, row-major."""
    if a.ndim != 2:
        raise ValueError(f"expected a [query, key] matrix, got shape {a.shape}")
    return base64.b64encode(np.ascontiguousarray(quantise(a)).tobytes()).decode("ascii")


def decode_matrix(b64: str, shape: tuple[int, int] | list[int]) -> np.ndarray:
    """Inverse of :func:`encode_matrix`, as float weights (k / 255)."""
    raw = np.frombuffer(base64.b64decode(b64), dtype=np.uint8)
    rows, cols = int(shape[0]), int(shape[1])
    if raw.size != rows * cols:
        raise ValueError(f"matrix holds {raw.size} values, shape {rows}x{cols} needs {rows * cols}")
    return raw.reshape(rows, cols).astype(np.float64) / 255.0


# ----------------------------------------------------------------- labels


def _labels(comp: str, tokens: list[str], shape: tuple[int, int]) -> tuple[list[str], list[str]]:
    """Query and key labels of a component whose per-head matrices have ``shape``."""
    q, k = shape
    kind = COMPONENTS[comp][0]
    points = [f"p{i + 1}" for i in range(k if kind in ("isab-mab1", "pma") else q)]
    if kind == "isab-mab1":
        return [f"i{i + 1}" for i in range(q)], points
    if kind == "isab-mab2":
        return points, [f"i{i + 1}" for i in range(k)]
    if kind == "pma":
        return [SEED_LABEL] * q if q == 1 else [f"{SEED_LABEL}{i + 1}" for i in range(q)], points
    if kind == "cross":
        return list(tokens), [f"p{i + 1}" for i in range(k - 1)] + [MEMORY_SLOT_LABEL]
    keys = list(tokens) + ([PAD_LABEL] if comp == "diffuser.self" else [])
    return list(tokens), keys


# ----------------------------------------------------------------- gathering


def _with_pad(a: np.ndarray) -> np.ndarray:
    """Append the padding mass (1 - row sum, clipped to [0, 1]) as a last key column."""
    a = np.asarray(a, dtype=np.float64)
    pad = np.clip(1.0 - np.nansum(a, axis=-1, keepdims=True), 0.0, 1.0)
    return np.concatenate([a, pad], axis=-1)


class _Component:
    """Encoded matrices of one model's component, ready to be placed at any detail level."""

    def __init__(self, comp: str, layers: dict[int, np.ndarray]):
        self.heads = int(next(iter(layers.values())).shape[0])
        self.layer_numbers = list(layers)
        self.last = self.layer_numbers[-1]
        self.per_head = {n: [encode_matrix(h) for h in a] for n, a in layers.items()}
        self.mean = encode_matrix(np.asarray(layers[self.last], dtype=np.float64).mean(axis=0))

    def entry(self, detail: str) -> dict[str, Any]:
        if detail == "all":
            data = {str(n): m for n, m in self.per_head.items()}
        elif detail == "last":
            data = {str(self.last): self.per_head[self.last]}
        elif detail == "mean":
            data = {str(self.last): [self.mean]}
        else:
            data = {}
        return {
            "heads": self.heads,
            "n_layers": len(self.layer_numbers),
            "detail": detail,
            "layers": [int(n) for n in data],
            "data": data,
        }


def _reduction_steps(present: Mapping[str, list[str]]) -> list[tuple[str, str, str]]:
    """(model, component, new detail) in the order of the size rule (module docstring)."""
    steps = []
    for model in ("control", "trained"):
        steps += [(model, c, "last") for c in LAYERED_REDUCE_ORDER if c in present.get(model, ())]
    for detail in ("mean", "omitted"):
        for model in ("control", "trained"):
            steps += [(model, c, detail) for c in REDUCE_ORDER if c in present.get(model, ())]
    return steps


def explorer_payload(equation: Mapping[str, Any], arrays: Mapping[str, np.ndarray]) -> dict[str, Any]:
    """Everything the explorer needs for one equation (see the module docstring).

    ``equation`` is one record of ``results["equations"]`` (``id``, ``tokens``, ...);
    ``arrays`` the analysis arrays (``"{model}/{eq_id}/{component}[.l{n}]"``). Components or
    models missing from ``arrays`` are left out. Raises :class:`ValueError` when a matrix does
    not match the equation's tokens, or when the payload cannot be brought under
    :data:`MAX_PAYLOAD_BYTES`.
    """
    eq_id = str(equation["id"])
    tokens = [str(t) for t in equation["tokens"]]
    token_types = [str(t) for t in equation.get("token_types", ())]
    components: dict[str, dict[str, Any]] = {}
    encoded: dict[str, dict[str, _Component]] = {}
    for model in MODELS:
        for comp, (kind, label) in COMPONENTS.items():
            layers = S.layer_maps(arrays, model, eq_id, comp)
            if not layers:
                continue
            shapes = {a.shape for a in layers.values()}
            if len(shapes) != 1 or len(next(iter(shapes))) != 3:
                raise ValueError(
                    f"{model}/{eq_id}/{comp}: expected [head, query, key] arrays of one shape, got {shapes}"
                )
            if comp == "diffuser.self":
                layers = {n: _with_pad(a) for n, a in layers.items()}
            shape = tuple(int(s) for s in next(iter(layers.values())).shape[1:])
            if kind in ("self", "cross") and shape[0] != len(tokens):
                raise ValueError(f"{model}/{eq_id}/{comp}: {shape[0]} query rows for {len(tokens)} tokens")
            if kind == "self" and shape[1] != len(tokens) + (comp == "diffuser.self"):
                raise ValueError(f"{model}/{eq_id}/{comp}: {shape[1]} keys for {len(tokens)} tokens")
            queries, keys = _labels(comp, tokens, shape)
            spec = {"kind": kind, "label": label, "queries": queries, "keys": keys, "shape": list(shape)}
            if comp == "decoder.self":
                spec["causal"] = True
            if comp == "diffuser.self":
                spec["pad_key"] = True
            if comp in components and components[comp] != spec:
                raise ValueError(f"{eq_id}/{comp}: the models' matrices differ in shape")
            components[comp] = spec
            encoded.setdefault(model, {})[comp] = _Component(comp, layers)

    detail = {(m, c): "all" for m, comps in encoded.items() for c in comps}
    reductions: list[str] = []

    def build() -> dict[str, Any]:
        return {
            "format": FORMAT,
            "id": eq_id,
            "tokens": tokens,
            "token_types": token_types,
            "model_order": [m for m in MODELS if m in encoded],
            "component_order": [c for c in COMPONENTS if c in components],
            "components": components,
            "models": {
                m: {c: e.entry(detail[m, c]) for c, e in comps.items()} for m, comps in encoded.items()
            },
            "quantisation": {"dtype": "uint8", "scale": 255, "order": "row-major", "encoding": "base64"},
            "max_bytes": MAX_PAYLOAD_BYTES,
            "reductions": list(reductions),
        }

    payload = build()
    steps = iter(_reduction_steps({m: list(c) for m, c in encoded.items()}))
    while payload_size(payload) > MAX_PAYLOAD_BYTES:
        step = next(steps, None)
        if step is None:
            raise ValueError(
                f"{eq_id}: the explorer payload exceeds {MAX_PAYLOAD_BYTES} bytes even without matrices"
            )
        model, comp, new = step
        if _DETAILS.index(new) <= _DETAILS.index(detail[model, comp]):
            continue
        if new == "last" and len(encoded[model][comp].layer_numbers) == 1:
            continue  # a single layer: nothing to drop
        if new == "mean" and encoded[model][comp].heads == 1:
            continue  # a single head is its own mean
        detail[model, comp] = new
        reductions.append(f"{model}/{comp}: {_REDUCTION_TEXT[new]}")
        payload = build()
    return payload


_REDUCTION_TEXT = {
    "last": "last layer only",
    "mean": "mean of heads only (last layer)",
    "omitted": "matrices omitted",
}


def payload_json(payload: Mapping[str, Any]) -> str:
    """Compact, key-sorted, ASCII JSON of a payload (deterministic)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=True, allow_nan=False)


def data_path(eq_id: str) -> str:
    """Site path of an equation's payload: ``equations/data/<id>.json``."""
    return f"{DATA_DIR}/{eq_id}.json"


def payload_size(payload: Mapping[str, Any]) -> int:
    """Bytes of :func:`payload_json` (UTF-8)."""
    return len(payload_json(payload).encode("utf-8"))


# ----------------------------------------------------------------- markup


def explorer_html(eq_id: str, data_path: str, *, name: str | None = None) -> str:
    """The block to put into an equation's Markdown page, on its own, with blank lines around.

    ``data_path`` is the payload's URL relative to the *rendered* page (mkdocs does not
    rewrite URLs in raw HTML): see :func:`relative_data_url`. Every string is HTML-escaped,
    and Markdown / attr_list syntax (``{ } [ ] * ` |``) becomes character references, so the
    block stays inert text even where a Markdown processor reads into raw HTML.
    """
    e_id, e_src = inert(eq_id), inert(data_path)
    e_name = inert(name if name is not None else eq_id)
    return (
        f'<div class="attention-explorer" data-src="{e_src}" data-equation="{e_id}" role="region" '
        f'aria-label="Attention explorer: {e_name}">\n'
        f"<noscript><p>The interactive attention explorer needs JavaScript. The attention data "
        f'of {e_name} is in <a href="{e_src}">this JSON file</a>.</p></noscript>\n'
        f"</div>\n"
    )


_MARKDOWN_SYNTAX = str.maketrans({c: f"&#{ord(c)};" for c in "{}[]*`|"})


def inert(value: Any) -> str:
    """``value`` as HTML-escaped text in which Markdown and attr_list syntax stays inert."""
    return html.escape(str(value), quote=True).translate(_MARKDOWN_SYNTAX)


def relative_data_url(page: str, target: str, *, use_directory_urls: bool = True) -> str:
    """URL of site file ``target`` relative to the rendered page of source ``page``.

    ``relative_data_url("equations/feynman_001.md", "equations/data/feynman_001.json")`` is
    ``"../data/feynman_001.json"`` with directory URLs (the page is served at
    ``equations/feynman_001/``) and ``"data/feynman_001.json"`` without.
    """
    page = posixpath.normpath(page)
    stem, _ = posixpath.splitext(page)
    if use_directory_urls and posixpath.basename(stem) not in ("index", "README"):
        page_dir = stem
    else:
        page_dir = posixpath.dirname(page)
    return posixpath.relpath(posixpath.normpath(target), page_dir or ".")
