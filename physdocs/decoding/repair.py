"""Grammar checks for decoded token sequences: the constrained-decoding mask and repair.

Two tools share one reading of the sequence grammar (see :mod:`physdocs.grammar`):

* :func:`allowed_next` -- which tokens may follow a prefix so that the sequence can still
  be completed within ``max_len`` tokens. Used by constrained beam search / greedy decoding.
* :func:`validate_or_repair` -- turn a finished (possibly malformed) sequence into steps,
  with every repair spelled out in ``note``.

Sequence grammar (the canonical form written by :func:`grammar.encode_sequence`)::

    BOS expr EOS PAD*                                    (one step, flat)
    BOS STEP expr END_STEP (STEP expr END_STEP)+ EOS PAD*   (2..MAX_STEPS steps)

Inside step ``k`` the leaves ``s1 .. s(k-1)`` are allowed; a flat expression has no step refs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from physdocs.constants import MAX_TOKENS
from physdocs.grammar import (
    ARITY,
    END_STEP_ID,
    EOS_ID,
    MAX_STEPS,
    PAD_ID,
    STEP_ID,
    STEP_REFS,
    TOKEN_TO_ID,
    VARIABLES,
    VOCAB,
    GrammarError,
    Node,
    decode_sequence,
)

V = len(VOCAB)
#: [V] arity of each vocabulary entry; -1 for the special tokens.
_ARITY_IDS = np.array([ARITY.get(tok, -1) for tok in VOCAB], dtype=np.int64)
#: [V] index j of a step reference ``s<j>``; 0 for every other token.
_REF_INDEX = np.array([int(tok[1:]) if tok in STEP_REFS else 0 for tok in VOCAB], dtype=np.int64)
_IS_SYMBOL = _ARITY_IDS >= 0

# Fewest tokens that complete a multi-step sequence once step 1 is closed:
# STEP leaf END_STEP (a second step is required by the canonical form).
_SECOND_STEP = 3


def unused_variables(n_vars: int | None) -> np.ndarray:
    """[V] bool, True for the variables ``x<i>`` with ``i > n_vars`` (none when ``n_vars`` is None)."""
    ban = np.zeros(V, dtype=bool)
    if n_vars is not None:
        for i in range(n_vars + 1, len(VARIABLES) + 1):
            ban[TOKEN_TO_ID[f"x{i}"]] = True
    return ban


def _one_hot(*ids: int) -> np.ndarray:
    mask = np.zeros(V, dtype=bool)
    mask[list(ids)] = True
    return mask


@dataclass
class PrefixState:
    """Where a prefix stands in the sequence grammar.

    ``mode``: ``start`` (only BOS read), ``flat`` (inside a one-step expression), ``step``
    (inside ``STEP ... END_STEP``), ``between`` (after an END_STEP), ``done`` (after EOS).
    ``need``: open argument slots of the current expression (0 = complete).
    ``step``: 1-based index of the current (or last closed) step in multi-step mode.
    ``length``: tokens read, BOS included.
    """

    mode: Literal["start", "flat", "step", "between", "done"] = "start"
    need: int = 0
    step: int = 0
    length: int = 1

    def advance(self, tok: str) -> None:
        """Read one more token; :class:`GrammarError` if it cannot follow."""
        arity = ARITY.get(tok)
        ok = False
        if self.mode == "start":
            if tok == "STEP":
                self.mode, self.step, self.need, ok = "step", 1, 1, True
            elif arity is not None and tok not in STEP_REFS:
                self.mode, self.need, ok = "flat", arity, True
        elif self.mode == "flat":
            if self.need > 0 and arity is not None and tok not in STEP_REFS:
                self.need, ok = self.need - 1 + arity, True
            elif self.need == 0 and tok == "EOS":
                self.mode, ok = "done", True
        elif self.mode == "step":
            ref_ok = tok not in STEP_REFS or int(tok[1:]) < self.step
            if self.need > 0 and arity is not None and ref_ok:
                self.need, ok = self.need - 1 + arity, True
            elif self.need == 0 and tok == "END_STEP":
                self.mode, ok = "between", True
        elif self.mode == "between":
            if tok == "STEP" and self.step < MAX_STEPS:
                self.mode, self.step, self.need, ok = "step", self.step + 1, 1, True
            elif tok == "EOS" and self.step >= 2:
                self.mode, ok = "done", True
        else:  # done
            ok = tok == "PAD"
        if not ok:
            raise GrammarError(f"token {tok!r} cannot follow the prefix (state {self})")
        self.length += 1

    def allowed(self, max_len: int, n_vars: int | None = None) -> np.ndarray:
        """[V] bool: tokens that keep the sequence completable within ``max_len`` tokens.

        ``n_vars`` additionally bans the variables ``x<i>``, ``i > n_vars``.
        """
        return self._allowed(max_len) & ~unused_variables(n_vars)

    def _allowed(self, max_len: int) -> np.ndarray:
        room = max_len - self.length - 1  # tokens left after the next one
        if self.mode == "done":
            return _one_hot(PAD_ID) if room >= 0 else np.zeros(V, dtype=bool)
        if self.mode == "between":
            mask = np.zeros(V, dtype=bool)
            mask[STEP_ID] = self.step < MAX_STEPS and room >= 3  # leaf END_STEP EOS
            mask[EOS_ID] = self.step >= 2 and room >= 0
            return mask
        # tokens still due once the current expression is complete, after its closing token:
        # flat -> none (EOS closes); step -> (a second step if this is step 1) + EOS
        tail = 0 if self.mode == "flat" else (_SECOND_STEP if self.step == 1 else 0) + 1
        if self.mode == "start":
            mask = _IS_SYMBOL & (_REF_INDEX == 0) & (_ARITY_IDS + 1 <= room)  # a leaves + EOS
            mask[STEP_ID] = room >= 6  # leaf END_STEP STEP leaf END_STEP EOS
            return mask
        if self.need == 0:
            return (
                _one_hot(EOS_ID if self.mode == "flat" else END_STEP_ID)
                if room >= tail
                else np.zeros(V, dtype=bool)
            )
        need_after = self.need - 1 + _ARITY_IDS  # [V]
        refs_ok = _REF_INDEX == 0 if self.mode == "flat" else _REF_INDEX < self.step
        # need_after leaves, the closing EOS / END_STEP, then the tail
        return _IS_SYMBOL & refs_ok & (need_after + 1 + tail <= room)


def prefix_state(prefix_tokens: Sequence[str | int]) -> PrefixState:
    """Parse a prefix that starts with BOS; :class:`GrammarError` if it cannot be completed."""
    toks = [VOCAB[t] if isinstance(t, (int, np.integer)) else t for t in prefix_tokens]
    if not toks or toks[0] != "BOS":
        raise GrammarError("a prefix must start with BOS")
    state = PrefixState()
    for tok in toks[1:]:
        state.advance(tok)
    return state


def allowed_next(
    prefix_tokens: Sequence[str | int], max_len: int = MAX_TOKENS, n_vars: int | None = None
) -> np.ndarray:
    """[V] bool mask of the tokens that may follow ``prefix_tokens`` (strings or ids).

    A token is allowed when the sequence can still be finished in canonical form with at
    most ``max_len`` tokens in total (BOS and EOS included): EOS only after a complete flat
    expression or after the END_STEP of step >= 2; END_STEP only when the step's expression
    is complete; ``s<j>`` only inside step ``k > j``; operators only while the remaining
    length can still close them; after EOS only PAD. BOS and MASK are never allowed.
    With ``n_vars`` (the data's variable count) the variables beyond it are banned too.
    """
    return prefix_state(prefix_tokens).allowed(max_len, n_vars)


# ---------------------------------------------------------------- repair

Status = Literal["valid", "repaired", "rejected"]
_STRAY = ("MASK", "PAD", "BOS")
#: Leaf that fills a missing operand: a constant fitted to the data.
FILL_LEAF = "C"


@dataclass(frozen=True)
class Parsed:
    """Outcome of :func:`validate_or_repair`.

    ``tokens`` is the sequence that was decoded (``BOS ... EOS``; the repaired one when
    ``status == "repaired"``, ``None`` when rejected). ``note`` lists every repair applied
    (``"; "``-separated) or the reason for the rejection; empty when valid.
    """

    steps: tuple[Node, ...] | None
    status: Status
    note: str
    tokens: tuple[str, ...] | None = field(default=None)


class _Reject(Exception):
    pass


def _repair_expr(tokens: list[str], notes: list[str], where: str) -> list[str]:
    """Cut one prefix expression out of ``tokens``: truncate after completion, fill holes with C."""
    need = 1
    for i, tok in enumerate(tokens):
        if tok not in ARITY:
            raise _Reject(f"{where}token {tok!r} inside an expression")
        need += ARITY[tok] - 1
        if need == 0:
            rest = tokens[i + 1 :]
            if rest:
                notes.append(f"{where}truncated {len(rest)} token(s) after a complete expression")
            return tokens[: i + 1]
    notes.append(f"{where}filled {need} missing operand(s) with {FILL_LEAF}")
    return tokens + [FILL_LEAF] * need


def _repair_steps(body: list[str], notes: list[str]) -> list[str]:
    """Rebuild ``STEP expr END_STEP`` blocks; tokens outside blocks are dropped (noted)."""
    out: list[str] = []
    i, k = 0, 0
    while i < len(body):
        if body[i] != "STEP":
            j = body.index("STEP", i) if "STEP" in body[i:] else len(body)
            notes.append(f"dropped {j - i} token(s) outside STEP ... END_STEP")
            i = j
            continue
        k += 1
        j = i + 1
        while j < len(body) and body[j] not in ("STEP", "END_STEP"):
            j += 1
        closed = j < len(body) and body[j] == "END_STEP"
        seg = body[i + 1 : j]
        if not seg:
            raise _Reject(f"step {k} is empty")
        if not closed:
            notes.append(f"step {k}: added the missing END_STEP")
        out += ["STEP", *_repair_expr(seg, notes, f"step {k}: "), "END_STEP"]
        i = j + 1 if closed else j
    if k == 0:
        raise _Reject("no STEP block left")
    return out


def validate_or_repair(tokens: Sequence[str]) -> Parsed:
    """Decode ``tokens`` (strings, ``BOS ... EOS PAD*``); repair explicitly or reject.

    Valid when :func:`grammar.decode_sequence` accepts the sequence as is. Otherwise these
    rules run in order, each recorded in ``note``:

    1. a missing leading BOS is added;
    2. tokens after the first EOS are dropped (trailing PAD alone is already valid); without
       EOS the whole canvas is read;
    3. stray MASK / PAD / BOS inside the body are removed;
    4. with STEP / END_STEP in the body: tokens outside ``STEP ... END_STEP`` blocks are
       dropped and a missing END_STEP is added before the next STEP or the end;
    5. in each expression, tokens after the expression is complete are truncated, and an
       incomplete prefix gets its missing operands filled with the leaf ``C`` (a constant
       fitted to the data, so the hole costs a parameter instead of inventing structure).

    The result must then pass :func:`grammar.decode_sequence` (step-reference rules, at most
    MAX_STEPS steps); if it does not, or nothing is left, the sequence is rejected with the
    reason. Unknown token strings are rejected. Nothing is ever changed silently.
    """
    toks = list(tokens)
    unknown = sorted({t for t in toks if t not in VOCAB})
    if unknown:
        return Parsed(None, "rejected", f"unknown token(s) {', '.join(map(repr, unknown))}")
    try:
        return Parsed(decode_sequence(toks), "valid", "", tuple(toks))
    except GrammarError:
        pass
    notes: list[str] = []
    body = toks
    if body and body[0] == "BOS":
        body = body[1:]
    else:
        notes.append("added the missing BOS")
    if "EOS" in body:
        end = body.index("EOS")
        if any(t != "PAD" for t in body[end + 1 :]):
            notes.append(f"dropped {len(body) - end - 1} token(s) after the first EOS")
        body = body[:end]
    else:
        notes.append("no EOS: read to the end of the sequence")
    stray = [t for t in body if t in _STRAY]
    if stray:
        counts = ", ".join(f"{stray.count(s)} {s}" for s in _STRAY if s in stray)
        notes.append(f"removed stray {counts}")
        body = [t for t in body if t not in _STRAY]
    try:
        if not body:
            raise _Reject("empty expression")
        if "STEP" in body or "END_STEP" in body:
            body = _repair_steps(body, notes)
        else:
            body = _repair_expr(body, notes, "")
        fixed = ["BOS", *body, "EOS"]
        steps = decode_sequence(fixed)
    except (_Reject, GrammarError) as exc:
        done = f" (after: {'; '.join(notes)})" if notes else ""
        return Parsed(None, "rejected", f"{exc}{done}")
    return Parsed(steps, "repaired", "; ".join(notes), tuple(fixed))


__all__ = [
    "FILL_LEAF",
    "unused_variables",
    "Parsed",
    "PrefixState",
    "allowed_next",
    "prefix_state",
    "validate_or_repair",
]
