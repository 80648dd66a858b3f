"""Detection quality against ground truth (the truth a simulation returns with its data).

:func:`evaluate` scores an audit (an :class:`~coordscope.results.AuditTables` or the
directory it was written to) against a truth table
(:data:`coordscope.schema.TRUTH_SCHEMA`, as written by ``coordscope
simulate``). :func:`evaluate_parts` does the same for any method that gives flagged
accounts, scored pairs, account clusters and ranked bursts, which is how
``benchmarks/quality.py`` scores the CooRTweet-style and toolkit-style rules.

Metrics, and the rules behind them:

- **accounts**: precision, recall and F1 of the flagged accounts (members of significant
  clusters) against the coordinated ones, over the accounts of the truth table (flagged
  accounts absent from it count as organic). ``organic_flagged_share`` is the share of
  organic accounts flagged; ``flagged_share_by_style`` breaks it down by the truth
  ``style`` (``organic``, ``flash_viral``, ``scheduler_bot``, ``homophily`` and the
  campaign styles). An undefined ratio (0/0) is ``None``.
- **pairs**: average precision of the pair ranking (significant edges by p-value, most
  evidence first). A pair is positive when both accounts are members of the same truth
  campaign. The denominator is every positive pair of the truth table, so a campaign
  pair never ranked counts as never retrieved (``average_precision``);
  ``average_precision_observed`` is scikit-learn's over the ranked pairs alone.
  Definition as in :func:`sklearn.metrics.average_precision_score`: ``Σ (R_n − R_{n−1})
  P_n`` over the distinct score thresholds.
- **clusters**: adjusted Rand index (Hubert & Arabie 1985;
  :func:`sklearn.metrics.adjusted_rand_score`) between the truth partition (one block per
  campaign, every organic account alone) and the found partition (one block per
  significant cluster, every unflagged account alone), over the accounts of the truth
  table. Two all-singleton partitions give 1.
- **bursts**: precision at ``k`` of the ranked bursts. A burst is true when (a) its key is
  one a campaign pushed (truth ``keys``; a ``co_text`` key is compared with the
  normalised truth text) and its span ``[start, end]`` meets the campaign's
  ``[start, end]``, or (b) more than half of its distinct accounts are coordinated (when
  the burst's accounts are known: from the events of the audit). With fewer than ``k``
  bursts the precision is over those there are (``k_used``).
- **campaigns**: per campaign, its style, members and the share flagged (recall).

Cost ``O(n log n)`` in the rows of the tables; the majority rule recomputes the bursts'
actions from the events.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any, Final

import numpy as np
import numpy.typing as npt
import polars as pl

from coordscope.datasets._lists import split_list_cells
from coordscope.errors import InputError, ParameterError
from coordscope.results import AuditTables
from coordscope.schema import ACTOR_ID, EXACT_SIGNALS, TS_DTYPE, EventFrame
from coordscope.signals.actions import actions
from coordscope.signals.exact import normalize_text
from coordscope.stats.bursts import burst_members

__all__ = [
    "account_metrics",
    "burst_precision_at_k",
    "campaign_recall",
    "cluster_ari",
    "evaluate",
    "evaluate_parts",
    "load_truth",
    "pair_average_precision",
]

_TRUTH_COLUMNS: Final = ("actor_id", "campaign", "style", "coordinated")


def evaluate(
    result: AuditTables | str | Path,
    truth: pl.DataFrame | str | Path,
    *,
    k: int = 20,
) -> dict[str, Any]:
    """Score an audit against ground truth.

    Parameters
    ----------
    result : AuditTables or path
        An audit result, or the output directory of ``coordscope audit`` (reads
        ``nodes.csv``, ``edges.parquet``, ``clusters.parquet``, ``bursts.parquet``, and
        ``events.parquet`` when present, for the burst majority rule).
    truth : polars.DataFrame or path
        The truth table (``truth.parquet``, ``.csv`` or ``.jsonl`` of ``coordscope
        simulate``); see :func:`load_truth`.
    k : int, default 20
        Bursts looked at by precision@k (>= 1).

    Returns
    -------
    dict
        JSON-ready: ``accounts``, ``pairs``, ``clusters``, ``bursts``, ``campaigns``
        (see the module docstring) and ``summary`` (the headline numbers, flat).

    Raises
    ------
    ParameterError
        ``k < 1``.
    InputError
        A file is missing or unreadable, a table lacks a needed column, or fewer than
        half of the truth's accounts are accounts of the audit (another dataset's truth).
    """
    _check_k(k)
    truth_frame = load_truth(truth)
    if isinstance(result, AuditTables):
        tables = _tables_of(result)
    elif isinstance(result, str | Path):
        tables = _read_outdir(Path(result))
    else:
        raise ParameterError(f"result must be an AuditResult or a directory, got {type(result)}")
    nodes, edges, bursts, events, acts = tables
    _need(nodes, ("actor_id", "flagged", "cluster"), "nodes")
    _check_same_accounts(truth_frame, nodes, truth if isinstance(truth, str | Path) else "truth")
    flagged = nodes.filter(pl.col("flagged").fill_null(False))["actor_id"]
    labels = nodes.filter(pl.col("flagged").fill_null(False)).select("actor_id", "cluster")
    members = _burst_actors(events, bursts, acts)
    out = evaluate_parts(
        truth_frame,
        flagged=flagged,
        labels=labels,
        bursts=bursts,
        burst_members=members,
        k=k,
    )
    # the pair ranking of an audit: hundreds of millions of edges, counted by level
    out["pairs"] = _edge_levels_ap(edges, _validated_truth(truth_frame, "truth"))
    out["summary"]["pair_ap"] = out["pairs"]["average_precision"]
    return out


def evaluate_parts(
    truth: pl.DataFrame,
    *,
    flagged: Iterable[str] | pl.Series,
    pairs: pl.DataFrame | None = None,
    labels: pl.DataFrame | None = None,
    bursts: pl.DataFrame | None = None,
    burst_members: pl.DataFrame | None = None,
    k: int = 20,
) -> dict[str, Any]:
    """All metrics of :func:`evaluate` from a method's parts.

    Parameters
    ----------
    truth : polars.DataFrame
        The truth table (:func:`load_truth`).
    flagged : iterable of str
        Accounts the method flags.
    pairs : polars.DataFrame, optional
        ``actor_a, actor_b, score``: ranked pairs (higher score = more suspicious).
    labels : polars.DataFrame, optional
        ``actor_id, cluster``: the method's groups (accounts not listed are alone).
    bursts : polars.DataFrame, optional
        Ranked bursts (``burst, signal, key, start, end``).
    burst_members : polars.DataFrame, optional
        ``burst, actor_id`` (for the majority rule).
    k : int, default 20
        For burst precision@k.

    Returns
    -------
    dict
        As :func:`evaluate`; a part that was not given is ``None``.
    """
    _check_k(k)
    truth = _validated_truth(truth, "truth")
    flagged_series = pl.Series("actor_id", list(flagged), dtype=pl.String)
    accounts = account_metrics(flagged_series, truth)
    pair_part = pair_average_precision(pairs, truth) if pairs is not None else None
    cluster_part = (
        {"ari": cluster_ari(labels, truth), "n_groups": int(labels["cluster"].n_unique())}
        if labels is not None
        else None
    )
    burst_part = (
        burst_precision_at_k(bursts, truth, k=k, members=burst_members)
        if bursts is not None
        else None
    )
    campaigns = campaign_recall(flagged_series, truth)
    summary = {
        "precision": accounts["precision"],
        "recall": accounts["recall"],
        "f1": accounts["f1"],
        "organic_flagged_share": accounts["organic_flagged_share"],
        "pair_ap": pair_part["average_precision"] if pair_part else None,
        "ari": cluster_part["ari"] if cluster_part else None,
        "burst_precision_at_k": burst_part["precision_at_k"] if burst_part else None,
    }
    return {
        "summary": summary,
        "accounts": accounts,
        "pairs": pair_part,
        "clusters": cluster_part,
        "bursts": burst_part,
        "campaigns": campaigns,
    }


def load_truth(truth: pl.DataFrame | str | Path) -> pl.DataFrame:
    """Read a truth table (``.parquet``, ``.csv``/``.tsv``, ``.jsonl``) or check a frame.

    In CSV files ``keys`` is a JSON array (as coordscope writes lists into CSV), or items
    joined by white space (which keeps event ids, URLs and hashtags but not message
    texts).

    Raises
    ------
    InputError
        Missing or unreadable file, or a column of ``actor_id, campaign, style,
        coordinated`` missing.
    """
    if isinstance(truth, pl.DataFrame):
        return _validated_truth(truth, "truth")
    path = Path(truth)
    if not path.is_file():
        raise InputError(str(path), "truth file not found")
    suffix = path.suffix.lower()
    try:
        if suffix == ".parquet":
            frame = pl.read_parquet(path)
        elif suffix in (".jsonl", ".ndjson"):
            frame = pl.read_ndjson(path)
        elif suffix in (".csv", ".tsv", ".tab"):
            frame = pl.read_csv(
                path, separator="\t" if suffix != ".csv" else ",", infer_schema=False
            )
        else:
            raise InputError(str(path), "truth must be .parquet, .csv, .tsv or .jsonl")
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(str(path), f"cannot read truth: {exc}") from None
    return _validated_truth(frame, str(path))


def account_metrics(flagged: Iterable[str] | pl.Series, truth: pl.DataFrame) -> dict[str, Any]:
    """Account-level precision, recall, F1 and the flagged share of each truth style.

    The universe is the accounts of ``truth``; flagged accounts outside it count as
    organic false positives. Undefined ratios are ``None``.
    """
    truth = _validated_truth(truth, "truth")
    flag = pl.Series("actor_id", list(flagged), dtype=pl.String).unique()
    marked = truth.select(
        "actor_id", "style", "coordinated", pl.col("actor_id").is_in(flag.implode()).alias("f")
    )
    tp = int((marked["f"] & marked["coordinated"]).sum())
    fp_in = int((marked["f"] & ~marked["coordinated"]).sum())
    outside = int((~flag.is_in(truth["actor_id"].implode())).sum())
    fp = fp_in + outside
    positives = int(marked["coordinated"].sum())
    fn = positives - tp
    organic = truth.height - positives
    precision = _ratio(tp, tp + fp)
    recall = _ratio(tp, positives)
    f1 = (
        None
        if precision is None or recall is None
        else (0.0 if precision + recall == 0 else 2 * precision * recall / (precision + recall))
    )
    by_style = marked.group_by("style").agg(pl.col("f").mean()).sort("style")
    return {
        "accounts": truth.height,
        "coordinated": positives,
        "flagged": tp + fp,
        "tp": tp,
        "fp": fp,
        "fn": fn,
        "precision": precision,
        "recall": recall,
        "f1": f1,
        "organic_flagged_share": _ratio(fp_in, organic),
        "flagged_outside_truth": outside,
        "flagged_share_by_style": {s: float(v) for s, v in by_style.iter_rows()},
    }


def pair_average_precision(pairs: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """Average precision of a pair ranking against same-campaign pairs.

    Parameters
    ----------
    pairs : polars.DataFrame
        ``actor_a, actor_b, score`` (higher = more suspicious; ties share a threshold).
        Repeated pairs keep their highest score; order within a pair is ignored.
    truth : polars.DataFrame
        Truth table.

    Returns
    -------
    dict
        ``true_pairs`` (positive pairs in truth: ``Σ_c n_c (n_c − 1) / 2``), ``ranked``,
        ``ranked_true``, ``average_precision`` (over all true pairs; ``None`` without
        any) and ``average_precision_observed`` (over the ranked pairs alone).
    """
    _need(pairs, ("actor_a", "actor_b", "score"), "pairs")
    truth = _validated_truth(truth, "truth")
    sizes = truth.filter(pl.col("campaign").is_not_null()).group_by("campaign").len()["len"]
    n_true = int((sizes.cast(pl.Int64) * (sizes.cast(pl.Int64) - 1) // 2).sum())
    camp = truth.select("actor_id", "campaign")
    ranked = (
        pairs.select(
            pl.min_horizontal("actor_a", "actor_b").alias("a"),
            pl.max_horizontal("actor_a", "actor_b").alias("b"),
            pl.col("score").cast(pl.Float64).fill_null(-np.inf).fill_nan(-np.inf),
        )
        .filter(pl.col("a") != pl.col("b"))
        .group_by("a", "b")
        .agg(pl.col("score").max())
        .join(camp.rename({"actor_id": "a", "campaign": "ca"}), on="a", how="left")
        .join(camp.rename({"actor_id": "b", "campaign": "cb"}), on="b", how="left")
        .select("score", (pl.col("ca") == pl.col("cb")).fill_null(False).alias("y"))
    )
    y = ranked["y"].to_numpy()
    score = ranked["score"].to_numpy()
    n_hit = int(y.sum())
    return {
        "true_pairs": n_true,
        "ranked": ranked.height,
        "ranked_true": n_hit,
        "average_precision": _average_precision(score, y, n_true) if n_true else None,
        "average_precision_observed": _average_precision(score, y, n_hit) if n_hit else None,
    }


def cluster_ari(labels: pl.DataFrame, truth: pl.DataFrame) -> float:
    """Compute the adjusted Rand index of found groups against campaigns, over the truth accounts.

    Parameters
    ----------
    labels : polars.DataFrame
        ``actor_id, cluster``: each listed account's group; unlisted accounts (and null
        clusters) are singletons.
    truth : polars.DataFrame
        Truth table; organic accounts are singletons.
    """
    _need(labels, ("actor_id", "cluster"), "labels")
    truth = _validated_truth(truth, "truth")
    lab = (
        labels.select(pl.col("actor_id").cast(pl.String), pl.col("cluster").cast(pl.String))
        .drop_nulls()
        .unique(subset=["actor_id"], keep="first")
    )
    joined = truth.select("actor_id", "campaign").join(lab, on="actor_id", how="left")
    # singletons: the account's own id, prefixed so it never equals a group name
    true_lab = joined.select(
        pl.when(pl.col("campaign").is_null())
        .then(pl.lit("\x00") + pl.col("actor_id"))
        .otherwise(pl.lit("c") + pl.col("campaign"))
    ).to_series()
    found = joined.select(
        pl.when(pl.col("cluster").is_null())
        .then(pl.lit("\x00") + pl.col("actor_id"))
        .otherwise(pl.lit("g") + pl.col("cluster"))
    ).to_series()
    if joined.height == 0:
        return 1.0
    # scikit-learn takes ~0.6 s to import: deferred so that `import coordscope` and the
    # CLI start without it
    from sklearn.metrics import adjusted_rand_score

    return float(adjusted_rand_score(true_lab.to_numpy(), found.to_numpy()))


def burst_precision_at_k(
    bursts: pl.DataFrame,
    truth: pl.DataFrame,
    *,
    k: int = 20,
    members: pl.DataFrame | None = None,
) -> dict[str, Any]:
    """Precision of the ``k`` best-ranked bursts (rules in the module docstring).

    Parameters
    ----------
    bursts : polars.DataFrame
        ``burst, signal, key, start, end``; ranked by ``burst`` ascending.
    truth : polars.DataFrame
        Truth table with ``keys``, ``start``, ``end`` for the key rule.
    k : int, default 20
        Bursts looked at.
    members : polars.DataFrame, optional
        ``burst, actor_id`` for the majority rule.

    Returns
    -------
    dict
        ``k``, ``k_used`` (``min(k, bursts)``), ``true`` (true among them),
        ``precision_at_k`` (``None`` without bursts), ``n_bursts``, ``n_true_bursts``.
    """
    _check_k(k)
    _need(bursts, ("burst", "signal", "key", "start", "end"), "bursts")
    truth = _validated_truth(truth, "truth")
    flags = _true_bursts(bursts, truth, members)
    ranked = bursts.select("burst").with_columns(flags.alias("y")).sort("burst")
    top = ranked.head(k)
    n_true_top = int(top["y"].sum())
    return {
        "k": k,
        "k_used": top.height,
        "true": n_true_top,
        "precision_at_k": _ratio(n_true_top, top.height),
        "n_bursts": bursts.height,
        "n_true_bursts": int(ranked["y"].sum()),
    }


def campaign_recall(flagged: Iterable[str] | pl.Series, truth: pl.DataFrame) -> dict[str, Any]:
    """Per campaign: ``style``, ``members``, ``flagged`` and ``recall`` (flagged share)."""
    truth = _validated_truth(truth, "truth")
    flag = pl.Series("actor_id", list(flagged), dtype=pl.String).unique()
    per = (
        truth.filter(pl.col("campaign").is_not_null())
        .group_by("campaign")
        .agg(
            pl.col("style").first(),
            pl.len().alias("members"),
            pl.col("actor_id").is_in(flag.implode()).sum().alias("flagged"),
        )
        .sort("campaign")
    )
    return {
        name: {
            "style": style,
            "members": int(n),
            "flagged": int(f),
            "recall": float(f) / float(n),
        }
        for name, style, n, f in per.iter_rows()
    }


# ----------------------------------------------------------------------------- helpers


def _check_same_accounts(truth: pl.DataFrame, nodes: pl.DataFrame, where: str | Path) -> None:
    """Refuse a truth table that is not about the audited accounts.

    The truth of a simulation lists every account of its data, and a takedown list names
    accounts of the data it labels. When fewer than half of the truth's accounts are
    accounts of the audit, it is the truth of another dataset (or of a pseudonymised
    audit), and every metric would be meaningless: an :class:`InputError`, not a score.
    """
    truth_ids = truth.get_column(ACTOR_ID).cast(pl.String).unique()
    audit_ids = nodes.get_column(ACTOR_ID).cast(pl.String).implode()
    known = truth_ids.to_frame().filter(pl.col(ACTOR_ID).is_in(audit_ids)).height
    if truth_ids.len() and 2 * known < truth_ids.len():
        raise InputError(
            str(where),
            f"only {known:,} of its {truth_ids.len():,} accounts are accounts of the audit "
            f"({nodes.height:,}): the truth of another dataset, or of a pseudonymised audit?",
        )


def _check_k(k: int) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise ParameterError(f"k must be an integer >= 1, got {k!r}")


def _ratio(num: int, den: int) -> float | None:
    return None if den == 0 else num / den


def _need(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise InputError(what, f"missing column(s) {', '.join(missing)}")


def _validated_truth(frame: pl.DataFrame, where: str) -> pl.DataFrame:
    """Check the needed columns and normalise their types (CSV strings included)."""
    _need(frame, _TRUTH_COLUMNS, where)
    coordinated = pl.col("coordinated")
    if frame.schema["coordinated"] == pl.String:
        coordinated = coordinated.str.to_lowercase().is_in(["true", "1", "yes"])
    cols: list[pl.Expr] = [
        pl.col("actor_id").cast(pl.String),
        pl.col("campaign").cast(pl.String).replace("", None),
        pl.col("style").cast(pl.String),
        coordinated.cast(pl.Boolean).fill_null(False).alias("coordinated"),
    ]
    if "keys" in frame.columns:
        keys = pl.col("keys")
        if frame.schema["keys"] == pl.String:  # a CSV cell: a JSON array, or space-joined
            frame = frame.with_columns(split_list_cells(frame["keys"], separator_regex=r"\s+"))
            keys = keys.list.eval(pl.element().filter(pl.element() != ""))
        cols.append(keys.cast(pl.List(pl.String)).alias("keys"))
    else:
        cols.append(pl.lit([], dtype=pl.List(pl.String)).alias("keys"))
    if "signal" in frame.columns:
        cols.append(pl.col("signal").cast(pl.String))
    else:
        cols.append(pl.lit(None, dtype=pl.String).alias("signal"))
    for name in ("start", "end"):
        if name not in frame.columns:
            cols.append(pl.lit(None, dtype=TS_DTYPE).alias(name))
        elif frame.schema[name] == pl.String:
            cols.append(pl.col(name).str.to_datetime(time_zone="UTC", time_unit="us").alias(name))
        else:
            cols.append(pl.col(name).cast(TS_DTYPE))
    try:
        out = frame.select(cols)
    except pl.exceptions.PolarsError as exc:
        raise InputError(where, f"truth table has a bad column: {exc}") from None
    # a campaign is what makes an account coordinated
    return out.with_columns(
        (pl.col("coordinated") | pl.col("campaign").is_not_null()).alias("coordinated")
    ).unique(subset=["actor_id"], keep="first", maintain_order=True)


def _average_precision(score: npt.NDArray[Any], y: npt.NDArray[np.bool_], n_pos: int) -> float:
    """``Σ (R_n − R_{n−1}) P_n`` over distinct thresholds (scikit-learn's definition).

    Nothing ranked (no pair found) while there are positives: 0.
    """
    if score.size == 0:
        return 0.0
    order = np.argsort(-score, kind="stable")
    s = score[order]
    hit = y[order].astype(np.int64)
    tp = np.cumsum(hit)
    last = np.r_[np.flatnonzero(s[1:] != s[:-1]), s.size - 1]
    tp_t = tp[last]
    precision = tp_t / (last + 1)
    recall = tp_t / n_pos
    gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(gain * precision))


def _rank_columns(schema: pl.Schema, *, has_pvalue: bool) -> tuple[list[str], list[bool]]:
    """Return the columns pairs are ranked by, and their sort directions.

    Smaller p-value first (when the edges have any), then more keys, then more co-actions.
    """
    sort_cols: list[str] = []
    descending: list[bool] = []
    if "pvalue" in schema and has_pvalue:
        sort_cols.append("pvalue")
        descending.append(False)
    for name in ("n_keys", "n_coactions"):
        if name in schema:
            sort_cols.append(name)
            descending.append(True)
    if not sort_cols:
        raise InputError("edges", "needs pvalue or n_keys to rank pairs")
    return sort_cols, descending


def _edge_levels_ap(edges: pl.LazyFrame, truth: pl.DataFrame) -> dict[str, Any]:
    """:func:`pair_average_precision` of an audit's edges, ranked by their evidence.

    Smaller p-value first, then more keys, then more co-actions; equal evidence ties at
    one threshold. The edges (unique pairs) are counted per level by a streaming group-by,
    so memory follows the number of distinct levels, not of edges.
    """
    schema = edges.collect_schema()
    for col in ("actor_a", "actor_b"):
        if col not in schema:
            raise InputError("edges", f"column '{col}' is missing")
    sizes = truth.filter(pl.col("campaign").is_not_null()).group_by("campaign").len()["len"]
    n_true = int((sizes.cast(pl.Int64) * (sizes.cast(pl.Int64) - 1) // 2).sum())
    has_p = "pvalue" in schema and bool(
        edges.select(pl.col("pvalue").is_not_null().any()).collect(engine="streaming").item()
    )
    sort_cols, descending = _rank_columns(schema, has_pvalue=has_p)
    camp = truth.select("actor_id", "campaign").lazy()
    keyed = edges.select("actor_a", "actor_b", *sort_cols)
    if "pvalue" in sort_cols:
        keyed = keyed.with_columns(pl.col("pvalue").fill_null(1.0).fill_nan(1.0))
    levels = (
        keyed.filter(pl.col("actor_a") != pl.col("actor_b"))
        .join(camp.rename({"actor_id": "actor_a", "campaign": "ca"}), on="actor_a", how="left")
        .join(camp.rename({"actor_id": "actor_b", "campaign": "cb"}), on="actor_b", how="left")
        .group_by(sort_cols)
        .agg(
            pl.len().alias("n"),
            (pl.col("ca") == pl.col("cb")).fill_null(False).sum().alias("hit"),
        )
        .collect(engine="streaming")
        .sort(sort_cols, descending=descending, nulls_last=True)
    )
    n = levels["n"].to_numpy().astype(np.int64)
    hit = levels["hit"].to_numpy().astype(np.int64)
    n_hit = int(hit.sum())
    return {
        "true_pairs": n_true,
        "ranked": int(n.sum()),
        "ranked_true": n_hit,
        "average_precision": _level_ap(n, hit, n_true) if n_true else None,
        "average_precision_observed": _level_ap(n, hit, n_hit) if n_hit else None,
    }


def _level_ap(n: npt.NDArray[np.int64], hit: npt.NDArray[np.int64], n_pos: int) -> float:
    """:func:`_average_precision` from the rows and hits of each level, best level first."""
    if n.size == 0:
        return 0.0
    tp_t = np.cumsum(hit)
    precision = tp_t / np.cumsum(n)
    recall = tp_t / n_pos
    gain = np.diff(np.r_[0.0, recall])
    return float(np.sum(gain * precision))


def _true_bursts(
    bursts: pl.DataFrame, truth: pl.DataFrame, members: pl.DataFrame | None
) -> pl.Series:
    """True/false per burst row: key-and-time rule or majority rule."""
    if bursts.height == 0:
        return pl.Series("y", [], dtype=pl.Boolean)
    camp = (
        truth.filter(pl.col("campaign").is_not_null())
        .group_by("campaign")
        .agg(pl.col("keys").first(), pl.col("start").min(), pl.col("end").max())
        .explode("keys")
        .rename({"keys": "key", "start": "c_start", "end": "c_end"})
        .filter(pl.col("key").is_not_null())
    )
    camp = pl.concat(
        [
            camp,
            camp.with_columns(normalize_text(pl.col("key")).alias("key")),
        ]
    ).unique()
    rows = bursts.select(
        pl.int_range(pl.len(), dtype=pl.UInt32).alias("row"), "burst", "key", "start", "end"
    )
    by_key = (
        rows.join(camp, on="key", how="inner")
        .filter(
            pl.col("c_start").is_null()
            | ((pl.col("start") <= pl.col("c_end")) & (pl.col("end") >= pl.col("c_start")))
        )
        .select("row")
        .unique()
    )
    y = np.zeros(bursts.height, bool)
    y[by_key["row"].to_numpy()] = True
    if members is not None and members.height:
        coord = truth.select("actor_id", "coordinated")
        share = (
            members.select("burst", pl.col("actor_id").cast(pl.String))
            .unique()
            .join(coord, on="actor_id", how="left")
            .group_by("burst")
            .agg(pl.col("coordinated").fill_null(False).mean().alias("share"))
        )
        major = rows.join(share, on="burst", how="inner").filter(pl.col("share") > 0.5)
        y[major["row"].to_numpy()] = True
    return pl.Series("y", y)


_Tables = tuple[pl.DataFrame, pl.LazyFrame, pl.DataFrame, EventFrame | None, EventFrame | None]


def _tables_of(result: AuditTables) -> _Tables:
    acts = getattr(result, "actions", None)
    return result.nodes, result.edge_parts.lazy(), result.bursts, result.events, acts


def _read_outdir(outdir: Path) -> _Tables:
    if not outdir.is_dir():
        raise InputError(str(outdir), "audit output directory not found")

    def read(name: str) -> pl.DataFrame:
        path = outdir / name
        if not path.is_file():
            raise InputError(str(path), "missing from the audit output directory")
        try:
            if name.endswith(".csv"):
                return pl.read_csv(path, infer_schema=False)
            return pl.read_parquet(path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(str(path), f"cannot read: {exc}") from None

    nodes = read("nodes.csv")
    _need(nodes, ("actor_id", "flagged", "cluster"), str(outdir / "nodes.csv"))
    nodes = nodes.with_columns(
        pl.col("flagged").str.to_lowercase().is_in(["true", "1"]),
        pl.col("cluster").cast(pl.Int64, strict=False),
    )
    # the pair ranking reads five columns of what may be hundreds of millions of rows,
    # streaming (see _edge_levels_ap)
    edges_path = outdir / "edges.parquet"
    if not edges_path.is_file():
        raise InputError(str(edges_path), "missing from the audit output directory")
    try:
        pl.read_parquet_schema(edges_path)
    except (pl.exceptions.PolarsError, OSError) as exc:
        raise InputError(str(edges_path), f"cannot read: {exc}") from None
    edges = pl.scan_parquet(edges_path)
    bursts = read("bursts.parquet")
    read("clusters.parquet")  # must exist and be readable (an audit output)
    events: pl.LazyFrame | None = None
    events_path = outdir / "events.parquet"
    if events_path.is_file():  # only the columns of the bursts' signals are read
        try:
            pl.read_parquet_schema(events_path)
        except (pl.exceptions.PolarsError, OSError) as exc:
            raise InputError(str(events_path), f"cannot read: {exc}") from None
        events = pl.scan_parquet(events_path)
    return nodes, edges, bursts, events, None


def _burst_actors(
    events: EventFrame | None, bursts: pl.DataFrame, acts: EventFrame | None
) -> pl.DataFrame | None:
    """``burst, actor_id`` of every burst whose signal can be recomputed from events."""
    # runs are maximal: a burst's (signal, key) and span alone find its actions
    if bursts.height == 0 or "signal" not in bursts.columns:
        return None
    if acts is not None:  # held or a scan: only the bursts' keys are read
        keys = bursts.select("signal", "key").unique().lazy()
        held = acts.lazy().join(keys, on=["signal", "key"], how="semi").collect(engine="streaming")
        if held.height:
            return burst_members(held, bursts).select("burst", ACTOR_ID)
    if events is None:
        return None
    signals = [s for s in bursts["signal"].unique().sort().to_list() if s in EXACT_SIGNALS]
    if not signals:
        return None
    # one signal's actions at a time: a month of events has tens of millions of them
    parts = [
        burst_members(actions(events, signals=s), bursts.filter(pl.col("signal") == s))
        for s in signals
    ]
    return pl.concat(parts).sort("burst", "first_ts", ACTOR_ID).select("burst", ACTOR_ID)
