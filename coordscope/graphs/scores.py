"""Cluster scores: documented formulas of measured quantities, and the ranking.

Scores lie in ``[0, 1]`` and are weighted sums of bounded, monotone terms, so a
score never goes down when the evidence behind it grows, and each term can be read off
the table by hand. They *rank*; they are not probabilities (the group test's q-value is
the calibrated quantity, and :mod:`coordscope.metrics.scorer` learns a calibrated probability
from labelled data).

**Cluster score** (:func:`cluster_score`)::

    score = 0.40·E + 0.20·K + 0.15·S + 0.10·D + 0.15·Z

=====  ====================================  ===============================================
term   formula                               measured quantity
=====  ====================================  ===============================================
E      min(1, −log10(q) / 10)                group-test q-value (``qvalue``; 0 when null):
                                             q = 1e−10 or smaller gives the full term
K      n / (n + 5)                           distinct keys pushed by ≥ 2 members (``n_keys``)
S      60 / (60 + Δ)                         median closest Δt in seconds (``median_dt``;
                                             0 when null): 60 s gives one half
D      density                               share of member pairs with a significant edge
Z      (s − 1) / (s + 4)                     members (``size``): 2 → 0.17, 11 → 0.67
=====  ====================================  ===============================================

A high cluster score means: the group as a whole acted together far more often than
chance allows (tiny q-value), on many different posts, links or hashtags, within seconds
of each other, most of its members are linked to each other directly, and it is not just
two accounts.

The burst score is :func:`coordscope.stats.bursts.burst_score`.

Every term is non-decreasing in its evidence (and non-increasing in ``qvalue`` and
``median_dt``), so the score is monotone; ``tests/test_scores.py`` checks it.
"""

from __future__ import annotations

from typing import Any, Final, Protocol

import polars as pl

from coordscope.errors import ParameterError
from coordscope.schema import CLUSTER_SCHEMA

__all__ = [
    "CLUSTER_WEIGHTS",
    "ClusterScorer",
    "cluster_score",
    "cluster_terms",
    "rank_clusters",
    "rank_order",
    "score_clusters",
]

#: Weights of the cluster score's terms (they sum to 1).
CLUSTER_WEIGHTS: Final[dict[str, float]] = {
    "evidence": 0.40,
    "keys": 0.20,
    "synchrony": 0.15,
    "density": 0.10,
    "size": 0.15,
}

#: −log10(q) at which the evidence term is full.
_Q_DECADES: Final = 10.0
#: n_keys at which the keys term is one half.
_KEYS_HALF: Final = 5.0
#: median_dt (seconds) at which the synchrony term is one half.
_DT_HALF: Final = 60.0

_CLUSTER_COLUMNS: Final = ("qvalue", "n_keys", "median_dt", "density", "size")


class ClusterScorer(Protocol):
    """A learned cluster score (:class:`coordscope.metrics.scorer.Scorer` is one)."""

    def score(self, clusters: pl.DataFrame) -> pl.Series:
        """One score per cluster row, in row order."""
        ...

    def describe(self) -> dict[str, Any]:
        """Describe the scorer as JSON-ready data, for ``summary.json``."""
        ...


