"""Wilson score intervals for success rates (torch-free: the evaluation and the report share it)."""

from __future__ import annotations

import math

#: z for a two-sided 95% interval.
Z95 = 1.959963984540054


def wilson_interval(successes: int, n: int, z: float = Z95) -> tuple[float, float]:
    """The Wilson score interval of ``successes / n`` (``(0, 1)`` when ``n`` is 0).

    Unlike the normal approximation it stays inside [0, 1] and is honest at 0 and n
    successes: 0 of 30 gives [0, 0.114], not [0, 0].
    """
    if n < 0 or not 0 <= successes <= n:
        raise ValueError(f"need 0 <= successes <= n; got {successes} of {n}")
    if n == 0:
        return 0.0, 1.0
    p = successes / n
    denom = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denom
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denom
    return max(0.0, centre - half), min(1.0, centre + half)


def rate_with_interval(flags: list[bool]) -> dict[str, float | int]:
    """``{"n", "k", "rate", "low", "high"}`` for a list of successes (rounded to 4 places)."""
    k, n = int(sum(bool(f) for f in flags)), len(flags)
    low, high = wilson_interval(k, n)
    return {"n": n, "k": k, "rate": round(k / n, 4) if n else 0.0, "low": round(low, 4), "high": round(high, 4)}
