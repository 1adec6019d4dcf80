"""Training batches: synthetic equations -> observations (multi-hot) + token tensors."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from physdocs.grammar import PAD_ID, TOKEN_TO_ID, count_constants
from physdocs.observations import ObservationError, encode_observations, normalise, sample_observations
from physdocs.training.generator import GeneratorConfig, sample_equation


@dataclass
class Batch:
    obs: torch.Tensor  # [batch, point, 160] multi-hot observations
    tokens: torch.Tensor  # [batch, max_len] BOS ... EOS PAD ...
    n_rejected: int  # equations whose observations could not be sampled
    skeletons: list[str]  # canonical skeleton key of each equation (memorisation audit)


def token_tensor(sequences: Sequence[Sequence[str]], length: int) -> torch.Tensor:
    """Token ids padded with PAD to ``length``; longer sequences are an error, never cut."""
    out = torch.full((len(sequences), length), PAD_ID, dtype=torch.long)
    for i, seq in enumerate(sequences):
        if len(seq) > length:
            raise ValueError(f"sequence {i} has {len(seq)} tokens, more than the model's max_len={length}")
        out[i, : len(seq)] = torch.tensor([TOKEN_TO_ID[t] for t in seq])
    return out


def draw_constants(rng: np.random.Generator, n: int) -> np.ndarray:
    """Values for fitted constants C: magnitudes log-uniform in [0.2, 5], either sign."""
    return np.exp(rng.uniform(np.log(0.2), np.log(5.0), n)) * rng.choice([-1.0, 1.0], n)


def add_noise(rng: np.random.Generator, y: np.ndarray, gen_cfg: GeneratorConfig) -> np.ndarray | None:
    """``y`` with relative Gaussian noise (sigma ~ U(0, max_noise)) for a ``p_noise`` share, else None."""
    if gen_cfg.p_noise <= 0 or rng.random() >= gen_cfg.p_noise:
        return None
    sigma = rng.uniform(0.0, gen_cfg.max_noise)
    return y * (1.0 + sigma * rng.standard_normal(y.shape))


def make_batch(rng: np.random.Generator, batch_size: int, gen_cfg: GeneratorConfig, max_len: int) -> Batch:
    """Sample ``batch_size`` fresh equations with 50 observations each (some with a noisy target)."""
    obs, seqs, keys, rejected = [], [], [], 0
    while len(seqs) < batch_size:
        eq = sample_equation(rng, gen_cfg)
        consts = draw_constants(rng, sum(count_constants(s) for s in eq.steps))
        try:
            o = sample_observations(eq.steps, eq.low, eq.high, rng=rng, constants=tuple(consts), max_tries=3,
                                    normalise_columns=gen_cfg.normalise)
            encoded = o.encoded
            noisy = add_noise(rng, o.y, gen_cfg)
            if noisy is not None:
                encoded = encode_observations(*(normalise(o.x, noisy) if gen_cfg.normalise else (o.x, noisy)))
        except ObservationError:
            rejected += 1
            continue
        obs.append(encoded)
        seqs.append(eq.tokens)
        keys.append(eq.skeleton)
    return Batch(
        obs=torch.from_numpy(np.stack(obs)),
        tokens=token_tensor(seqs, max_len),
        n_rejected=rejected,
        skeletons=keys,
    )


class BucketedBatches:
    """Batches of similar sequence length: ``buckets`` batches are drawn at once, sorted by
    token count, cut into batches and served in a random order.

    The AR decoder runs over the longest sequence of its batch; a batch drawn at random
    holds a 40-token equation next to 10-token ones (measured: batch maximum 43 against a
    mean of 17 tokens), so most AR positions were padding. The equations drawn, and the
    number per step, are those of :func:`make_batch`; only their grouping changes.
    """

    def __init__(self, rng: np.random.Generator, batch_size: int, gen_cfg: GeneratorConfig, max_len: int,
                 buckets: int = 4) -> None:
        self.rng, self.batch_size, self.gen_cfg, self.max_len, self.buckets = rng, batch_size, gen_cfg, max_len, buckets
        self.queue: list[Batch] = []

    def __next__(self) -> Batch:
        if not self.queue:
            big = make_batch(self.rng, self.batch_size * self.buckets, self.gen_cfg, self.max_len)
            order = torch.argsort((big.tokens != PAD_ID).sum(1), stable=True)
            parts = [order[i * self.batch_size:(i + 1) * self.batch_size] for i in range(self.buckets)]
            self.queue = [
                Batch(obs=big.obs[idx], tokens=big.tokens[idx], n_rejected=big.n_rejected if k == 0 else 0,
                      skeletons=[big.skeletons[int(i)] for i in idx])
                for k, idx in enumerate(parts)
            ]
            self.queue = [self.queue[int(i)] for i in self.rng.permutation(self.buckets)]
        return self.queue.pop()

    def __iter__(self) -> BucketedBatches:
        return self
