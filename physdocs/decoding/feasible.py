"""Which tokens keep a partly filled canvas completable: the sequence grammar read in any order.

The AR decoder reads the grammar left to right (:class:`repair.PrefixState`), so every
sequence it writes is an equation. The diffuser fills a canvas of fixed length in any order;
without the grammar, most of its canvases are not equations and are only made into one by
repair (truncated, or holes filled with a fitted constant ``C``). Here the same grammar is a
finite automaton over the canvas's positions:

* forward, the states reachable after each position from BOS, given the tokens already
  placed (a masked position may hold any token);
* backward, the states from which the canvas can still end at its EOS.

A token is feasible at a masked position when some reachable state before it moves, by that
token, into a state that can still finish. The automaton is :class:`repair.PrefixState`'s:
``start``, a flat expression, step ``k``'s expression (step references ``s<j>``, ``j < k``),
between steps (EOS only after the second), at most ``MAX_STEPS`` steps. An expression's state
is its open-slot count, carried as a bitmask (bit ``m``: ``m`` slots open, bit 0: complete),
so a position costs a few integer operations.
"""

from __future__ import annotations

import numpy as np

from physdocs.grammar import ARITY, END_STEP_ID, EOS_ID, MASK_ID, MAX_STEPS, STEP_ID, STEP_REFS, VOCAB

K = MAX_STEPS
# Token classes: what a token does to the automaton.
LEAF, UNARY, BINARY, STEP, END_STEP = range(5)
REF = 5  # REF + j - 1 for the step reference s<j>
N_CLASSES = REF + K
#: [V] class of each token; -1 for tokens that never stand inside an equation (PAD, BOS, EOS, MASK).
CLASS_OF = np.full(len(VOCAB), -1, dtype=np.int64)
for _i, _tok in enumerate(VOCAB):
    if _tok in STEP_REFS:
        CLASS_OF[_i] = REF + int(_tok[1:]) - 1
    elif _tok in ARITY:
        CLASS_OF[_i] = (LEAF, UNARY, BINARY)[ARITY[_tok]]
CLASS_OF[STEP_ID], CLASS_OF[END_STEP_ID] = STEP, END_STEP
#: [N_CLASSES, V] the tokens of each class.
TOKENS_OF = np.stack([CLASS_OF == c for c in range(N_CLASSES)])

# A state set is an int64 array [B, 2 + 2K] (one row per canvas): start, flat, step 1 .. K,
# between 1 .. K; start and between are 0/1, flat and step k are open-slot bitmasks (a canvas
# has at most 48 positions, so the bits fit).
_FLAT, _STEP0, _BETWEEN0 = 1, 2, 2 + K
_WIDTH = 2 + 2 * K


def _expr(m: np.ndarray, c: int) -> np.ndarray:
    """Open-slot bitmask after a leaf, unary or binary token from ``m`` (only open states move)."""
    m = m & ~1
    return m >> 1 if c == LEAF else m if c == UNARY else m << 1


def _expr_pre(m: np.ndarray, c: int) -> np.ndarray:
    """Open states that a leaf, unary or binary token takes into ``m``."""
    return (m << 1) if c == LEAF else (m & ~1) if c == UNARY else (m >> 1) & ~1


def _step(s: np.ndarray, c: int) -> np.ndarray:
    """The states class ``c`` leads to from the set ``s``."""
    out = np.zeros_like(s)
    if c in (LEAF, UNARY, BINARY):
        out[:, _FLAT] = _expr(s[:, _FLAT] | (s[:, 0] << 1), c)  # start reads as a flat expression
        out[:, _STEP0:_BETWEEN0] = _expr(s[:, _STEP0:_BETWEEN0], c)
    elif c >= REF:  # s<j> inside step k > j
        j = c - REF + 1
        out[:, _STEP0 + j:_BETWEEN0] = _expr(s[:, _STEP0 + j:_BETWEEN0], LEAF)
    elif c == STEP:
        out[:, _STEP0] = s[:, 0] << 1
        out[:, _STEP0 + 1:_BETWEEN0] = s[:, _BETWEEN0:_WIDTH - 1] << 1
    else:  # END_STEP
        out[:, _BETWEEN0:] = s[:, _STEP0:_BETWEEN0] & 1
    return out


def _pre(s: np.ndarray, c: int) -> np.ndarray:
    """The states that class ``c`` takes into the set ``s``."""
    out = np.zeros_like(s)
    if c in (LEAF, UNARY, BINARY):
        out[:, _FLAT] = _expr_pre(s[:, _FLAT], c)
        out[:, 0] = (out[:, _FLAT] >> 1) & 1
        out[:, _STEP0:_BETWEEN0] = _expr_pre(s[:, _STEP0:_BETWEEN0], c)
    elif c >= REF:
        j = c - REF + 1
        out[:, _STEP0 + j:_BETWEEN0] = _expr_pre(s[:, _STEP0 + j:_BETWEEN0], LEAF)
    elif c == STEP:
        out[:, 0] = (s[:, _STEP0] >> 1) & 1
        out[:, _BETWEEN0:_WIDTH - 1] = (s[:, _STEP0 + 1:_BETWEEN0] >> 1) & 1
    else:  # END_STEP
        out[:, _STEP0:_BETWEEN0] = s[:, _BETWEEN0:]
    return out


