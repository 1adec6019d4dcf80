"""Greedy and beam-search decoding for the autoregressive decoder.

No KV cache: each step re-runs the decoder on the whole prefix (at most 48 tokens), with
all beams batched into one forward; a single memory row's keys and values are projected
once per layer for the whole batch. Sequences hold at most ``max_len`` tokens, BOS and
EOS included (the training canvas length).

``constrained=True`` masks the next-token distribution with :func:`repair.allowed_next`,
so every finished sequence is grammatical and fits in ``max_len``. Unconstrained decoding
only removes BOS, MASK and PAD, which are never AR targets.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from physdocs.decoding.repair import allowed_next, unused_variables
from physdocs.grammar import BOS_ID, EOS_ID, MASK_ID, PAD_ID, VOCAB
from physdocs.models.system import Memory

_NEVER = torch.zeros(len(VOCAB), dtype=torch.bool)
_NEVER[[BOS_ID, MASK_ID, PAD_ID]] = True


@dataclass(frozen=True)
class Beam:
    """A decoded sequence: ``tokens`` from BOS (to EOS when ``finished``).

    ``logprob`` is the summed log-probability of the generated tokens (under the masked
    distribution when constrained); ``score = logprob / n_generated ** length_penalty``.
    """

    tokens: tuple[str, ...]
    logprob: float
    score: float
    finished: bool


def _max_len(model: torch.nn.Module, max_len: int | None) -> int:
    limit = model.cfg.ar.max_len
    return limit if max_len is None else min(max_len, limit)


def _allowed(prefixes: list[list[int]], max_len: int, constrained: bool, n_vars: int | None) -> torch.Tensor:
    """[A, V] bool mask for the next token of each prefix."""
    if not constrained:
        ok = ~_NEVER & ~torch.from_numpy(unused_variables(n_vars))  # (V,)
        return ok.expand(len(prefixes), -1)
    return torch.from_numpy(np.stack([allowed_next(p, max_len, n_vars) for p in prefixes]))


def _next_logprobs(model, memory: Memory, prefixes: list[list[int]], rows: torch.Tensor) -> torch.Tensor:
    """[A, V] log-probabilities of the next token; ``rows [A]`` picks each prefix's memory row."""
    dev = memory.keys.device
    toks = torch.tensor(prefixes, dtype=torch.long, device=dev)  # (A, T)
    keys, mask = memory.keys, memory.mask  # one memory row is shared by every prefix (projected once)
    if memory.keys.shape[0] > 1:
        keys = memory.keys[rows.to(dev)]  # (A, M, D)
        mask = None if memory.mask is None else memory.mask[rows.to(dev)]
    logits, _ = model.ar_decoder(toks, keys, memory_mask=mask)  # (A, T, V)
    return logits[:, -1].double().log_softmax(dim=-1).cpu()  # (A, V)


def _decode_rows(model, memory: Memory, memory_rows: list[int], L: int, constrained: bool, n_vars: int | None,
                 pick) -> list[Beam]:
    """One sequence per entry of ``memory_rows``, token by token; ``pick(logp [A, V]) -> [A]`` chooses."""
    n = len(memory_rows)
    seqs = [[BOS_ID] for _ in range(n)]
    logprob = [0.0] * n
    done = [False] * n
    for _ in range(L - 1):  # live rows all hold the same number of tokens
        live = [b for b in range(n) if not done[b]]
        if not live:
            break
        prefixes = [seqs[b] for b in live]
        logp = _next_logprobs(model, memory, prefixes, torch.tensor([memory_rows[b] for b in live]))
        logp = logp.masked_fill(~_allowed(prefixes, L, constrained, n_vars), float("-inf"))  # (A, V)
        chosen = pick(logp)
        for row, b in enumerate(live):
            tok = int(chosen[row])
            if not np.isfinite(float(logp[row, tok])):
                done[b] = True  # nothing allowed: leave unfinished
                continue
            seqs[b].append(tok)
            logprob[b] += float(logp[row, tok])
            done[b] = tok == EOS_ID
    return [Beam(tuple(VOCAB[t] for t in seqs[b]), logprob[b], logprob[b], seqs[b][-1] == EOS_ID) for b in range(n)]


