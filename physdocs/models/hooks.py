"""Named hook points and the capture API.

A :class:`HookPoint` is an identity module placed on a tensor of interest (every
attention pattern). Its name is its path in the module tree, set by
:meth:`HookedModule.setup_hooks`, so names are never typed by hand:
``diffuser.layers.0.self_attn.hook_pattern``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import torch
from torch import nn

HookFn = Callable[[torch.Tensor, "HookPoint"], torch.Tensor | None]
NameFilter = Callable[[str], bool] | Sequence[str] | str | None


class HookPoint(nn.Module):
    """Identity on its input; hooks may read it or return a replacement."""

    def __init__(self) -> None:
        super().__init__()
        self.name: str = ""
        self._fns: list[HookFn] = []

    @property
    def has_hooks(self) -> bool:
        return bool(self._fns)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self._fns:
            out = fn(x, self)
            if out is not None:
                x = out
        return x


def _matcher(names_filter: NameFilter) -> Callable[[str], bool]:
    if names_filter is None:
        return lambda _: True
    if isinstance(names_filter, str):
        return lambda n: n == names_filter
    if callable(names_filter):
        return names_filter
    wanted = set(names_filter)
    return lambda n: n in wanted


class ActivationCache(dict):
    """``{hook name: tensor}`` from one forward pass (tensors detached, on CPU)."""


class HookedModule(nn.Module):
    """Mixin for the top-level model: hook discovery, temporary hooks, caching."""

    def setup_hooks(self) -> None:
        """Name every HookPoint by its path in the module tree; call at the end of ``__init__``."""
        for name, module in self.named_modules():
            if isinstance(module, HookPoint):
                module.name = name

    def hook_points(self) -> dict[str, HookPoint]:
        return {m.name: m for m in self.modules() if isinstance(m, HookPoint)}

    def hook_names(self) -> list[str]:
        return list(self.hook_points())

    @contextmanager
    def hooks(self, fwd_hooks: Sequence[tuple[NameFilter, HookFn]]) -> Iterator[HookedModule]:
        """Attach hooks for the duration of the block; always removed, even on error."""
        points = self.hook_points()
        added: list[tuple[HookPoint, HookFn]] = []
        try:
            for names_filter, fn in fwd_hooks:
                match = _matcher(names_filter)
                hits = [p for n, p in points.items() if match(n)]
                if not hits:
                    raise KeyError(f"no hook point matches {names_filter!r}; see hook_names()")
                for point in hits:
                    point._fns.append(fn)
                    added.append((point, fn))
            yield self
        finally:
            for point, fn in added:
                point._fns.remove(fn)

    def run_with_cache(self, *args, names_filter: NameFilter = None, method: str = "forward", **kwargs):
        """Run ``self.<method>(*args, **kwargs)``; return ``(output, ActivationCache)``."""
        cache = ActivationCache()

        def save(x: torch.Tensor, point: HookPoint) -> None:
            cache[point.name] = x.detach().cpu()

        with self.hooks([(names_filter, save)]):
            out = getattr(self, method)(*args, **kwargs)
        return out, cache
