"""Seeded toolkit-format CSV workloads for the ``cnt`` counting mode.

Two workloads, both co-retweets read from a coordination-network-toolkit CSV and counted
with a 60-second window:

- ``viral=False``: ``rows`` reposts of many targets. Cascade sizes follow a power law
  (Pareto, exponent 1.2, capped at 5,000 reposts), each cascade starts at a uniform time
  over seven days and its reposts follow with lognormal delays (median 30 minutes); the
  reposting accounts are drawn with lognormal activity weights, so busy accounts repost
  some targets more than once. A few million in-window pairs.
- ``viral=True``: the same, with 40,000 of the rows (``rows // 25`` when fewer than a
  million rows) replaced by reposts of one target inside one hour, each by a different
  account, with exponentially decaying times (scale 255 s), which gives about 170M
  in-window pairs at ``W = 60`` s: every account pair among them is an edge in both
  directions.

Timestamps are whole seconds, as in exports of the X/Twitter API. Deterministic by
``seed``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Final

import numpy as np
import polars as pl

__all__ = ["VIRAL_REPOSTS", "make_cnt_workload", "run_cnt_coretweet"]

#: Reposts of the viral target in the ``viral`` workload (at one million rows).
VIRAL_REPOSTS: Final = 40_000
#: Time scale (s) of the viral burst: about 170M in-window pairs for 40,000 reposts at 60 s.
_VIRAL_SCALE_S: Final = 255.0
_T0: Final = 1_709_251_200  # 2024-03-01T00:00:00Z
_SPAN_S: Final = 7 * 86_400
_MAX_CASCADE: Final = 5_000


def make_cnt_workload(path: str | Path, *, rows: int, viral: bool, seed: int) -> Path:
    """Write a toolkit-format CSV of ``rows`` co-retweets (see the module docstring).

    Parameters
    ----------
    path : str or Path
        The CSV file to write (parent folders are created).
    rows : int
        Data rows (``>= 1``).
    viral : bool
        Replace 40,000 rows (``rows // 25`` for fewer than 1M rows) with one viral target.
    seed : int
        Seed of every random choice.

    Returns
    -------
    Path
        ``path``. Columns: ``message_id, user_id, username, repost_id, reply_id, message,
        timestamp, urls`` (``reply_id`` and ``urls`` empty).
    """
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    rng = np.random.default_rng(seed)
    n_viral = min(VIRAL_REPOSTS, rows // 25) if viral else 0
    n_background = rows - n_viral
    n_users = max(n_viral, rows // 5, 2)

    # background cascades: power-law sizes, lognormal delays after a uniform start
    sizes = np.minimum(np.floor(rng.pareto(1.2, size=n_background + 1) + 1), _MAX_CASCADE)
    sizes = sizes.astype(np.int64)
    n_cascades = int(np.searchsorted(np.cumsum(sizes), n_background)) + 1
    sizes = sizes[:n_cascades]
    sizes[-1] -= int(sizes.sum()) - n_background
    target = np.repeat(np.arange(n_cascades, dtype=np.int64), sizes)
    start = rng.integers(0, _SPAN_S, size=n_cascades)
    delay = rng.lognormal(mean=np.log(1800.0), sigma=1.5, size=n_background)
    ts = _T0 + start[target] + np.minimum(delay, 30 * 86_400).astype(np.int64)
    weights = rng.lognormal(sigma=1.5, size=n_users)
    user = rng.choice(n_users, size=n_background, p=weights / weights.sum())

    if n_viral:
        viral_ts = _T0 + _SPAN_S // 2 + _viral_offsets(rng, n_viral)
        viral_user = rng.choice(n_users, size=n_viral, replace=False)
        target = np.concatenate((target, np.full(n_viral, -1, dtype=np.int64)))
        ts = np.concatenate((ts, viral_ts))
        user = np.concatenate((user, viral_user))

    order = np.lexsort((np.arange(rows), ts))
    frame = pl.DataFrame({"target": target[order], "user": user[order], "ts": ts[order]})
    out = frame.select(
        (pl.lit("m") + pl.int_range(pl.len()).cast(pl.String)).alias("message_id"),
        (pl.lit("u") + pl.col("user").cast(pl.String)).alias("user_id"),
        (pl.lit("user") + pl.col("user").cast(pl.String)).alias("username"),
        pl.when(pl.col("target") < 0)
        .then(pl.lit("viral"))
        .otherwise(pl.lit("t") + pl.col("target").cast(pl.String))
        .alias("repost_id"),
        pl.lit("").alias("reply_id"),
        pl.lit("RT a post").alias("message"),
        pl.col("ts").alias("timestamp"),
        pl.lit("").alias("urls"),
    )
    target_path = Path(path)
    target_path.parent.mkdir(parents=True, exist_ok=True)
    out.write_csv(target_path)
    return target_path


def run_cnt_coretweet(path: Path) -> int:
    """What the benchmark times: the toolkit CSV → the ``co_retweet`` edges (W = 60 s).

    Returns the number of input rows.
    """
    from coordscope import read_events
    from coordscope.compat.cnt import cnt_edges

    events = read_events(path)
    cnt_edges(events, network="co_retweet", window=60.0)
    return events.height


def _viral_offsets(rng: np.random.Generator, n: int) -> np.ndarray:
    """Seconds after the viral post: exponential with scale 255 s, inside one hour."""
    offsets = rng.exponential(_VIRAL_SCALE_S, size=n)
    while (over := offsets >= 3600.0).any():
        offsets[over] = rng.exponential(_VIRAL_SCALE_S, size=int(over.sum()))
    return offsets.astype(np.int64)
