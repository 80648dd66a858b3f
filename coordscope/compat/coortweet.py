"""The ``coortweet`` counting mode: CooRTweet 2.x, exactly.

Three functions reproduce the R package CooRTweet (Righetti & Balluff, 2.1.x) on canonical
events, with the same output tables, row order included:

- :func:`coortweet_detect` — ``detect_groups(x, time_window, min_participation,
  remove_loops)``: every pair of shares of one object within the window;
- :func:`coortweet_network` — ``generate_coordinated_network(result, edge_weight)`` as the
  edge table of its igraph graph (``igraph::as_data_frame(graph)``);
- :func:`coortweet_account_stats` — ``account_stats(graph, result, weight_threshold)``.

CooRTweet's ``detect_groups`` does a per-object self-join (``O(Σ n_k²)``); here the pairs
come from the sorted band join of :func:`coordscope.engine.kernel.band_pairs`
(``O(n log n + P)``) and every filter is a vectorized numpy or polars step.

What CooRTweet does, step by step, and what this module reproduces:

1. *Pre-filter*: accounts with fewer than ``min_participation`` input rows are dropped.
2. *Pairs*: within each object, every pair of rows with ``|Δt| <= time_window`` seconds
   (inclusive), each unordered pair once.
3. *remove_loops* (default): drop the pairs where ``object_id`` equals either
   ``content_id``, the two ``content_id`` are equal, or the two accounts are equal.
4. *min_participation* (when ``>= 1``): let ``C`` be the content ids left in the pairs; an
   account *qualifies* when at least ``min_participation`` of its input **rows** have a
   content id in ``C`` (rows, not distinct ids: a content id on two rows counts twice);
   a pair is kept when either of its content ids is one of a qualifying account's
   (compared by content id value, as R's ``%in%`` does). On ``russian_coord_tweets``
   counting distinct ids instead would give 446 rows, not CooRTweet's 447.
5. *Orientation*: ``content_id``/``account_id`` is the earlier share and ``time_delta`` the
   absolute difference. For equal timestamps, the earlier row in CooRTweet's grouped row
   order (see below) comes first.

Row order. CooRTweet's output order depends on the input order, and the network's
``from``/``to`` columns depend on the result's order (igraph numbers vertices by first
appearance). ``detect_groups`` first regroups the input by account (accounts in order of
first appearance, rows in input order), then groups by object (objects in order of first
appearance in that regrouped table) and, inside an object, lists the pairs by the position
of the later row, then of the earlier row. :func:`coortweet_detect` returns its rows in
exactly that order, and :func:`coortweet_network` reads the order of the table it is given,
as R does.

Differences from R that cannot matter for CooRTweet's own data: ``pmin``/``pmax`` of
account ids compare by code point (R compares in the session's locale; identical for
ids made of digits, lower-case letters and the same punctuation in the same places, as
hashes and CooRTweet's simulated ids are); timestamps have microsecond resolution.

Duplicate input rows. CooRTweet keeps exact duplicate rows; coordscope's readers drop them
(counted). In R a duplicated share pairs with itself (a loop, removed by ``remove_loops``),
duplicates every pair it is in, and counts twice in both participation filters. In
CooRTweet's ``russian_coord_tweets`` the one duplicate row is the only share of its object:
with ``remove_loops=True`` (the default) the outputs are identical with or without it; with
``remove_loops=False`` and ``min_participation <= 2`` R has one more row, the duplicate
paired with itself (the tests prove both). :func:`coortweet_detect_table` runs on a
CooRTweet input table as it is, duplicates included, for exact parity on any input.

Limits: row positions are combined into one 64-bit key (inputs up to 3·10⁹ rows); the
kept pairs are held until the participation filter (CooRTweet returns them all anyway).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.engine.kernel import DEFAULT_MAX_PAIRS, band_pairs
from coordscope.errors import ParameterError, check_window
from coordscope.schema import ACTOR_ID, EVENT_ID, TS, US
from coordscope.signals.actions import actions as signal_actions

__all__ = [
    "ACCOUNT_STATS_SCHEMA",
    "NETWORK_SCHEMA",
    "RESULT_COLUMNS",
    "coortweet_account_stats",
    "coortweet_detect",
    "coortweet_detect_table",
    "coortweet_network",
]

#: Columns of ``detect_groups``' result, in CooRTweet's order.
RESULT_COLUMNS: Final = (
    "object_id",
    "content_id",
    "content_id_y",
    "time_delta",
    "account_id",
    "account_id_y",
)

#: The edge table of ``generate_coordinated_network`` (``igraph::as_data_frame``).
NETWORK_SCHEMA: Final[dict[str, pl.DataType]] = {
    "from": pl.String(),
    "to": pl.String(),
    "weight": pl.Int64(),
    "avg_time_delta": pl.Float64(),
    "n_content_id": pl.Int64(),
    "n_content_id_y": pl.Int64(),
    "edge_symmetry_score": pl.Float64(),
    "weight_threshold": pl.Int64(),
}

#: The table of ``account_stats``.
ACCOUNT_STATS_SCHEMA: Final[dict[str, pl.DataType]] = {
    "account_id": pl.String(),
    "avg_time_delta": pl.Float64(),
    "avg_edge_symmetry_score": pl.Float64(),
    "unique_shares_count": pl.Int64(),
}

#: CooRTweet's narrow input columns (``prep_data`` output).
_TABLE_COLUMNS: Final = ("object_id", "account_id", "content_id", "timestamp_share")


IntArray = npt.NDArray[np.int64]


def coortweet_detect(
    events: pl.DataFrame,
    *,
    signals: Sequence[str] | str = "co_share",
    time_window: float = 10,
    min_participation: int = 2,
    remove_loops: bool = True,
    max_pairs: int = DEFAULT_MAX_PAIRS,
) -> pl.DataFrame:
    """CooRTweet's ``detect_groups`` on canonical events: coordinated share pairs.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events, in input order (the order decides ties, as in
        CooRTweet). For CooRTweet's own input tables, read with
        ``coordscope.read_events(path)`` (format ``coortweet``).
    signals : str or sequence of str, default "co_share"
        The signal whose key is CooRTweet's ``object_id``; ``co_share`` uses the shared
        object of reposts and forwards. Several signals are each run on their own
        (pre-filter included, as separate ``detect_groups`` calls would be) and their
        results stacked in the given order, as in CooRTweet's multimodal vignette; a
        ``signal`` column is added when there is more than one.
    time_window : float, default 10
        Seconds; pairs have ``|Δt| <= time_window`` (inclusive).
    min_participation : int, default 2
        Accounts with fewer input rows (actions of the signal) are dropped first; after
        the pairs are found, a pair is kept only when one of its two content ids belongs
        to an account with at least this many rows among the paired content ids. ``0``
        disables both filters.
    remove_loops : bool, default True
        Drop pairs of one account with itself, of one content id with itself, and pairs
        where a content id equals the object id.
    max_pairs : int
        Memory budget: in-window pairs materialised at once by the kernel.

    Returns
    -------
    polars.DataFrame
        Columns :data:`RESULT_COLUMNS` (``object_id`` is the signal's key, ``content_id``
        the event id, ``account_id`` the actor id; ``content_id``/``account_id`` is the
        earlier share). ``time_delta`` is in seconds: ``Int64`` when every timestamp is a
        whole second (CooRTweet's integer timestamps), ``Float64`` otherwise. Rows are in
        CooRTweet's order (see the module docstring).

    Notes
    -----
    Cost ``O(n log n + P)`` for ``n`` actions and ``P`` in-window pairs; memory
    ``O(n + max_pairs + R)`` for ``R`` result rows. CooRTweet builds every pair of every
    object (``O(Σ n_k²)``).
    """
    _check(time_window=time_window, min_participation=min_participation, max_pairs=max_pairs)
    names = [signals] if isinstance(signals, str) else list(signals)
    if not names:
        raise ParameterError("signals: give at least one signal")
    if len(set(names)) != len(names):
        raise ParameterError(f"signals: each signal once, got {', '.join(names)}")
    parts: list[pl.DataFrame] = []
    for name in names:
        acts = signal_actions(events, signals=name)
        table = acts.select(
            pl.col("key").alias("object_id"),
            pl.col(ACTOR_ID).alias("account_id"),
            pl.col(EVENT_ID).alias("content_id"),
            pl.col(TS).dt.epoch("us").alias("_t"),
        )
        part = _detect(
            table,
            window_us=round(time_window * US),
            min_participation=min_participation,
            remove_loops=remove_loops,
            max_pairs=max_pairs,
        )
        if len(names) > 1:
            part = part.with_columns(pl.lit(name).alias("signal"))
        parts.append(part)
    if len(parts) == 1:
        return parts[0]
    dtype = pl.Float64 if any(p["time_delta"].dtype == pl.Float64 for p in parts) else pl.Int64
    return pl.concat([p.with_columns(pl.col("time_delta").cast(dtype)) for p in parts])


def coortweet_detect_table(
    table: pl.DataFrame,
    *,
    time_window: float = 10,
    min_participation: int = 2,
    remove_loops: bool = True,
    max_pairs: int = DEFAULT_MAX_PAIRS,
) -> pl.DataFrame:
    """``detect_groups`` on a CooRTweet input table as it is (duplicate rows included).

    Parameters
    ----------
    table : polars.DataFrame
        CooRTweet's columns ``object_id, account_id, content_id`` (cast to String) and
        ``timestamp_share`` (epoch seconds, integer or float), in input order.
    time_window, min_participation, remove_loops, max_pairs
        As for :func:`coortweet_detect`.

    Returns
    -------
    polars.DataFrame
        As :func:`coortweet_detect`.
    """
    _check(time_window=time_window, min_participation=min_participation, max_pairs=max_pairs)
    missing = [c for c in _TABLE_COLUMNS if c not in table.columns]
    if missing:
        raise ParameterError(f"table: missing CooRTweet column(s) {', '.join(missing)}")
    if table["timestamp_share"].null_count():
        raise ParameterError("table: timestamp_share has missing values")
    frame = table.select(
        pl.col("object_id").cast(pl.String),
        pl.col("account_id").cast(pl.String),
        pl.col("content_id").cast(pl.String),
        (pl.col("timestamp_share").cast(pl.Float64) * US).round().cast(pl.Int64).alias("_t"),
    )
    return _detect(
        frame,
        window_us=round(time_window * US),
        min_participation=min_participation,
        remove_loops=remove_loops,
        max_pairs=max_pairs,
    )


def _stable_mean(values: pl.Expr) -> pl.Expr:
    """Mean of a float column per group, summed one value at a time in ascending order.

    polars sums a group's floats in an order that follows how the rows are cut into chunks
    and threads, so the last bit of a plain ``mean()`` varies from run to run, and so does
    that of ``sort().sum()`` (pairwise over the chunks): a CI run under load gave
    3.317814857142857 and 3.3178148571428565 for one edge. A running sum of the sorted
    values (``cum_sum``) adds them in one fixed order, whatever the chunks.
    """
    return values.sort().cum_sum().last() / values.count()


def coortweet_network(result: pl.DataFrame, *, edge_weight: float = 0.5) -> pl.DataFrame:
    """CooRTweet's ``generate_coordinated_network`` as an edge table.

    Parameters
    ----------
    result : polars.DataFrame
        A :func:`coortweet_detect` result (columns :data:`RESULT_COLUMNS`), in its row
        order: the order decides ``from``/``to`` and the edge order, as in CooRTweet.
    edge_weight : float, default 0.5
        Quantile (``0 <= q <= 1``) of the edge weights; edges with ``weight`` strictly
        above it get ``weight_threshold = 1``.

    Returns
    -------
    polars.DataFrame
        :data:`NETWORK_SCHEMA`, one row per unordered account pair, in order of the pair's
        first result row:

        - ``weight``: result rows of the pair;
        - ``avg_time_delta``: their mean ``time_delta`` (seconds);
        - ``n_content_id``, ``n_content_id_y``: distinct ``content_id`` (the earlier
          shares) and ``content_id_y`` (the later shares) among them — not per account;
        - ``edge_symmetry_score``: ``min/max`` of those two counts;
        - ``weight_threshold``: ``weight >`` the type-7 quantile (R's default, numpy's
          ``linear``) of all weights at ``edge_weight``.

        ``from`` is the account igraph lists first: vertices are numbered by first
        appearance among the pairs' smaller ids (``pmin``), then their larger ids, and an
        undirected edge is listed from its lower-numbered vertex.

    Notes
    -----
    Cost ``O(R)`` hash aggregation for ``R`` result rows.
    """
    if not 0 <= edge_weight <= 1:
        raise ParameterError(f"edge_weight must be between 0 and 1, got {edge_weight}")
    missing = [c for c in RESULT_COLUMNS if c not in result.columns]
    if missing:
        raise ParameterError(f"result: missing column(s) {', '.join(missing)}")
    a = pl.col("account_id")
    b = pl.col("account_id_y")
    n_c = pl.col("content_id").n_unique().cast(pl.Int64)
    n_cy = pl.col("content_id_y").n_unique().cast(pl.Int64)
    agg = (
        result.lazy()
        .select(
            pl.when(a <= b).then(a).otherwise(b).alias("_lo"),
            pl.when(a <= b).then(b).otherwise(a).alias("_hi"),
            pl.col("time_delta").cast(pl.Float64),
            "content_id",
            "content_id_y",
        )
        .group_by(["_lo", "_hi"], maintain_order=True)
        .agg(
            pl.len().cast(pl.Int64).alias("weight"),
            _stable_mean(pl.col("time_delta")).alias("avg_time_delta"),
            n_c.alias("n_content_id"),
            n_cy.alias("n_content_id_y"),
            (pl.min_horizontal(n_c, n_cy) / pl.max_horizontal(n_c, n_cy)).alias(
                "edge_symmetry_score"
            ),
        )
        .collect()
    )
    # igraph: vertex ids by first appearance in c(pmin column, pmax column)
    vertices = pl.concat([agg["_lo"], agg["_hi"]]).unique(maintain_order=True)
    ids = pl.DataFrame({"_v": vertices, "_id": pl.int_range(vertices.len(), eager=True)})
    threshold = _quantile7(agg["weight"].to_numpy(), edge_weight)
    lo_first = pl.col("_id_lo") <= pl.col("_id_hi")
    return (
        agg.lazy()
        .join(
            ids.lazy().rename({"_v": "_lo", "_id": "_id_lo"}),
            on="_lo",
            how="left",
            maintain_order="left",
        )
        .join(
            ids.lazy().rename({"_v": "_hi", "_id": "_id_hi"}),
            on="_hi",
            how="left",
            maintain_order="left",
        )
        .select(
            pl.when(lo_first).then("_lo").otherwise("_hi").alias("from"),
            pl.when(lo_first).then("_hi").otherwise("_lo").alias("to"),
            "weight",
            "avg_time_delta",
            "n_content_id",
            "n_content_id_y",
            "edge_symmetry_score",
            (pl.col("weight") > threshold).cast(pl.Int64).alias("weight_threshold"),
        )
        .collect()
    )


def coortweet_account_stats(
    result: pl.DataFrame,
    edges: pl.DataFrame,
    *,
    weight_threshold: Literal["none", "full"] = "none",
) -> pl.DataFrame:
    """CooRTweet's ``account_stats(graph, result, weight_threshold)``.

    Parameters
    ----------
    result : polars.DataFrame
        The :func:`coortweet_detect` result the network was built from.
    edges : polars.DataFrame
        The :func:`coortweet_network` edge table.
    weight_threshold : {"none", "full"}, default "none"
        ``none`` uses every edge; ``full`` only edges with ``weight_threshold == 1``.
        (CooRTweet's ``fast`` needs ``flag_speed_share``, which coordscope does not have.)

    Returns
    -------
    polars.DataFrame
        :data:`ACCOUNT_STATS_SCHEMA`, sorted by ``account_id``, one row per account of
        the (filtered) network:

        - ``avg_time_delta``, ``avg_edge_symmetry_score``: means over the account's
          edges, after CooRTweet's ``unique()`` of the rows ``(account, n_content,
          avg_time_delta, edge_symmetry_score)`` (``n_content`` is ``n_content_id`` for
          ``from``, ``n_content_id_y`` for ``to``): two edges with the same values count
          once;
        - ``unique_shares_count``: distinct content ids of the account in ``result``
          (either side of a pair).

    Notes
    -----
    Cost ``O(R + E)``.
    """
    if weight_threshold not in ("none", "full"):
        raise ParameterError(f"weight_threshold must be 'none' or 'full', got '{weight_threshold}'")
    kept = edges if weight_threshold == "none" else edges.filter(pl.col("weight_threshold") == 1)
    # CooRTweet: rbind(from-side rows, to-side rows), then unique() over every column
    ends = pl.concat(
        [
            kept.select(
                pl.col("from").alias("account_id"),
                pl.col("n_content_id").alias("n_content"),
                "avg_time_delta",
                "edge_symmetry_score",
            ),
            kept.select(
                pl.col("to").alias("account_id"),
                pl.col("n_content_id_y").alias("n_content"),
                "avg_time_delta",
                "edge_symmetry_score",
            ),
        ]
    ).unique(maintain_order=True)
    per_edge = ends.group_by("account_id").agg(
        _stable_mean(pl.col("avg_time_delta")).alias("avg_time_delta"),
        _stable_mean(pl.col("edge_symmetry_score")).alias("avg_edge_symmetry_score"),
    )
    shares = (
        pl.concat(
            [
                result.select("account_id", "content_id"),
                result.select(
                    pl.col("account_id_y").alias("account_id"),
                    pl.col("content_id_y").alias("content_id"),
                ),
            ]
        )
        .group_by("account_id")
        .agg(pl.col("content_id").n_unique().cast(pl.Int64).alias("unique_shares_count"))
    )
    return (
        per_edge.join(shares, on="account_id", how="left")
        .with_columns(pl.col("unique_shares_count").fill_null(0))
        .select(list(ACCOUNT_STATS_SCHEMA))
        .sort("account_id")
    )


# --------------------------------------------------------------------------- helpers


def _check(*, time_window: float, min_participation: int, max_pairs: int) -> None:
    check_window(time_window, "time_window")
    if min_participation < 0:
        raise ParameterError(f"min_participation must be >= 0, got {min_participation}")
    if max_pairs < 1:
        raise ParameterError(f"max_pairs must be >= 1, got {max_pairs}")


def _empty_result(dtype: pl.DataType) -> pl.DataFrame:
    schema: dict[str, pl.DataType] = {c: pl.String() for c in RESULT_COLUMNS}
    schema["time_delta"] = dtype
    return pl.DataFrame(schema=schema)


def _detect(
    table: pl.DataFrame,
    *,
    window_us: int,
    min_participation: int,
    remove_loops: bool,
    max_pairs: int,
) -> pl.DataFrame:
    """``do_detect_groups`` on ``object_id, account_id, content_id, _t`` (µs), input order."""
    whole = table.height == 0 or bool((table["_t"] % US == 0).all())
    dtype: pl.DataType = pl.Int64() if whole else pl.Float64()
    n = table.height
    lf = table.lazy().with_row_index("_row").with_columns(pl.col("_row").cast(pl.Int64))
    if min_participation > 0:  # the pre-filter
        lf = lf.filter(pl.len().over("account_id") >= min_participation)
    # CooRTweet's row order after `x[, if (.N >= m) .SD, by = account_id]` is accounts by
    # first appearance, then input order: `_rkey` sorts that way (and `_acc` codes the
    # account). Objects are grouped in order of first appearance: `_obj` codes the object.
    acc_first = pl.col("_row").min().over("account_id")
    rkey = acc_first * max(n, 1) + pl.col("_row")
    pre = (
        lf.with_columns(acc_first.alias("_acc"), rkey.alias("_rkey"))
        .with_columns(
            pl.col("_rkey").min().over("object_id").alias("_obj"),
            # R drops pairs whose comparisons are NA too: null ids count as loops
            ((pl.col("object_id") == pl.col("content_id")).fill_null(True))
            .or_(pl.col("account_id").is_null())
            .alias("_self"),
        )
        .collect()
    )
    if pre.height < 2:
        return _empty_result(dtype)
    cid_all = _string_codes(pre["content_id"])
    # the kernel's order: object, time, then CooRTweet's row order (decides equal times)
    rkey_all = pre["_rkey"].to_numpy()
    obj_all = pre["_obj"].to_numpy()
    ts_all = pre["_t"].to_numpy()
    perm = np.lexsort((rkey_all, ts_all, obj_all))
    obj = obj_all[perm]
    ts = ts_all[perm]
    acc = pre["_acc"].to_numpy()[perm]
    cid = cid_all[perm]
    selfref = pre["_self"].to_numpy()[perm]
    left: list[IntArray] = []
    right: list[IntArray] = []
    for ii, jj in band_pairs(obj, ts, window_us, max_pairs=max_pairs):
        if remove_loops:  # do_remove_loops, chunk by chunk
            keep = (acc[ii] != acc[jj]) & (cid[ii] != cid[jj]) & ~selfref[ii] & ~selfref[jj]
            left.append(ii[keep])
            right.append(jj[keep])
        else:
            left.append(ii)
            right.append(jj)
    i = np.concatenate(left) if left else np.empty(0, dtype=np.int64)
    j = np.concatenate(right) if right else np.empty(0, dtype=np.int64)
    if i.shape[0] == 0:
        return _empty_result(dtype)
    if min_participation >= 1:
        rows = pl.DataFrame({"_acc": acc, "_cid": cid})
        keep = _filter_min_participation(rows, cid[i], cid[j], min_participation)
        i = i[keep]
        j = j[keep]
    # CooRTweet's row order: object, then the later row's position, then the earlier one's
    rk = rkey_all[perm]
    ri = rk[i]
    rj = rk[j]
    order = np.lexsort((np.minimum(ri, rj), np.maximum(ri, rj), obj[i]))
    i = i[order]
    j = j[order]
    delta = ts[j] - ts[i]
    gi = pl.Series(perm[i])
    gj = pl.Series(perm[j])
    out = pl.DataFrame(
        {
            "object_id": pre["object_id"].gather(gi),
            "content_id": pre["content_id"].gather(gi),
            "content_id_y": pre["content_id"].gather(gj),
            "time_delta": delta // US if whole else delta / US,
            "account_id": pre["account_id"].gather(gi),
            "account_id_y": pre["account_id"].gather(gj),
        }
    )
    return out.with_columns(pl.col("time_delta").cast(dtype))


def _string_codes(values: pl.Series) -> IntArray:
    """Integer codes, equal exactly when the strings are equal (every null one code, 0)."""
    return values.rank("dense").fill_null(0).cast(pl.Int64).to_numpy()


def _filter_min_participation(
    srt: pl.DataFrame, ci: IntArray, cj: IntArray, min_participation: int
) -> npt.NDArray[np.bool_]:
    """CooRTweet's ``filter_min_participation``: which pairs (content codes ``ci, cj``) stay.

    ``srt`` holds the pre-filtered input rows (``_acc`` account code, ``_cid`` content
    code). Accounts qualify with ``>= min_participation`` rows whose content id is paired;
    a pair stays when either content id is one of a qualifying account's rows.
    """
    paired = pl.Series(np.concatenate((ci, cj))).unique()
    qualified = (
        srt.lazy()
        .select("_acc", "_cid")
        .filter(pl.col("_cid").is_in(paired.implode()))
        .filter(pl.len().over("_acc") >= min_participation)
        .select(pl.col("_cid").unique())
        .collect()["_cid"]
        .implode()
    )
    flags = pl.DataFrame({"ci": ci, "cj": cj}).select(
        pl.col("ci").is_in(qualified) | pl.col("cj").is_in(qualified)
    )
    return flags.to_series().to_numpy()


def _quantile7(x: npt.NDArray[np.int64], q: float) -> float:
    """R's ``quantile(x, q)`` (type 7), with R's arithmetic: ``(1 - h) * x[lo] + h * x[hi]``."""
    n = x.shape[0]
    if n == 0:
        return float("nan")
    xs = np.sort(x.astype(np.float64))
    index = 1 + max(n - 1, 0) * q
    lo = int(np.floor(index))
    hi = int(np.ceil(index))
    qs = float(xs[lo - 1])
    if index > lo and xs[hi - 1] != qs:
        h = index - lo
        qs = (1 - h) * qs + h * float(xs[hi - 1])
    return qs
