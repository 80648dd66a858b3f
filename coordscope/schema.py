"""Every table's columns and types, and the constants the stages share: one place.

Events
    Every reader in :mod:`coordscope.datasets` produces a :class:`polars.DataFrame` with
    exactly the columns of :data:`EVENT_SCHEMA`, in that order, optionally followed by
    platform-specific columns whose names start with ``x_``.
Actions
    One row per (event, key) of a signal (:data:`ACTION_SCHEMA`, :data:`SIGNALS`).
Pairs
    Native edges (:data:`EDGE_SCHEMA`) and their evidence rows (:data:`EVIDENCE_SCHEMA`);
    the significance columns an audit adds (:data:`SIGNIFICANCE_COLUMNS`) and the candidate
    groups it tests (:data:`GROUP_SCHEMA`).
Audit outputs
    ``edges.parquet`` (:data:`AUDIT_EDGE_SCHEMA`), ``nodes.csv`` (:data:`NODE_SCHEMA`),
    ``clusters.parquet`` (:data:`CLUSTER_SCHEMA`), ``bursts.parquet`` (:data:`BURST_SCHEMA`).

Integers
    Every integer column of an output table (the files ``audit`` and ``detect`` write,
    and the same tables of :class:`~coordscope.results.AuditTables` and
    :class:`~coordscope.results.DetectResult`) is signed: counts are ``Int32`` where one
    run's rows bound them (keys of a pair, events, partners, sizes; a count past
    ``2**31 - 1`` stops the run at its checked cast, never wraps) and ``Int64`` where they
    multiply or add up (``n_coactions`` of an edge, ``strength``, ``n_edges``). Spark,
    DuckDB and pandas read them as they are; an unsigned 64-bit column would reach Spark
    as ``Decimal(20,0)``, and NumPy makes floats of uint64 mixed with int64. Unsigned
    integers stay inside, where they are hashes or row numbers (``event`` of
    :data:`ACTION_SCHEMA`).

This module is a leaf: it imports nothing of coordscope but :mod:`coordscope.errors`.
"""

from __future__ import annotations

from typing import Final, Literal, TypeAlias

import polars as pl

from coordscope.errors import SchemaError

__all__ = [
    "ACTION_SCHEMA",
    "ACTOR_CREATED",
    "ACTOR_ID",
    "ACTOR_NAME",
    "AUDIT_EDGE_SCHEMA",
    "BURST_MEMBER_SCHEMA",
    "BURST_SCHEMA",
    "CHANNEL",
    "CLUSTER_SCHEMA",
    "DEFAULT_SIGNALS",
    "DETECT_NODE_SCHEMA",
    "EDGE_SCHEMA",
    "EVENT_ID",
    "EVENT_SCHEMA",
    "EVIDENCE_SCHEMA",
    "EXACT_SIGNALS",
    "EXTRA_PREFIX",
    "GROUP_SCHEMA",
    "HASHTAGS",
    "KIND",
    "KINDS",
    "KIND_DTYPE",
    "LIST_COLUMNS",
    "MEDIA",
    "MEMBERSHIP_SCHEMA",
    "MENTIONS",
    "NODE_SCHEMA",
    "OBJECT_ID",
    "PLATFORM",
    "PLATFORMS",
    "REJECT_SCHEMA",
    "REQUIRED_COLUMNS",
    "SIGNALS",
    "SIGNIFICANCE_COLUMNS",
    "TEXT",
    "TEXT_RULES",
    "TRUTH_SCHEMA",
    "TS",
    "TS_DTYPE",
    "URLS",
    "US",
    "EventFrame",
    "TextRule",
    "count_events",
    "empty_events",
    "event_columns",
    "validate_events",
]

EVENT_ID: Final = "event_id"
PLATFORM: Final = "platform"
ACTOR_ID: Final = "actor_id"
ACTOR_NAME: Final = "actor_name"
TS: Final = "ts"
KIND: Final = "kind"
OBJECT_ID: Final = "object_id"
TEXT: Final = "text"
URLS: Final = "urls"
HASHTAGS: Final = "hashtags"
MENTIONS: Final = "mentions"
MEDIA: Final = "media"
CHANNEL: Final = "channel"
ACTOR_CREATED: Final = "actor_created"

#: Prefix of the optional platform-specific columns that may follow the canonical ones.
EXTRA_PREFIX: Final = "x_"

#: The event kinds, in the order of the ``kind`` Enum.
KINDS: Final = ("post", "repost", "quote", "reply", "forward", "comment", "reaction")

#: Platforms coordscope's readers produce; any other lower-case name is accepted too.
PLATFORMS: Final = ("twitter", "telegram", "facebook", "instagram", "generic")

TS_DTYPE: Final = pl.Datetime("us", "UTC")
KIND_DTYPE: Final = pl.Enum(list(KINDS))

