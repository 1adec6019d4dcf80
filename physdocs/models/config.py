"""Typed configs for the three models and the system that joins them."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Literal

from physdocs.constants import MAX_TOKENS
from physdocs.grammar import VOCAB


@dataclass(frozen=True)
class EncoderConfig:
    """Set Transformer over observation points (seed: 2 ISAB x 16 inducing points, PMA -> z of 256)."""

    input_dim: int = 160
    d_model: int = 128
    n_heads: int = 4
    n_isab: int = 2
    n_inducing: int = 16
    n_seeds: int = 1
    z_dim: int = 256
    dropout: float = 0.0

    def __post_init__(self) -> None:
        _check_heads("EncoderConfig", self.d_model, self.n_heads)


@dataclass(frozen=True)
class DecoderConfig:
    """Transformer over token positions; shared by the diffuser and the AR decoder."""

    vocab_size: int = len(VOCAB)
    max_len: int = MAX_TOKENS
    d_model: int = 128
    n_heads: int = 4
    n_layers: int = 4
    d_ff: int = 512
    dropout: float = 0.0
    # The diffuser's canvas length is the model's decision: a head on the encoder memory
    # predicts where EOS stands, so refinement steps go to equation positions only.
    # Checkpoints from before it have none (their length comes from the first pass).
    length_head: bool = False
    # The length head also reads every memory key through one attention query (the pooled
    # slot alone ranks the true length in its top 8 for two thirds of the benchmark). Its
    # output projection starts at zero, so weights trained without it load unchanged.
    length_pool: bool = False

    def __post_init__(self) -> None:
        _check_heads("DecoderConfig", self.d_model, self.n_heads)
        if self.length_pool and not self.length_head:
            raise ValueError("DecoderConfig.length_pool needs length_head=True")
        if self.max_len < 3:
            raise ValueError(f"DecoderConfig.max_len must be at least 3 (BOS, a token, EOS), got {self.max_len}")


def _check_heads(name: str, d_model: int, n_heads: int) -> None:
    if n_heads < 1 or d_model % n_heads:
        raise ValueError(f"{name}: d_model={d_model} must divide into n_heads={n_heads} equal heads")


@dataclass(frozen=True)
class SystemConfig:
    """PhysDiffuser+: encoder, cross-attention memory, diffuser and AR decoder.

    ``memory="points+pooled"`` gives one memory position per observation plus the
    pooled z, so cross-attention shows which observations each token reads; ``"pooled"`` is
    the seed's single slot, kept to show that softmax over one key is identically 1 (its
    maps are constant whatever the weights or the data).
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    diffuser: DecoderConfig = field(default_factory=lambda: DecoderConfig(length_head=True))
    ar: DecoderConfig = field(default_factory=DecoderConfig)
    memory: Literal["points+pooled", "pooled"] = "points+pooled"

    def __post_init__(self) -> None:
        if self.memory not in ("points+pooled", "pooled"):
            raise ValueError(f"SystemConfig.memory must be 'points+pooled' or 'pooled', got {self.memory!r}")

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> SystemConfig:
        return cls(
            encoder=EncoderConfig(**d["encoder"]),
            diffuser=DecoderConfig(**d["diffuser"]),
            ar=DecoderConfig(**d["ar"]),
            memory=d["memory"],
        )
