"""Small, aggregated tables the report shows, computed from an :class:`AuditTables`.

Everything here is vectorized (polars / numpy); the output is bounded by the report's
caps (top clusters, members, keys and posts shown), never by the size of the input.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.schema import ACTOR_ID, ACTOR_NAME, EVENT_ID, PLATFORM, TEXT, TS, US, EventFrame

__all__ = [
    "BUCKET_WIDTHS",
    "EVIDENCE_EVENT_SCHEMA",
    "Activity",
    "activity",
    "bucket_width",
    "cluster_keys",
    "cluster_members",
    "densest_window",
    "evidence_events",
    "flagged_actors",
    "network_subgraph",
    "platform_counts",
    "sample_posts",
]


#: Candidate widths of an activity bucket, in seconds (1 min … 1 year).
BUCKET_WIDTHS: Final = (
    60, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200,
    86_400, 2 * 86_400, 7 * 86_400, 14 * 86_400, 30 * 86_400, 91 * 86_400, 365 * 86_400,
)  # fmt: skip

#: Columns of :func:`evidence_events`.
EVIDENCE_EVENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "cluster": pl.Int64(),
    "signal": pl.String(),
    "key": pl.String(),
    ACTOR_ID: pl.String(),
    ACTOR_NAME: pl.String(),
    TS: pl.Datetime("us", "UTC"),
    EVENT_ID: pl.String(),
    TEXT: pl.String(),
}


def _memberships(clusters: pl.DataFrame) -> pl.DataFrame:
    """``cluster, actor_id``: one row per member of each cluster of ``clusters``."""
    return (
        clusters.select("cluster", pl.col("members").alias(ACTOR_ID))
        .explode(ACTOR_ID)
        .drop_nulls(ACTOR_ID)
    )


def evidence_events(
    coactions: pl.DataFrame, events: EventFrame, clusters: pl.DataFrame
) -> pl.DataFrame:
    """Return the timestamped events behind the co-actions inside each cluster.

    Only the clusters of ``clusters`` count.

    A co-action row (``EVIDENCE_SCHEMA``: one per pair, signal and key, with the two
    events of the closest co-action) counts for a cluster when both accounts are members
    of it; both of its events are returned, each once per (cluster, signal, key). An
    account in several clusters counts for the first (lowest-ranked) one only.
    Names and texts come from ``events`` (matched on ``event_id`` and ``actor_id``).
    Cost ``O(C + E)`` hash joins for ``C`` co-action rows and ``E`` events.

    Returns
    -------
    polars.DataFrame
        :data:`EVIDENCE_EVENT_SCHEMA`, sorted by cluster, key, time, account, event.
    """
    mem = _memberships(clusters).unique(ACTOR_ID, keep="first", maintain_order=True)
    ids, numbers = mem[ACTOR_ID], mem["cluster"]
    inside = (
        coactions.lazy()
        .with_columns(
            pl.col(f"actor_{s}")
            .replace_strict(ids, numbers, default=None, return_dtype=pl.Int64)
            .alias(f"cluster_{s}")
            for s in ("a", "b")
        )
        .filter(pl.col("cluster_a") == pl.col("cluster_b"))
    )
    subset = ["cluster", "signal", "key", ACTOR_ID, EVENT_ID, TS]
    # each side is deduplicated on its own first (most rows repeat an event: one per
    # partner), then the union; duplicates are identical rows, so "any" is deterministic
    long = (
        pl.concat(
            [
                inside.select(
                    pl.col("cluster_a").alias("cluster"),
                    "signal",
                    "key",
                    pl.col(f"actor_{s}").alias(ACTOR_ID),
                    pl.col(f"event_{s}").alias(EVENT_ID),
                    pl.col(f"ts_{s}").alias(TS),
                ).unique(subset=subset, keep="any")
                for s in ("a", "b")
            ]
        )
        .unique(subset=subset, keep="any")
        .collect()
    )
    info = (
        events.lazy()
        .select(EVENT_ID, ACTOR_ID, ACTOR_NAME, TEXT)
        .filter(pl.col(EVENT_ID).is_in(long[EVENT_ID].unique().implode()))
        .unique(subset=[EVENT_ID, ACTOR_ID], keep="first", maintain_order=True)
        .collect()
    )
    out = long.join(info, on=[EVENT_ID, ACTOR_ID], how="left")
    return out.select([pl.col(c).cast(t) for c, t in EVIDENCE_EVENT_SCHEMA.items()]).sort(
        ["cluster", "key", TS, ACTOR_ID, EVENT_ID, "signal"]
    )


def flagged_actors(nodes: pl.DataFrame, clusters: pl.DataFrame) -> pl.Series:
    """Return the accounts flagged by the audit, sorted.

    ``nodes.flagged``, plus the members of significant clusters (which is what flagged
    means, in case ``nodes`` is incomplete).
    """
    sig = _memberships(clusters.filter(pl.col("significant").fill_null(False)))[ACTOR_ID]
    flagged = nodes.filter(pl.col("flagged").fill_null(False))[ACTOR_ID]
    return pl.concat([flagged, sig]).unique().sort()


def bucket_width(span_s: float, *, max_buckets: int = 200) -> int:
    """Pick the activity bucket width (seconds) for a time span of ``span_s`` seconds.

    The smallest of :data:`BUCKET_WIDTHS` giving at most ``max_buckets`` buckets over
    ``span_s`` seconds (the widest one when none does).

    Examples
    --------
    >>> bucket_width(3600.0)  # an hour: 60 one-minute buckets
    60
    >>> bucket_width(86_400.0)  # a day: 288 five-minute buckets are too many, 144 are not
    600
    >>> bucket_width(1e12) == BUCKET_WIDTHS[-1]
    True
    """
    for width in BUCKET_WIDTHS:
        if span_s / width < max_buckets:
            return width
    return BUCKET_WIDTHS[-1]


@dataclass(frozen=True)
class Activity:
    """Events per time bucket.

    Attributes
    ----------
    start : numpy.ndarray
        Bucket starts, ``datetime64[us]`` (UTC, naive).
    total, flagged : numpy.ndarray
        Events per bucket, all accounts and flagged accounts (int64).
    width : int
        Bucket width in seconds.
    """

    start: npt.NDArray[np.datetime64]
    total: npt.NDArray[np.int64]
    flagged: npt.NDArray[np.int64]
    width: int


def activity(events: EventFrame, flagged: pl.Series, *, max_buckets: int = 200) -> Activity:
    """Count events per time bucket, all accounts and flagged accounts.

    Buckets are half-open ``[start, start + width)``, aligned to multiples of the width
    since the Unix epoch; empty buckets between the first and last event are kept (zero).
    Cost ``O(n)`` for ``n`` events (one integer division and two ``bincount``).
    """
    ts = (
        events.lazy()
        .select(
            pl.col(TS).cast(pl.Int64).alias("t"),
            pl.col(ACTOR_ID).is_in(flagged.implode()).alias("f"),
        )
        .drop_nulls("t")
        .collect()
    )
    if ts.height == 0:
        empty = np.zeros(0, dtype=np.int64)
        return Activity(np.zeros(0, dtype="datetime64[us]"), empty, empty, BUCKET_WIDTHS[0])
    t = ts["t"].to_numpy()
    lo, hi = int(t.min()), int(t.max())
    width = bucket_width((hi - lo) / US, max_buckets=max_buckets)
    w_us = width * US
    origin = (lo // w_us) * w_us
    b = (t - origin) // w_us
    total = np.bincount(b).astype(np.int64)
    fl = np.bincount(b, weights=ts["f"].to_numpy().astype(np.float64), minlength=total.size)
    starts = (origin + np.arange(total.size, dtype=np.int64) * w_us).astype("datetime64[us]")
    return Activity(starts, total, np.rint(fl).astype(np.int64), width)


def cluster_members(
    clusters: pl.DataFrame, nodes: pl.DataFrame, evidence: pl.DataFrame, *, cap: int
) -> pl.DataFrame:
    """Members of each cluster with name, activity and evidence-event count.

    Returns ``cluster, actor_id, actor_name, n_events, sig_degree, n_evidence, rank``
    (rank 0 = most evidence events), at most ``cap`` rows per cluster.
    """
    mem = _memberships(clusters)
    ev = evidence.group_by("cluster", ACTOR_ID).agg(pl.len().cast(pl.UInt32).alias("n_evidence"))
    info = nodes.select(ACTOR_ID, ACTOR_NAME, "n_events", "sig_degree").unique(
        ACTOR_ID, keep="first", maintain_order=True
    )
    out = (
        mem.join(info, on=ACTOR_ID, how="left")
        .join(ev, on=["cluster", ACTOR_ID], how="left")
        .with_columns(pl.col("n_evidence").fill_null(0))
        .sort(["cluster", "n_evidence", ACTOR_ID], descending=[False, True, False])
        .with_columns(pl.int_range(pl.len()).over("cluster").alias("rank"))
    )
    return out.filter(pl.col("rank") < cap)


def cluster_keys(clusters: pl.DataFrame, evidence: pl.DataFrame, *, cap: int) -> pl.DataFrame:
    """Return the keys each cluster pushed, at most ``cap`` per cluster.

    Columns ``cluster, signal, key, n_accounts, n_events, first_ts, last_ts, rank``, in
    the order of the cluster's ``top_keys`` then by accounts.
    """
    order = (
        clusters.select("cluster", pl.col("top_keys").alias("key"))
        .with_columns(pl.int_ranges(pl.col("key").list.len()).alias("pos"))
        .explode(["key", "pos"])
        .drop_nulls("key")
        .unique(["cluster", "key"], keep="first")
    )
    agg = evidence.group_by("cluster", "signal", "key").agg(
        pl.col(ACTOR_ID).n_unique().cast(pl.UInt32).alias("n_accounts"),
        pl.len().cast(pl.UInt32).alias("n_events"),
        pl.col(TS).min().alias("first_ts"),
        pl.col(TS).max().alias("last_ts"),
    )
    out = (
        agg.join(order, on=["cluster", "key"], how="left")
        .with_columns(pl.col("pos").fill_null(1 << 30))
        .sort(
            ["cluster", "pos", "n_accounts", "n_events", "key", "signal"],
            descending=[False, False, True, True, False, False],
        )
        .with_columns(pl.int_range(pl.len()).over("cluster").alias("rank"))
    )
    return out.filter(pl.col("rank") < cap).drop("pos")


def sample_posts(
    evidence: pl.DataFrame, keys: pl.DataFrame, *, per_key: int, cap: int
) -> pl.DataFrame:
    """Sample evidence events per cluster, at most ``cap`` per cluster.

    The first ``per_key`` events (by time) of each key in ``keys`` (in its rank order),
    at most ``cap`` per cluster, with ``gap`` — the seconds since the previous sampled
    event on the same key (null for the first).
    """
    ranked = evidence.join(
        keys.select("cluster", "signal", "key", pl.col("rank").alias("key_rank")),
        on=["cluster", "signal", "key"],
        how="inner",
    ).sort(["cluster", "key_rank", TS, ACTOR_ID, EVENT_ID])
    out = (
        ranked.with_columns(pl.int_range(pl.len()).over("cluster", "key_rank").alias("i"))
        .filter(pl.col("i") < per_key)
        .with_columns(pl.int_range(pl.len()).over("cluster").alias("j"))
        .filter(pl.col("j") < cap)
        .with_columns(
            (pl.col(TS).diff().over("cluster", "key_rank").dt.total_microseconds() / US).alias(
                "gap"
            )
        )
    )
    return out.drop("i", "j")


def densest_window(ts_us: npt.NDArray[np.int64], window_us: int) -> int:
    """Find the busiest window ``[t_i, t_i + window_us]`` (inclusive) of sorted times.

    Returns the index in ``ts_us`` (sorted times, microseconds) of the first event of the
    busiest such window; the earliest such one (``-1`` when ``ts_us`` is empty).
    ``O(n log n)``.
    """
    if ts_us.size == 0:
        return -1
    ends = np.searchsorted(ts_us, ts_us + window_us, side="right")
    return int(np.argmax(ends - np.arange(ts_us.size)))


def network_subgraph(
    clusters: pl.DataFrame, edges: pl.DataFrame, *, node_cap: int, edge_cap: int
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Nodes and edges of the network picture of ``clusters``.

    Each cluster keeps its ``max(3, node_cap // k)`` members (``k`` clusters) with the most
    partners over significant edges (ties by account id); edges are the significant ones
    between kept nodes, at most ``edge_cap`` (most keys first).

    Returns
    -------
    nodes : polars.DataFrame
        ``actor_id, cluster, degree``, sorted by cluster then account.
    edges : polars.DataFrame
        ``actor_a, actor_b, n_keys``, sorted by account pair.
    """
    mem = _memberships(clusters).unique(ACTOR_ID, keep="first", maintain_order=True)
    k = max(clusters.height, 1)
    per_cluster = max(3, node_cap // k)
    sig = edges.filter(pl.col("significant").fill_null(False)).select(
        "actor_a", "actor_b", "n_keys"
    )
    sig = sig.filter(
        pl.col("actor_a").is_in(mem[ACTOR_ID].implode())
        & pl.col("actor_b").is_in(mem[ACTOR_ID].implode())
    )
    deg = (
        pl.concat(
            [
                sig.select(pl.col("actor_a").alias(ACTOR_ID)),
                sig.select(pl.col("actor_b").alias(ACTOR_ID)),
            ]
        )
        .group_by(ACTOR_ID)
        .agg(pl.len().cast(pl.UInt32).alias("degree"))
    )
    nodes = (
        mem.join(deg, on=ACTOR_ID, how="left")
        .with_columns(pl.col("degree").fill_null(0))
        .sort(["cluster", "degree", ACTOR_ID], descending=[False, True, False])
        .filter(pl.int_range(pl.len()).over("cluster") < per_cluster)
        .sort(["cluster", ACTOR_ID])
        .select(ACTOR_ID, "cluster", "degree")
    )
    kept = nodes[ACTOR_ID].implode()
    out_edges = (
        sig.filter(pl.col("actor_a").is_in(kept) & pl.col("actor_b").is_in(kept))
        .sort(["n_keys", "actor_a", "actor_b"], descending=[True, False, False])
        .head(edge_cap)
        .sort(["actor_a", "actor_b"])
    )
    return nodes, out_edges


def platform_counts(events: EventFrame) -> pl.DataFrame:
    """``platform, n`` sorted by count (desc) then name."""
    return (
        events.lazy()
        .group_by(pl.col(PLATFORM).cast(pl.String))
        .agg(pl.len().alias("n"))
        .sort(["n", PLATFORM], descending=[True, False])
        .collect()
    )