def _rows(canvas) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(canvas [B, W], eos [B], classes [B, W, N_CLASSES])``: which classes each position may hold."""
    ids = np.atleast_2d(np.asarray(canvas, dtype=np.int64))
    is_eos = ids == EOS_ID
    is_eos[:, 0] = False
    if not is_eos.any(axis=1).all():
        raise ValueError("every canvas needs its EOS placed (BOS, body, EOS, PAD...)")
    eos = is_eos.argmax(axis=1)
    classes = np.where((ids == MASK_ID)[..., None], True, TOKENS_OF.T[ids])  # (B, W, N_CLASSES)
    return ids, eos, classes


def _forward(eos: np.ndarray, classes: np.ndarray) -> list[np.ndarray]:
    """``fwd[i]`` [B, S]: the states before position ``i`` (a row's states stop at its EOS)."""
    B, W = classes.shape[:2]
    cap = (np.int64(1) << (eos + 1)) - 1  # (B,) no more slots open than positions left
    state = np.zeros((B, _WIDTH), dtype=np.int64)
    state[:, 0] = 1  # after BOS
    fwd = [state, state]
    for i in range(1, W - 1):
        nxt = np.zeros_like(state)
        for c in range(N_CLASSES):
            nxt |= np.where(classes[:, i, c, None], _step(state, c), 0)
        nxt[:, 1:_BETWEEN0] &= cap[:, None]
        state = np.where((i < eos)[:, None], nxt, state)
        fwd.append(state)
    return fwd


def _backward(eos: np.ndarray, classes: np.ndarray) -> list[list[np.ndarray]]:
    """``pre[i][c]`` [B, S]: the states before position ``i`` from which class ``c`` there can
    still end at the row's EOS (zero where the row has no such position)."""
    B, W = classes.shape[:2]
    accept = np.zeros((B, _WIDTH), dtype=np.int64)
    accept[:, _FLAT] = 1  # a complete flat expression, or two or more closed steps
    accept[:, _BETWEEN0 + 1:] = 1
    co = np.zeros((B, _WIDTH), dtype=np.int64)
    pre: list[list[np.ndarray]] = [[] for _ in range(W)]
    for i in range(W - 1, 0, -1):
        co = np.where((i == eos)[:, None], accept, co)
        if i >= W - 1:
            continue
        live = (i < eos)[:, None]
        pre[i] = [np.where(live, _pre(co, c), 0) for c in range(N_CLASSES)]
        here = np.zeros_like(co)
        for c in range(N_CLASSES):
            here |= np.where(classes[:, i, c, None], pre[i][c], 0)
        co = np.where(live, here, co)
    return pre


def completable(canvas) -> np.ndarray:
    """``[B]`` bool: whether each canvas's masked positions can be filled into a valid sequence
    ending at its EOS (one canvas ``[W]`` or several ``[B, W]``)."""
    ids, eos, classes = _rows(canvas)
    fwd = _forward(eos, classes)
    state = np.stack([fwd[e][b] for b, e in enumerate(eos)])
    return (state[:, _FLAT] & 1).astype(bool) | state[:, _BETWEEN0 + 1:].any(axis=1)


def feasible_tokens(canvas) -> np.ndarray:
    """``[B, W, V]`` bool: at each masked position, the tokens after which the canvas can still
    be completed (the other masked positions free); False at every other position.

    A canvas that cannot be completed at all has no feasible token anywhere.
    """
    ids, eos, classes = _rows(canvas)
    fwd = _forward(eos, classes)
    pre = _backward(eos, classes)
    B, W = ids.shape
    ok = np.zeros((B, W, N_CLASSES), dtype=bool)
    for i in range(1, W - 1):
        for c in range(N_CLASSES):
            ok[:, i, c] = (fwd[i] & pre[i][c]).any(axis=1)
    ok &= (ids == MASK_ID)[..., None]
    return ok @ TOKENS_OF.astype(np.int64) > 0  # (B, W, V)


def fill(canvas, scores) -> np.ndarray:
    """``[B, W]``: every masked position of each (completable) canvas filled, left to right, with
    its highest-scoring token among those that keep the canvas completable, so the result is
    a valid sequence. ``scores`` ``[B, W, V]``: higher is better (``-inf``: never).
    """
    ids, eos, classes = _rows(canvas)
    scores = np.asarray(scores, dtype=np.float64).reshape(ids.shape + (len(VOCAB),))
    pre = _backward(eos, classes)
    out = ids.copy()
    state = np.zeros((ids.shape[0], _WIDTH), dtype=np.int64)
    state[:, 0] = 1
    for i in range(1, ids.shape[1] - 1):
        live = i < eos
        masked = live & (ids[:, i] == MASK_ID)
        if masked.any():
            ok = np.stack([(state & pre[i][c]).any(axis=1) for c in range(N_CLASSES)], axis=1)  # (B, C)
            allowed = ok @ TOKENS_OF.astype(np.int64) > 0  # (B, V)
            if not allowed[masked].any(axis=1).all():
                raise ValueError("fill needs canvases that can be completed (see completable)")
            out[masked, i] = np.where(allowed, scores[:, i], -np.inf).argmax(axis=1)[masked]
        cls = CLASS_OF[out[:, i]]
        nxt = np.zeros_like(state)
        for c in np.unique(cls[live]):
            nxt |= np.where((cls == c)[:, None], _step(state, int(c)), 0)
        state = np.where(live[:, None], nxt, state)
    return out


__all__ = ["CLASS_OF", "completable", "feasible_tokens", "fill"]
