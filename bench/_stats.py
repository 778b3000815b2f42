"""Percentiles for the benches that report nearest-rank (rounded index) p50/p99 of their samples."""

from __future__ import annotations


def pct(values: list[float], p: float) -> float:
    """The p-th percentile (0..100) of ``values`` by rounded rank; NaN for no samples."""
    if not values:
        return float("nan")
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(p / 100 * (len(ordered) - 1))))
    return ordered[k]