#: The canonical event schema every input format is read into, in column order.
EVENT_SCHEMA: Final[dict[str, pl.DataType]] = {
    EVENT_ID: pl.String(),
    PLATFORM: pl.Categorical(),
    ACTOR_ID: pl.String(),
    ACTOR_NAME: pl.String(),
    TS: TS_DTYPE,
    KIND: KIND_DTYPE,
    OBJECT_ID: pl.String(),
    TEXT: pl.String(),
    URLS: pl.List(pl.String()),
    HASHTAGS: pl.List(pl.String()),
    MENTIONS: pl.List(pl.String()),
    MEDIA: pl.List(pl.String()),
    CHANNEL: pl.String(),
    ACTOR_CREATED: TS_DTYPE,
}

#: Columns that may never hold a null.
REQUIRED_COLUMNS: Final = (EVENT_ID, PLATFORM, ACTOR_ID, TS, KIND)

#: Columns holding lists of keys (never an empty string inside).
LIST_COLUMNS: Final = (URLS, HASHTAGS, MENTIONS, MEDIA)


#: Microseconds per second: timestamps are ``Datetime("us", "UTC")``, windows are seconds.
US: Final = 1_000_000

#: Seconds per microsecond. Durations in µs become seconds by multiplying by it, never by
#: dividing by :data:`US`: polars divides a column by a number as a multiplication by its
#: reciprocal but folds a one-row division exactly, so a division would give values that
#: depend on how the rows were cut into pieces (a last-digit difference).
SECONDS_PER_US: Final = 1.0 / US

# ----------------------------------------------------------------------------- actions

#: Every signal name: what counts as "the same thing" for a co-action.
SIGNALS: Final = (
    "co_share", "co_quote", "co_reply", "co_link", "co_domain", "co_hashtag", "co_mention",
    "co_text", "co_similar", "co_media", "co_post", "co_created",
)  # fmt: skip

#: Signals whose keys come straight from the events, without a grouping stage
#: (``co_similar`` keys are near-duplicate groups, :mod:`coordscope.signals.similar`;
#: ``co_media`` keys are exact media ids, or groups of perceptual hashes,
#: :mod:`coordscope.signals.media`). :func:`coordscope.signals.actions.actions` serves
#: every signal of :data:`SIGNALS`.
EXACT_SIGNALS: Final = tuple(s for s in SIGNALS if s != "co_similar")

#: Signals ``coordscope audit`` scores when ``--signals`` is not given. ``co_similar``
#: (near-duplicate text) is used when the near-duplicate stage is available.
DEFAULT_SIGNALS: Final[tuple[str, ...]] = (
    "co_share",
    "co_link",
    "co_hashtag",
    "co_text",
    "co_similar",
)

TextRule = Literal["default", "toolkit", "exact"]
#: ``default``: NFKC, lower-case, URLs and @mentions removed, whitespace collapsed.
#: ``toolkit``: exactly coordination-network-toolkit's co_tweet key (:func:`toolkit_text`).
#: ``exact``: the text as exported, stripped.
TEXT_RULES: Final = ("default", "toolkit", "exact")

#: Actions: one row per (event, key) of a signal; ``event`` is the event's row number.
ACTION_SCHEMA: Final[dict[str, pl.DataType]] = {
    "signal": pl.String(),
    "key": pl.String(),
    ACTOR_ID: pl.String(),
    TS: pl.Datetime("us", "UTC"),
    EVENT_ID: pl.String(),
    "event": pl.UInt32(),
}

# ----------------------------------------------------------------------------- pairs

#: Native edges: one row per account pair (``actor_a < actor_b``) that co-acted.
EDGE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_a": pl.String(),
    "actor_b": pl.String(),
    "n_keys": pl.Int32(),
    "n_coactions": pl.Int64(),
    "min_dt": pl.Float64(),
    "median_dt": pl.Float64(),
    "first_ts": pl.Datetime("us", "UTC"),
    "last_ts": pl.Datetime("us", "UTC"),
    "signals": pl.List(pl.String()),
}

#: Evidence: one row per (pair, signal, key), the two events of its closest co-action.
EVIDENCE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_a": pl.String(),
    "actor_b": pl.String(),
    "signal": pl.String(),
    "key": pl.String(),
    "n_coactions": pl.Int32(),
    "dt": pl.Float64(),
    "event_a": pl.String(),
    "event_b": pl.String(),
    "ts_a": pl.Datetime("us", "UTC"),
    "ts_b": pl.Datetime("us", "UTC"),
}

