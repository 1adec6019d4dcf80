"""The home page's headline: three computed sentences a reader takes in first.

1. how often each method derives the benchmark's equations, with Wilson 95% intervals;
2. which attention findings hold against their confounds;
3. which do not, and where the opposite holds.

Pure functions of the evaluation and the findings' verdicts; every number and
every finding named comes from there, so the template holds no result.
"""

from __future__ import annotations

from collections.abc import Sequence

from physdocs.analysis.schema import ClaimResult
from physdocs.methods import REGISTRY
from physdocs.report.evaluation_page import method_pairs
from physdocs.results.evaluation import Evaluation, Rate

#: The methods the accuracy sentence names, in its order: (model, decoder, how it is called).
ACCURACY_METHODS = tuple((m.model, m.decoder, m.description) for m in REGISTRY if m.description)


def _share(cell: Rate) -> str:
    return f"{100 * cell.rate:.0f}% ({100 * cell.low:.0f}–{100 * cell.high:.0f}%)"


def accuracy_sentence(evaluation: Evaluation | None) -> str | None:
    """How often each method derives the equation (held-out R² > 0.99), and how often exactly."""
    pairs = method_pairs(evaluation) if evaluation else []
    if not pairs:
        return None
    parts = []
    for model, decoder, name in ACCURACY_METHODS:
        overall = evaluation.outcome(model, decoder, "all")
        if overall is None:
            continue
        r2, exact = overall.r2_gt_099, overall.exact
        if not parts:
            parts.append(f"{name} derives {_share(r2)} of them at held-out R² > 0.99 and recovers "
                         f"{_share(exact)} exactly")
        else:
            parts.append(f"{name} {_share(r2)} and {_share(exact)}")
    if not parts:
        return None
    n = evaluation.outcome(*pairs[0], "all").exact.n  # the first method's, in reading order
    return (f"Given {n} benchmark equations' data, " + parts[0]
            + ("; " + "; ".join(parts[1:]) if len(parts) > 1 else "")
            + " (95% Wilson intervals).")


def _titles(claims: Sequence[ClaimResult]) -> str:
    names = [c.title[0].lower() + c.title[1:] if c.title[:2] != c.title[:2].upper() else c.title for c in claims]
    return "; ".join(names)


def findings_sentences(claims: Sequence[ClaimResult]) -> list[str]:
    """What held, and what did not (the opposite named), from the verdicts."""
    if not claims:
        return []
    held = [c for c in claims if c.outcome == "holds"]
    opposite = [c for c in claims if c.outcome == "opposite"]
    failed = [c for c in claims if c.outcome == "does not hold"]
    first = (f"Of {len(claims)} findings about the attention, each tested against its confound and a "
             f"random-initialised control, {len(held)} hold" + (f": {_titles(held)}." if held else "."))
    second = []
    if failed:
        second.append(f"{len(failed)} do not hold ({_titles(failed)})")
    if opposite:
        second.append(f"for {len(opposite)} the opposite holds ({_titles(opposite)})")
    out = [first]
    if second:
        text = "; ".join(second)
        out.append(text[0].upper() + text[1:] + ".")
    return out


def headline(evaluation: Evaluation | None, claims: Sequence[ClaimResult]) -> list[str]:
    """The home page's sentences, in reading order (accuracy first when evaluated)."""
    accuracy = accuracy_sentence(evaluation)
    return ([accuracy] if accuracy else []) + findings_sentences(claims)
