"""Models: one attention block with hook points, the Set Transformer encoder,
PhysDiffuser, the autoregressive decoder and the system that joins them."""

from physdocs.models.config import DecoderConfig, EncoderConfig, SystemConfig
from physdocs.models.decoders import AutoregressiveDecoder, PhysDiffuser
from physdocs.models.encoder import SetTransformerEncoder
from physdocs.models.hooks import ActivationCache, HookedModule, HookPoint
from physdocs.models.system import Memory, PhysDiffuserPlus, count_parameters

__all__ = [
    "ActivationCache",
    "AutoregressiveDecoder",
    "DecoderConfig",
    "EncoderConfig",
    "HookPoint",
    "HookedModule",
    "Memory",
    "PhysDiffuser",
    "PhysDiffuserPlus",
    "SetTransformerEncoder",
    "SystemConfig",
    "count_parameters",
]
