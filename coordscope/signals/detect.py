"""Co-action detection in one call: events → actions → pairs → edges, in any counting mode.

This is what ``coordscope detect`` and :func:`coordscope.coactions` / :func:`coordscope.edges`
run. The counting modes (design.md §5):

- ``native`` (default): undirected account pairs with ``n_keys`` (the primary weight),
  ``n_coactions``, ``min_dt``, ``median_dt``, ``first_ts``, ``last_ts``, ``signals``; the
  evidence table names the two events behind each (pair, key).
- ``coortweet``: CooRTweet 2.x ``detect_groups`` result rows and
  ``generate_coordinated_network`` edges, identical, with CooRTweet's column names.
- ``cnt``: coordination-network-toolkit's directed edge tables, identical, with its column
  names (``user_1, user_2, weight``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Final

import polars as pl

from coordscope.errors import ParameterError
from coordscope.schema import ACTOR_ID, ACTOR_NAME, TS
from coordscope.signals.actions import SIGNALS, TextRule, actions
from coordscope.signals.kernel import DEFAULT_MAX_PAIRS
from coordscope.signals.native import native_pairs

__all__ = ["MODES", "DetectResult", "coactions", "detect", "edges"]

MODES: Final = ("native", "coortweet", "cnt")


@dataclass
class DetectResult:
    """Tables of one detection run.

    Attributes
    ----------
    coactions : polars.DataFrame
        Evidence rows: native — one per (pair, signal, key) with the closest co-action's
        events; coortweet — CooRTweet's result rows (one per coordinated share pair);
        cnt — the toolkit's edge table itself (the toolkit keeps no per-message rows).
    edges : polars.DataFrame
        Native pair table, CooRTweet's network table, or the toolkit's directed edges.
    nodes : polars.DataFrame
        One row per account with activity counts and its degree in ``edges``.
    parameters : dict
        The parameters used.
    counts : dict
        Actions per signal, pairs, edges, accounts.
    timings : dict
        Seconds per stage.
    """

    mode: str
    coactions: pl.DataFrame
    edges: pl.DataFrame
    nodes: pl.DataFrame
    parameters: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, Any] = field(default_factory=dict)
    timings: dict[str, float] = field(default_factory=dict)


def _check(signals: Sequence[str], window: float, mode: str) -> list[str]:
    if mode not in MODES:
        raise ParameterError(f"--mode must be one of {', '.join(MODES)}, got '{mode}'")
    if isinstance(signals, str):
        signals = [signals]
    if not signals:
        raise ParameterError("give at least one --signal")
    for s in signals:
        if s not in SIGNALS:
            raise ParameterError(f"unknown signal '{s}'; choose from: {', '.join(SIGNALS)}")
    if window < 0:
        raise ParameterError(f"--window must be >= 0 seconds, got {window}")
    return list(dict.fromkeys(signals))


def detect(
    events: pl.DataFrame,
    *,
    signals: Sequence[str] | str,
    window: float,
    mode: str = "native",
    min_participation: int = 2,
    remove_loops: bool = True,
    edge_weight: float = 0.5,
    min_edge_weight: int = 1,
    text_rule: TextRule | None = None,
    min_text_length: int | None = None,
    max_pairs: int = DEFAULT_MAX_PAIRS,
    partitions: int = 2,
) -> DetectResult:
    """Detect co-actions of accounts and build the pair table in a counting mode.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (design.md §3).
    signals : str or sequence of str
        Signals of design.md §4 (``co_share``, ``co_link``, …); several are combined.
    window : float
        ``W`` in seconds; inclusive (``|Δt| <= W``).
    mode : {"native", "coortweet", "cnt"}
        Counting mode (see the module docstring).
    min_participation : int
        ``coortweet``: CooRTweet's ``min_participation``.
    remove_loops : bool
        ``coortweet``: CooRTweet's ``remove_loops``.
    edge_weight : float
        ``coortweet``: quantile of edge weights above which ``weight_threshold`` is 1.
    min_edge_weight : int
        ``native``: least ``n_keys`` of an edge; ``cnt``: the toolkit's minimum weight per
        direction.
    text_rule : {"default", "toolkit", "exact"}, optional
        ``co_text`` normalisation; ``toolkit`` in ``cnt`` mode, ``default`` otherwise.
    min_text_length : int, optional
        ``co_text``: shortest normalised text that counts (10 characters; 1 in ``cnt`` mode).
    max_pairs : int
        Co-action pairs materialised at once (the memory budget).
    partitions : int
        Key-hash partitions run in parallel (native mode).

    Returns
    -------
    DetectResult
    """
    signal_list = _check([signals] if isinstance(signals, str) else signals, window, mode)
    if min_edge_weight < 1:
        raise ParameterError(f"--min-edge-weight must be >= 1, got {min_edge_weight}")
    if min_participation < 1:
        raise ParameterError(f"--min-participation must be >= 1, got {min_participation}")
    if not 0 <= edge_weight <= 1:
        raise ParameterError(f"--edge-weight must be a quantile in [0, 1], got {edge_weight}")
    rule: TextRule = text_rule or ("toolkit" if mode == "cnt" else "default")
    min_len = min_text_length if min_text_length is not None else (1 if mode == "cnt" else 10)
    params: dict[str, Any] = {
        "signals": signal_list, "window": window, "mode": mode, "text_rule": rule,
        "min_text_length": min_len, "max_pairs": max_pairs,
    }  # fmt: skip
    timings: dict[str, float] = {}
    counts: dict[str, Any] = {}
    start = time.perf_counter()
    if mode == "native":
        acts = pl.concat(
            [
                actions(events, signal=s, text_rule=rule, min_text_length=min_len)
                for s in signal_list
            ]
        )
        counts["actions"] = dict(acts.group_by("signal").len().sort("signal").iter_rows())
        timings["actions"] = time.perf_counter() - start
        start = time.perf_counter()
        res = native_pairs(acts, window=window, max_pairs=max_pairs, partitions=partitions)
        edge_table = res.edges.filter(pl.col("n_keys") >= min_edge_weight)
        evidence = res.evidence
        if min_edge_weight > 1:
            evidence = evidence.join(
                edge_table.select("actor_a", "actor_b"), on=["actor_a", "actor_b"], how="semi"
            )
        params["min_edge_weight"] = min_edge_weight
        timings["pairs"] = time.perf_counter() - start
        degree_a, degree_b = "actor_a", "actor_b"
    elif mode == "coortweet":
        from coordscope.signals.coortweet_mode import coortweet_detect, coortweet_network

        result = coortweet_detect(
            events,
            signals=signal_list,
            time_window=window,
            min_participation=min_participation,
            remove_loops=remove_loops,
            max_pairs=max_pairs,
        )
        timings["pairs"] = time.perf_counter() - start
        start = time.perf_counter()
        edge_table = coortweet_network(result, edge_weight=edge_weight)
        evidence = result
        params.update(
            min_participation=min_participation, remove_loops=remove_loops, edge_weight=edge_weight
        )
        timings["network"] = time.perf_counter() - start
        degree_a, degree_b = "from", "to"
    else:
        from coordscope.signals.cnt_mode import CNT_ALL_NETWORKS, cnt_edges

        by_signal = {v: k for k, v in CNT_ALL_NETWORKS.items()}
        missing = [s for s in signal_list if s not in by_signal]
        if missing:
            raise ParameterError(
                f"cnt mode has no network for {', '.join(missing)}; it supports "
                + ", ".join(f"{s} ({by_signal[s]})" for s in by_signal)
            )
        tables = []
        for s in signal_list:
            table = cnt_edges(
                events,
                network=by_signal[s],
                window=window,
                min_edge_weight=min_edge_weight,
                max_pairs=max_pairs,
            ).with_columns(pl.col("user_1", "user_2").cast(pl.String))
            tables.append(
                table.with_columns(pl.lit(by_signal[s]).alias("network"))
                if len(signal_list) > 1
                else table
            )
        edge_table = pl.concat(tables)
        evidence = edge_table
        params["min_edge_weight"] = min_edge_weight
        timings["pairs"] = time.perf_counter() - start
        degree_a, degree_b = "user_1", "user_2"
    start = time.perf_counter()
    nodes = _nodes(events, edge_table, degree_a, degree_b)
    timings["nodes"] = time.perf_counter() - start
    counts.update(
        coactions=evidence.height,
        edges=edge_table.height,
        accounts_in_edges=int(nodes.filter(pl.col("degree") > 0).height),
    )
    return DetectResult(mode, evidence, edge_table, nodes, params, counts, timings)


def _nodes(events: pl.DataFrame, edge_table: pl.DataFrame, a: str, b: str) -> pl.DataFrame:
    """Accounts with activity counts and degree (distinct neighbours in ``edge_table``)."""
    activity = events.group_by(ACTOR_ID).agg(
        pl.col(ACTOR_NAME).drop_nulls().first().alias("actor_name"),
        pl.len().alias("n_events"),
        pl.col(TS).min().alias("first_ts"),
        pl.col(TS).max().alias("last_ts"),
    )
    if edge_table.height:
        ends = pl.concat(
            [
                edge_table.select(pl.col(a).alias(ACTOR_ID), pl.col(b).alias("other")),
                edge_table.select(pl.col(b).alias(ACTOR_ID), pl.col(a).alias("other")),
            ]
        ).filter(pl.col(ACTOR_ID) != pl.col("other"))
        degree = ends.group_by(ACTOR_ID).agg(
            pl.col("other").n_unique().cast(pl.UInt32).alias("degree")
        )
    else:
        degree = pl.DataFrame(schema={ACTOR_ID: pl.String, "degree": pl.UInt32})
    return (
        activity.join(degree, on=ACTOR_ID, how="left")
        .with_columns(pl.col("degree").fill_null(0))
        .sort(ACTOR_ID)
    )


def coactions(
    events: pl.DataFrame,
    *,
    signal: Sequence[str] | str,
    window: float,
    mode: str = "native",
    **options: Any,
) -> pl.DataFrame:
    """The co-action evidence table of :func:`detect` (see :class:`DetectResult`)."""
    return detect(events, signals=signal, window=window, mode=mode, **options).coactions


def edges(
    events: pl.DataFrame,
    *,
    signal: Sequence[str] | str,
    window: float,
    mode: str = "native",
    **options: Any,
) -> pl.DataFrame:
    """The edge table of :func:`detect` (native pairs, CooRTweet network or toolkit edges)."""
    return detect(events, signals=signal, window=window, mode=mode, **options).edges
