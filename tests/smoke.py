"""A tiny training configuration for tests: a few steps of a small model."""

from __future__ import annotations

from dataclasses import replace

from physdocs.models import DecoderConfig, EncoderConfig, SystemConfig
from physdocs.training.loop import TrainConfig


def smoke_config(out_dir: str, steps: int = 3) -> TrainConfig:
    dec = DecoderConfig(d_model=32, n_heads=4, n_layers=2, d_ff=64)
    system = SystemConfig(encoder=EncoderConfig(d_model=32, z_dim=64), diffuser=dec, ar=dec)
    return replace(TrainConfig(), system=system, batch_size=8, max_steps=steps, warmup_steps=2,
                   val_every=2, val_batches=1, out_dir=out_dir)