def _require(frame: pl.DataFrame, columns: tuple[str, ...], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(f"{what} lacks column(s) {', '.join(missing)}")


def cluster_terms() -> dict[str, pl.Expr]:
    """Return the cluster score's terms as polars expressions, each in ``[0, 1]``.

    Null inputs give 0 (no evidence), never a null score.
    """
    q = pl.col("qvalue").cast(pl.Float64).clip(1e-300, 1.0)
    n_keys = pl.col("n_keys").cast(pl.Float64).fill_null(0.0).clip(0.0)
    dt = pl.col("median_dt").cast(pl.Float64).clip(0.0)
    size = pl.col("size").cast(pl.Float64).fill_null(1.0).clip(1.0)
    return {
        "evidence": (-q.log10() / _Q_DECADES).clip(0.0, 1.0).fill_null(0.0).fill_nan(0.0),
        "keys": n_keys / (n_keys + _KEYS_HALF),
        "synchrony": (_DT_HALF / (_DT_HALF + dt)).fill_null(0.0).fill_nan(0.0),
        "density": pl.col("density").cast(pl.Float64).clip(0.0, 1.0).fill_null(0.0).fill_nan(0.0),
        "size": (size - 1.0) / (size + 4.0),
    }


def cluster_score(clusters: pl.DataFrame) -> pl.Series:
    """Score of each cluster, in ``[0, 1]`` (formula in the module docstring).

    Parameters
    ----------
    clusters : polars.DataFrame
        Needs ``qvalue, n_keys, median_dt, density, size``
        (:data:`coordscope.results.CLUSTER_SCHEMA`); other columns are ignored.

    Returns
    -------
    polars.Series
        Float64 ``score``, one per row, in row order. Cost ``O(n)``.

    Raises
    ------
    ParameterError
        A needed column is missing.

    Examples
    --------
    Every term at a value given in the module docstring (q = 1e-10: E = 1; 5 keys:
    K = 1/2; 60 s: S = 1/2; density 1; 6 members: Z = 1/2), then no evidence at all:

    >>> clusters = pl.DataFrame(
    ...     {
    ...         "qvalue": [1e-10, None],
    ...         "n_keys": [5, 0],
    ...         "median_dt": [60.0, None],
    ...         "density": [1.0, 0.0],
    ...         "size": [6, 1],
    ...     }
    ... )
    >>> cluster_score(clusters).round(6).to_list()  # 0.40 + 0.10 + 0.075 + 0.10 + 0.075
    [0.75, 0.0]
    """
    _require(clusters, _CLUSTER_COLUMNS, "the cluster table")
    terms = cluster_terms()
    expr = pl.sum_horizontal([CLUSTER_WEIGHTS[name] * terms[name] for name in CLUSTER_WEIGHTS])
    return clusters.select(expr.alias("score"))["score"]


def _order(clusters: pl.DataFrame) -> pl.DataFrame:
    """Row order of the ranking: significant first, score descending, smallest member."""
    score = clusters["score"] if "score" in clusters.columns else None
    if score is None or score.null_count() == clusters.height:
        score = cluster_score(clusters)
    keyed = pl.DataFrame(
        {
            "_row": pl.int_range(clusters.height, eager=True, dtype=pl.UInt32),
            "_sig": clusters["significant"].fill_null(False),
            "_score": score.fill_null(0.0).fill_nan(0.0),
            "_first": clusters["members"].list.min(),
        }
    )
    return keyed.sort(
        ["_sig", "_score", "_first", "_row"],
        descending=[True, True, False, False],
        nulls_last=True,
    )


def rank_order(clusters: pl.DataFrame) -> pl.DataFrame:
    """How :func:`rank_clusters` renumbers: ``previous`` (old ``cluster``) → ``cluster``.

    Use it to renumber ``nodes.cluster`` and ``edges.cluster`` after ranking.

    Returns
    -------
    polars.DataFrame
        ``previous`` Int64, ``cluster`` Int64 (1-based rank), in rank order.
    """
    _require(clusters, ("cluster", "members", "significant"), "the cluster table")
    order = _order(clusters)["_row"]
    return pl.DataFrame(
        {
            "previous": clusters["cluster"].cast(pl.Int64).gather(order),
            "cluster": pl.int_range(1, clusters.height + 1, eager=True, dtype=pl.Int64),
        }
    )


def rank_clusters(clusters: pl.DataFrame) -> pl.DataFrame:
    """Sort clusters for every output and renumber ``cluster`` 1..n.

    Order: significant first; then ``score`` descending; ties broken by the smallest
    member id (lexicographic), then by input row, so the order is deterministic. When
    ``score`` is missing or all null it is computed with :func:`cluster_score` first.
    Cost ``O(n log n)``.

    Parameters
    ----------
    clusters : polars.DataFrame
        :data:`coordscope.results.CLUSTER_SCHEMA` (at least ``members``, ``significant``
        and either ``score`` or the columns of :func:`cluster_score`).

    Returns
    -------
    polars.DataFrame
        The same columns, ranked; ``cluster`` is the 1-based rank (Int64) and ``score``
        is filled when it was missing. :func:`rank_order` gives the old → new mapping.
    """
    _require(clusters, ("members", "significant"), "the cluster table")
    if "score" not in clusters.columns or clusters["score"].null_count() == clusters.height:
        clusters = clusters.with_columns(cluster_score(clusters).alias("score"))
    order = _order(clusters)["_row"]
    ranked = clusters.select(pl.all().gather(order))
    rank = pl.int_range(1, clusters.height + 1, eager=True, dtype=pl.Int64).alias("cluster")
    if "cluster" in ranked.columns:
        return ranked.with_columns(rank)
    return ranked.insert_column(0, rank)


def score_clusters(clusters: pl.DataFrame, scorer: ClusterScorer | None = None) -> pl.DataFrame:
    """Score (the formula, or a learned scorer) and rank: flagged first, then by score.

    Parameters
    ----------
    clusters : polars.DataFrame
        :data:`~coordscope.schema.CLUSTER_SCHEMA` rows (``score`` may be null).
    scorer : ClusterScorer, optional
        Replaces :func:`cluster_score`.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.CLUSTER_SCHEMA`, ranked (:func:`rank_clusters`).
    """
    score = scorer.score(clusters) if scorer is not None else cluster_score(clusters)
    scored = clusters.with_columns(pl.Series("score", score, dtype=pl.Float64))
    ranked = rank_clusters(scored)
    return ranked.select([pl.col(c).cast(t) for c, t in CLUSTER_SCHEMA.items()])
