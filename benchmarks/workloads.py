"""Seeded synthetic workloads for the kernel benchmarks (no truth needed: speed only)."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import polars as pl

from coordscope.engine.kernel import count_band_pairs

__all__ = ["co_share_actions"]

_T0 = int(datetime(2024, 3, 1, tzinfo=UTC).timestamp() * 1_000_000)


def co_share_actions(
    n: int = 10_000_000,
    *,
    seed: int = 0,
    n_keys: int = 2_000_000,
    n_actors: int = 1_000_000,
    exponent: float = 0.7,
    days: float = 7.0,
) -> pl.DataFrame:
    """``co_share`` actions with skewed key popularity (the kernel workload).

    Key (retweeted object) popularity follows a power law ``rank ** -exponent`` (the most
    shared key gets ~39,000 of 10M shares); each key is first shared at a uniform time
    over ``days`` and its shares follow with lognormal delays (median 90 minutes, a heavy
    tail), which gives about 20M same-key pairs within 60 s at the defaults. Account
    activity is lognormal (heavy-tailed, no single account dominating). Deterministic by
    ``seed``.
    """
    rng = np.random.default_rng(seed)
    weights = np.arange(1, n_keys + 1, dtype=np.float64) ** -exponent
    key = rng.choice(n_keys, size=n, p=weights / weights.sum())
    start = rng.integers(0, int(days * 86_400e6), size=n_keys)
    delay = rng.lognormal(mean=np.log(5_400e6), sigma=1.9, size=n).astype(np.int64)
    ts = _T0 + start[key] + delay
    # account activity: heavy-tailed (lognormal weights), the busiest ~0.2 % of all shares
    activity = rng.lognormal(mean=0.0, sigma=1.5, size=n_actors)
    actor = rng.choice(n_actors, size=n, p=activity / activity.sum())
    return pl.DataFrame(
        {
            "signal": pl.repeat("co_share", n, eager=True),
            "key": pl.Series(key).cast(pl.String),
            "actor_id": pl.Series(actor).cast(pl.String),
            "ts": pl.Series(ts).cast(pl.Datetime("us")).dt.replace_time_zone("UTC"),
            "event_id": pl.int_range(n, eager=True).cast(pl.String),
            "event": pl.int_range(n, eager=True, dtype=pl.UInt32),
        }
    )


def in_window_pairs(actions: pl.DataFrame, window_s: float) -> int:
    """Same-key pairs within the window (different actors or not), without building them."""
    frame = actions.select(pl.col("key").hash().alias("k"), pl.col("ts").dt.epoch("us").alias("t"))
    frame = frame.sort(["k", "t"])
    return count_band_pairs(frame["k"].to_numpy(), frame["t"].to_numpy(), round(window_s * 1e6))
