"""Estimating the coordination interval ``W`` from the data, as CooRnet does.

CooRnet's ``estimate_coord_interval`` (Giglietto, Righetti, Rossi & Marino 2020, "It takes a
village to manipulate the media", *Information, Communication & Society*) looks at how fast
keys (URLs) are shared a second time, keeps the quickest ``q`` share of keys, and measures
how long those keys take to reach a fraction ``p`` of their shares. The interval is the
median of those times — the 2023 correction, where ``p`` is only the share fraction and the
statistic is always the median (earlier releases took the ``p`` quantile, the same at the
default ``p = 0.5``). A result of 0 seconds is raised to 1 second, as CooRnet does.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import polars as pl

from coordscope.errors import ParameterError

__all__ = ["WindowEstimate", "estimate_window"]


@dataclass(frozen=True)
class WindowEstimate:
    """The estimated interval and the numbers behind it (all times in seconds)."""

    window: float
    keys_shared_twice: int
    quick_keys: int
    rank2_cutoff: float
    summary: dict[str, float]

    def as_dict(self) -> dict[str, object]:
        """JSON-ready form."""
        return {
            "window": self.window,
            "keys_shared_twice": self.keys_shared_twice,
            "quick_keys": self.quick_keys,
            "rank2_cutoff": self.rank2_cutoff,
            "summary": self.summary,
        }


def _quantile7(values: np.ndarray, q: float) -> float:
    """R's default quantile (type 7; numpy's 'linear')."""
    return float(np.quantile(values, q, method="linear"))


def estimate_window(actions: pl.DataFrame, *, q: float = 0.1, p: float = 0.5) -> WindowEstimate:
    """Estimate the coordination interval from actions (CooRnet, 2023 correction).

    Parameters
    ----------
    actions : polars.DataFrame
        Actions (``key``, ``ts``; see :func:`coordscope.signals.actions.actions`), usually
        ``co_link``. Rows keep their order as the tie-break between equal times.
    q : float
        Keep keys whose second share came at most at the ``q`` quantile (type 7) of all
        keys' second-share delays. In ``[0, 1]``.
    p : float
        For each kept key, the time (seconds after its first share) of the first share past
        the fraction ``p`` of its shares (``rank / count > p``). In ``[0, 1]``.

    Returns
    -------
    WindowEstimate
        ``window`` is the median of those times in seconds (1 when it is 0); ``summary`` has
        R's ``summary()`` figures of them (min, q1, median, mean, q3, max).

    Raises
    ------
    ParameterError
        ``p`` or ``q`` outside ``[0, 1]``, or no key shared at least twice.

    Notes
    -----
    Cost ``O(n log n)`` (one sort by key and time).
    """
    if not 0 <= p <= 1:
        raise ParameterError(f"p must be between 0 and 1, got {p}")
    if not 0 <= q <= 1:
        raise ParameterError(f"q must be between 0 and 1, got {q}")
    ranked = (
        actions.lazy()
        .select(pl.col("key"), pl.col("ts").dt.epoch("us").alias("t"))
        .with_row_index("order")
        .sort(["key", "t", "order"])
        .with_columns(
            pl.len().over("key").alias("count"),
            (pl.int_range(pl.len()).over("key") + 1).alias("rank"),
            ((pl.col("t") - pl.col("t").min().over("key")) / 1e6).alias("secs"),
        )
        .filter(pl.col("count") > 1)
        .collect()
    )
    if ranked.height == 0:
        raise ParameterError("no key is shared at least twice: the interval cannot be estimated")
    rank2 = ranked.filter(pl.col("rank") == 2).select("key", "secs")
    cutoff = _quantile7(rank2["secs"].to_numpy(), q)
    quick = rank2.filter(pl.col("secs") <= cutoff)["key"]
    reached = (
        ranked.filter(pl.col("key").is_in(quick.implode()))
        .filter(pl.col("rank") / pl.col("count") > p)
        .group_by("key")
        .agg(pl.col("secs").min())
    )
    secs = reached["secs"].to_numpy()
    if secs.size == 0:
        raise ParameterError(f"no quick key has shares past the fraction p = {p}")
    summary = {
        "min": float(secs.min()),
        "q1": _quantile7(secs, 0.25),
        "median": _quantile7(secs, 0.5),
        "mean": float(secs.mean()),
        "q3": _quantile7(secs, 0.75),
        "max": float(secs.max()),
    }
    window = summary["median"] if summary["median"] > 0 else 1.0
    return WindowEstimate(
        window=window,
        keys_shared_twice=int(rank2.height),
        quick_keys=int(quick.len()),
        rank2_cutoff=cutoff,
        summary=summary,
    )
