"""Numbers the whole package shares, each declared once (imports nothing, so every layer can)."""

from __future__ import annotations

#: Longest model sequence, BOS, EOS and STEP markers included: the decoders' canvas, the
#: generator's limit and the benchmark's check.
MAX_TOKENS = 48
#: Held-out R^2 above which an equation counts as derived.
R2_THRESHOLD = 0.99
#: The seed of every run unless one is given.
DEFAULT_SEED = 2026
#: Two-sided level of every interval and test (95% intervals).
ALPHA = 0.05
#: Held-out R^2 below which ``derive`` reports "no formula found" rather than a law.
FOUND_R2 = 0.9