#: Columns the significance stage (:mod:`coordscope.stats.significance`) adds to native edges.
SIGNIFICANCE_COLUMNS: Final[dict[str, pl.DataType]] = {
    "expected": pl.Float64(),  # expected co-acted keys under the null model
    "pvalue": pl.Float64(),  # combined pair p-value (Simes across signals)
    "qvalue": pl.Float64(),  # Benjamini–Hochberg q-value
    "significant": pl.Boolean(),  # qvalue <= alpha
    "evidence": pl.String(),  # which test(s) made the edge: "sync", "cooc", "sync+cooc", "" …
}

#: Candidate groups: one row per group tested.
GROUP_SCHEMA: Final[dict[str, pl.DataType]] = {
    "group": pl.Int64(),
    "members": pl.List(pl.String()),
    "statistic": pl.Float64(),
    "expected": pl.Float64(),
    "pvalue": pl.Float64(),
    "qvalue": pl.Float64(),
    "significant": pl.Boolean(),
}

# ----------------------------------------------------------------------------- outputs

#: ``edges.parquet`` of an audit: native pair columns, significance columns, and the
#: cluster both accounts belong to (null when they are in different clusters or none).
AUDIT_EDGE_SCHEMA: Final[dict[str, pl.DataType]] = {
    **EDGE_SCHEMA,
    **SIGNIFICANCE_COLUMNS,
    "cluster": pl.Int64(),
}

#: ``nodes.csv``: one row per account that appears in the events.
NODE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "actor_id": pl.String(),
    "actor_name": pl.String(),
    "n_events": pl.Int32(),  # events of the account (accepted rows)
    "n_actions": pl.Int32(),  # actions over the audited signals
    "first_ts": TS_DTYPE,
    "last_ts": TS_DTYPE,
    "degree": pl.Int32(),  # distinct partners over all edges
    "sig_degree": pl.Int32(),  # distinct partners over significant edges
    "strength": pl.Int64(),  # sum of n_keys over significant edges
    "cluster": pl.Int64(),  # cluster id (rank in clusters.parquet), null = none
    "flagged": pl.Boolean(),  # member of a significant cluster
}

#: ``clusters.parquet``, ranked by ``score`` (flagged clusters first); ``cluster`` is
#: the 1-based rank.
CLUSTER_SCHEMA: Final[dict[str, pl.DataType]] = {
    "cluster": pl.Int64(),
    # stable id of a flagged cluster ("C-YYYYMMDD-xxxxxx"), kept across daily runs by
    # member overlap (coordscope.graphs.lineage); null when not flagged
    "campaign": pl.String(),
    "members": pl.List(pl.String()),
    "size": pl.Int32(),
    "n_edges": pl.Int64(),  # significant edges inside the cluster
    "density": pl.Float64(),  # n_edges / (size·(size−1)/2)
    "n_keys": pl.Int32(),  # distinct keys pushed by ≥ 2 members in a co-action
    "top_keys": pl.List(pl.String()),  # up to 10, most co-acting pairs first
    "signals": pl.List(pl.String()),  # signals with co-actions inside the cluster
    "median_dt": pl.Float64(),  # seconds, median of the closest Δt over (pair, key)
    "first_ts": TS_DTYPE,
    "last_ts": TS_DTYPE,
    "statistic": pl.Float64(),  # group test: observed co-actions on held-out keys
    "expected": pl.Float64(),  # group test: expectation under the null
    "pvalue": pl.Float64(),
    "qvalue": pl.Float64(),
    "significant": pl.Boolean(),
    "score": pl.Float64(),
    # CooRnet's component summary
    "mean_strength": pl.Float64(),  # mean over members of the summed n_keys
    "mean_degree": pl.Float64(),  # mean number of partners inside the cluster
    "coordinated_share": pl.Float64(),  # members' actions that are in a co-action / all
    "domain_gini": pl.Float64(),  # Gini index of the members' link domains (null: no links)
    "top_domains": pl.List(pl.String()),  # up to 5
}

#: ``bursts.parquet``, ranked by ``score``; ``burst`` is the 1-based rank.
BURST_SCHEMA: Final[dict[str, pl.DataType]] = {
    "burst": pl.Int64(),
    "signal": pl.String(),
    "key": pl.String(),
    "start": TS_DTYPE,
    "end": TS_DTYPE,
    "actions": pl.Int32(),
    "actors": pl.Int32(),
    "synchrony": pl.Float64(),
    "cluster_share": pl.Float64(),  # share of its actors in flagged clusters
    "recurrence": pl.Int32(),  # other bursts driven by the same accounts
    "cluster": pl.Int64(),  # the cluster with most actors in the burst, null = none
    "score": pl.Float64(),
}

#: Rows of :func:`coordscope.graphs.clusters.membership`: accounts in clusters.
MEMBERSHIP_SCHEMA: Final[dict[str, pl.DataType]] = {
    ACTOR_ID: pl.String(),
    "cluster": pl.Int64(),
    "flagged": pl.Boolean(),
}