@torch.inference_mode()
def greedy_decode(
    model: torch.nn.Module,
    memory: Memory,
    max_len: int | None = None,
    *,
    constrained: bool = True,
    n_vars: int | None = None,
) -> list[Beam]:
    """Argmax decoding for every memory row at once; one :class:`Beam` per row.

    ``n_vars`` bans the variables beyond the data's columns (with or without ``constrained``).
    """
    was_training = model.training
    model.eval()
    rows = list(range(memory.keys.shape[0]))
    out = _decode_rows(model, memory, rows, _max_len(model, max_len), constrained, n_vars, lambda lp: lp.argmax(-1))
    if was_training:
        model.train()
    return out


@torch.inference_mode()
def beam_search(
    model: torch.nn.Module,
    memory: Memory,
    beam_size: int = 8,
    max_len: int | None = None,
    *,
    length_penalty: float = 0.0,
    constrained: bool = True,
    n_vars: int | None = None,
) -> list[Beam]:
    """Beam search for one memory row (``memory.keys [1, M, D]``); beams sorted by score.

    Each step expands every live beam in one batched forward and keeps the ``beam_size``
    best non-EOS continuations; continuations ending in EOS are set aside as finished. With
    ``length_penalty == 0`` (score = logprob, which only decreases) the search stops as soon
    as ``beam_size`` finished beams all beat the best live one. Returns up to ``beam_size``
    finished beams; if none finished (unconstrained, ran out of length), the live beams,
    marked ``finished=False``. ``n_vars`` bans the variables beyond the data's columns.
    """
    if memory.keys.shape[0] != 1:
        raise ValueError(f"beam_search decodes one memory row, got {memory.keys.shape[0]}")
    was_training = model.training
    model.eval()
    L = _max_len(model, max_len)
    V = len(VOCAB)

    def score(lp: float, n_tokens: int) -> float:
        return lp / max(n_tokens - 1, 1) ** length_penalty

    live: list[tuple[list[int], float]] = [([BOS_ID], 0.0)]
    finished: list[Beam] = []
    while live and len(live[0][0]) < L:
        prefixes = [seq for seq, _ in live]
        logp = _next_logprobs(model, memory, prefixes, torch.zeros(len(live), dtype=torch.long))
        logp = logp.masked_fill(~_allowed(prefixes, L, constrained, n_vars), float("-inf"))  # (A, V)
        total = torch.tensor([lp for _, lp in live], dtype=torch.float64)[:, None] + logp  # (A, V)
        values, flat = total.flatten().topk(min(2 * beam_size, total.numel()))
        new_live: list[tuple[list[int], float]] = []
        for value, index in zip(values.tolist(), flat.tolist(), strict=True):
            if not np.isfinite(value) or len(new_live) == beam_size:
                break
            a, tok = divmod(index, V)
            seq = prefixes[a] + [tok]
            if tok == EOS_ID:
                finished.append(Beam(tuple(VOCAB[t] for t in seq), value, score(value, len(seq)), True))
            else:
                new_live.append((seq, value))
        live = new_live
        if length_penalty == 0 and len(finished) >= beam_size and live:
            kth = sorted((b.score for b in finished), reverse=True)[beam_size - 1]
            if kth >= max(lp for _, lp in live):
                break
    if was_training:
        model.train()
    if not finished:
        finished = [Beam(tuple(VOCAB[t] for t in seq), lp, score(lp, len(seq)), False) for seq, lp in live]
    return sorted(finished, key=lambda b: b.score, reverse=True)[:beam_size]


@torch.inference_mode()
def sample_decode(
    model: torch.nn.Module,
    memory: Memory,
    n_samples: int,
    *,
    temperature: float = 1.0,
    generator: torch.Generator,
    max_len: int | None = None,
    constrained: bool = True,
    n_vars: int | None = None,
) -> list[Beam]:
    """``n_samples`` ancestral samples for one memory row, batched; ``score`` = ``logprob``.

    Tokens are drawn from ``softmax(logits / temperature)`` (masked like :func:`greedy_decode`);
    ``logprob`` is under the temperature-1 distribution. Random numbers come from ``generator``
    on the CPU, so samples do not depend on the device.
    """
    if memory.keys.shape[0] != 1:
        raise ValueError(f"sample_decode decodes one memory row, got {memory.keys.shape[0]}")
    if temperature <= 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    was_training = model.training
    model.eval()

    def gumbel_max(logp: torch.Tensor) -> torch.Tensor:
        u = torch.rand(logp.shape, generator=generator, dtype=torch.float64).clamp(1e-20, 1 - 1e-12)
        return (logp / temperature - torch.log(-torch.log(u))).argmax(-1)

    out = _decode_rows(model, memory, [0] * n_samples, _max_len(model, max_len), constrained, n_vars, gumbel_max)
    if was_training:
        model.train()
    return out
