"""The package's own input errors: their message names the item at fault and the fix.

Import-free, so the report can recognise them (and turn them into one-line build errors)
without importing the layers that raise them.
"""

from __future__ import annotations


class InputError(Exception):
    """An input the user can fix: a weights file, a benchmark entry, observations, a figure."""


class WeightsError(InputError):
    """A missing, corrupted or mismatched checkpoint."""
