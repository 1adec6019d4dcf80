"""What the faithfulness and readout pages show, from :class:`physdocs.results.readout.Readout`.

Pure functions: the record in, rows and sentences out; every number is the record's. The
comparison of where the two decoders decide is a sentence made from the logit-lens rows.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from physdocs.results.readout import DECODER_LABELS, DECODERS, LensRow, Readout


def knockout_rows(readout: Readout, block: str) -> list[dict[str, Any]]:
    """The knockout table of one block: per decoder and ``k``, the three rises and whether
    their point values fall in the attention's order."""
    return [{"decoder": DECODER_LABELS[r.decoder], "row": r, "ordered": r.ordered}
            for r in readout.knockouts if r.block == block]


def favoured_rows(readout: Readout) -> list[dict[str, Any]]:
    """One row per (decoder, model), its coefficients in feature order."""
    keys = list(dict.fromkeys((c.decoder, c.model) for c in readout.favoured))
    return [{"decoder": DECODER_LABELS[d], "model": m,
             "coefficients": [c for c in readout.favoured if (c.decoder, c.model) == (d, m)]} for d, m in keys]


def _weighted_decision(rows: Sequence[LensRow]) -> float:
    """The mean decision layer over ``rows`` pooled, each row weighted by its tokens that count
    (right at the output, not decided by the embedding alone)."""
    weights = [r.n * r.correct[-1] * (1.0 - r.decided[0]) for r in rows]
    values = [(w, r.decision.value) for w, r in zip(weights, rows, strict=True) if w > 0 and math.isfinite(r.decision.value)]
    total = sum(w for w, _ in values)
    return sum(w * v for w, v in values) / total if total else float("nan")


def late_share(rows: Sequence[LensRow]) -> float:
    """Of the tokens a decoder's output gets right, the share on top only from its last layer."""
    right = [r.n * r.correct[-1] for r in rows]
    total = sum(right)
    return sum(w * r.decided[-1] for w, r in zip(right, rows, strict=True)) / total if total else float("nan")


def where_decided(readout: Readout) -> list[dict[str, Any]]:
    """Per decoder: the mean decision layer of operators and of leaves, their gap, and the late share."""
    out = []
    for decoder in DECODERS:
        rows = {r.type: r for r in readout.lens if r.decoder == decoder}
        if "operator" not in rows:
            continue
        leaves = [rows[t] for t in ("variable", "constant") if t in rows]
        operator, leaf = rows["operator"].decision.value, _weighted_decision(leaves)
        out.append({"decoder": decoder, "label": DECODER_LABELS[decoder], "operator": operator, "leaf": leaf,
                    "gap": leaf - operator, "late": late_share(list(rows.values()))})
    return out


def comparison_sentence(readout: Readout) -> str | None:
    """Where the diffuser and the AR decoder decide, in one sentence made from the numbers
    (None without both decoders' readout)."""
    by = {d["decoder"]: d for d in where_decided(readout)}
    if set(by) != set(DECODERS):
        return None
    d, a = by["diffuser"], by["ar_decoder"]
    if not all(math.isfinite(x) for x in (d["gap"], a["gap"], d["late"], a["late"])):
        return None
    if round(abs(d["gap"]), 2) == round(abs(a["gap"]), 2):
        wider = "as wide in both"
    else:
        wider = "wider in the " + ("diffuser" if abs(d["gap"]) > abs(a["gap"]) else "AR decoder")
    return (
        f"The diffuser's masked operators come and stay on top after layer {d['operator']:.2f} on average and its "
        f"leaves after layer {d['leaf']:.2f} ({d['gap']:+.2f} layers); the AR decoder's next operators after "
        f"{a['operator']:.2f} and its leaves after {a['leaf']:.2f} ({a['gap']:+.2f}): the gap between "
        f"operators and leaves is {wider}. Of the tokens each gets right, {d['late']:.0%} (diffuser) and "
        f"{a['late']:.0%} (AR decoder) come on top only at the last layer."
    )
