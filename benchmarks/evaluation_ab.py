"""Two evaluations of the same benchmark, paired equation by equation: which rows changed.

Usage::

    python benchmarks/evaluation_ab.py physdocs/data/evaluation.json checkpoints/NAME/evaluation.json
    python benchmarks/evaluation_ab.py A.json B.json --all    # the baselines too

For every method present in both (our 120 on their own boxes; with ``--all`` also the
baselines) and every synthetic probe (decoder x split), at held-out R^2 > 0.99 and exact:
the count in A and in B, the rows B lost and gained, and the exact two-sided McNemar
p-value of those changes. Two weights' evaluations
differ by the equations that changed, not by the difference of two totals: a total that
moves by 5 with 5 lost and 0 gained is a change, one with 10 lost and 5 gained is mostly
noise. A row that is derived (R^2 > 0.99) in one and not the other, but is an approximate
form in both, is counted as a crossing near the threshold.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable, Iterable
from operator import attrgetter
from pathlib import Path

from physdocs.analysis.stats import mcnemar_p
from physdocs.results.evaluation import Evaluation

Keyed = dict[str | int, object]  # an equation's id, or a synthetic probe's index
_derived, _exact = attrgetter("derived"), attrgetter("exact")


def _read(path: str) -> Evaluation:
    return Evaluation.from_json(json.loads(Path(path).read_text()))


def _groups(ev: Evaluation, every: bool) -> dict[str, Keyed]:
    """Rows by group name, each group's rows keyed by what pairs them across evaluations."""
    out: dict[str, Keyed] = {}
    for r in ev.results:
        if not every and (r.model == "baseline" or not r.original):
            continue
        name = r.method + ("" if r.original else f" ({r.variant})")
        out.setdefault(name, {})[r.id] = r
    for s in ev.synthetic.results if ev.synthetic else ():
        if s.model == "trained":
            out.setdefault(f"{s.decoder}, synthetic {s.split}", {})[s.index] = s
    return out


def paired(a: Keyed, b: Keyed, flag: Callable[[object], bool]) -> tuple[int, int, int, int]:
    """(count in A, count in B, lost, gained) of ``flag`` over the keys both hold."""
    keys = a.keys() & b.keys()
    fa = {k: bool(flag(a[k])) for k in keys}
    fb = {k: bool(flag(b[k])) for k in keys}
    lost = sum(fa[k] and not fb[k] for k in keys)
    gained = sum(fb[k] and not fa[k] for k in keys)
    return sum(fa.values()), sum(fb.values()), lost, gained


def near_threshold(a: Keyed, b: Keyed) -> int:
    """Rows derived in exactly one of A and B while an approximate (not exact) form in both."""
    return sum(_derived(a[k]) != _derived(b[k]) and not (a[k].exact or b[k].exact) for k in a.keys() & b.keys())


def table(a: Evaluation, b: Evaluation, every: bool) -> Iterable[str]:
    ga, gb = _groups(a, every), _groups(b, every)
    yield f"{'rows':40s} {'metric':9s} {'n':>4s} {'A':>4s} {'B':>4s} {'lost':>5s} {'gained':>6s} {'p':>6s}  near"
    for name in sorted(ga.keys() & gb.keys()):
        ra, rb = ga[name], gb[name]
        n = len(ra.keys() & rb.keys())
        for metric, flag in (("R2>0.99", _derived), ("exact", _exact)):
            ka, kb, lost, gained = paired(ra, rb, flag)
            near = near_threshold(ra, rb) if flag is _derived else ""
            yield (f"{name:40s} {metric:9s} {n:4d} {ka:4d} {kb:4d} {lost:5d} {gained:6d} "
                   f"{mcnemar_p(lost, gained):6.3f}  {near}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("a", help="the reference evaluation (e.g. the shipped one)")
    ap.add_argument("b", help="the candidate's evaluation")
    ap.add_argument("--all", action="store_true", help="the baselines too")
    args = ap.parse_args()
    a, b = _read(args.a), _read(args.b)
    print(f"A: {args.a} (weights {a.meta.weights_sha256[:12]})")
    print(f"B: {args.b} (weights {b.meta.weights_sha256[:12]})")
    print("p: exact two-sided McNemar over the rows that changed; near: R2 crossings by approximate forms")
    for line in table(a, b, args.all):
        print(line)


if __name__ == "__main__":
    main()