#: Rows of :func:`coordscope.stats.bursts.burst_members`: one per (burst, account).
BURST_MEMBER_SCHEMA: Final[dict[str, pl.DataType]] = {
    "burst": pl.Int64(),
    ACTOR_ID: pl.String(),
    "actions": pl.Int32(),
    "first_ts": TS_DTYPE,
}


#: ``nodes.csv`` of ``coordscope detect`` (native and reference modes): each account's
#: activity and its degree (distinct partners) in the run's edge table.
DETECT_NODE_SCHEMA: Final[dict[str, pl.DataType]] = {
    ACTOR_ID: pl.String(),
    ACTOR_NAME: pl.String(),
    "n_events": pl.Int32(),
    "first_ts": TS_DTYPE,
    "last_ts": TS_DTYPE,
    "degree": pl.Int32(),
}

#: ``rejects.csv``: one row per input record that could not be read (file, 1-based
#: record number, reason).
REJECT_SCHEMA: Final[dict[str, pl.DataType]] = {
    "source": pl.String(),
    "record": pl.Int64(),
    "reason": pl.String(),
}

#: ``truth.parquet`` of a simulation: one row per account, with its planted campaign
#: (null when organic), the campaign's style, keys, signal and active span.
TRUTH_SCHEMA: Final[dict[str, pl.DataType]] = {
    ACTOR_ID: pl.String(),
    "campaign": pl.String(),
    "style": pl.String(),
    "coordinated": pl.Boolean(),
    "keys": pl.List(pl.String()),
    "signal": pl.String(),
    "start": TS_DTYPE,
    "end": TS_DTYPE,
}


#: Canonical events held in memory, or a lazy scan of them (a run that must not hold
#: every event reads the columns each stage needs from a file, when it needs them).
EventFrame: TypeAlias = pl.DataFrame | pl.LazyFrame


def event_columns(events: EventFrame) -> list[str]:
    """Return the column names of an event table, held or lazy (no row is read)."""
    return events.collect_schema().names()


def count_events(events: EventFrame) -> int:
    """Return the number of rows of an event table, held or lazy (a scan of no column)."""
    if isinstance(events, pl.DataFrame):
        return events.height
    return int(events.select(pl.len()).collect().item())


def empty_events() -> pl.DataFrame:
    """Return an empty event table with the canonical schema."""
    return pl.DataFrame(schema=EVENT_SCHEMA)


def validate_events(events: EventFrame) -> EventFrame:
    """Check that a table follows the canonical event schema and return it.

    Checks, in order: every canonical column is present, in canonical order, with its
    canonical type (timestamps in microseconds and UTC); extra columns start with ``x_``;
    required columns hold no null; list columns hold no empty string; ``actor_id`` and
    ``event_id`` are not empty. Cost ``O(n)``: one pass computing every count at once (a
    lazy table is streamed, not loaded).

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        The table to check. It is not modified.

    Returns
    -------
    polars.DataFrame or polars.LazyFrame
        ``events`` itself, so the call can be chained.

    Raises
    ------
    SchemaError
        On the first violation, naming the column.
    """
    schema = events.collect_schema()
    names = schema.names()
    for name, dtype in EVENT_SCHEMA.items():
        if name not in schema:
            raise SchemaError(f"column '{name}' is missing from the event table")
        got = schema[name]
        if got != dtype:
            raise SchemaError(f"column '{name}' has type {got}, expected {dtype}")
    canonical = list(EVENT_SCHEMA)
    if names[: len(canonical)] != canonical:
        raise SchemaError(f"columns are not in canonical order: expected {canonical} first")
    for extra in names[len(canonical) :]:
        if not extra.startswith(EXTRA_PREFIX):
            raise SchemaError(f"column '{extra}' is not canonical and does not start with 'x_'")
    checks = [
        *(pl.col(name).null_count().alias(f"null:{name}") for name in REQUIRED_COLUMNS),
        *((pl.col(name) == "").sum().alias(f"empty:{name}") for name in (EVENT_ID, ACTOR_ID)),
        *(
            pl.col(name)
            .list.eval(pl.element().is_null() | (pl.element() == ""))
            .list.any()
            .sum()
            .alias(f"item:{name}")
            for name in LIST_COLUMNS
        ),
    ]
    found = events.lazy().select(checks).collect(engine="streaming").row(0, named=True)
    for name in REQUIRED_COLUMNS:
        if found[f"null:{name}"]:
            raise SchemaError(f"column '{name}' has {found[f'null:{name}']} null value(s)")
    for name in (EVENT_ID, ACTOR_ID):
        if found[f"empty:{name}"]:
            raise SchemaError(f"column '{name}' has {found[f'empty:{name}']} empty string(s)")
    for name in LIST_COLUMNS:
        if found[f"item:{name}"]:
            raise SchemaError(
                f"column '{name}' has {found[f'item:{name}']} row(s) with an empty or null item"
            )
    return events
