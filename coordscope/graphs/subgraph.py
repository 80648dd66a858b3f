"""Subgraphs for users coming from CooRTweet: keep the edges above a weight quantile.

CooRTweet marks an edge ``weight_threshold = 1`` when its weight is above the
``edge_weight`` quantile (type 7, R's default) of all edge weights, and its users then
study the subgraph of those edges and its components. :func:`weight_subgraph` does the
same on any edge table — a native or audit table with ``n_keys`` as the weight, or
CooRTweet's own network table with ``weight`` — and :func:`weight_components` numbers the
components of what is kept. Unlike the audit's significance, a weight quantile is a
relative cut: it keeps the top half of whatever was found, coordinated or not.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coordscope.errors import ParameterError
from coordscope.stats.communities import components

__all__ = ["weight_components", "weight_subgraph"]


def weight_subgraph(
    edges: pl.DataFrame, *, weight: str = "n_keys", quantile: float = 0.5
) -> pl.DataFrame:
    """Keep the edges whose ``weight`` is strictly above its ``quantile`` (type 7).

    Parameters
    ----------
    edges : polars.DataFrame
        One row per undirected pair with a numeric ``weight`` column.
    weight : str, default "n_keys"
        The weight column (``weight`` for CooRTweet's network table).
    quantile : float, default 0.5
        In ``[0, 1]``; CooRTweet's ``edge_weight``. The threshold is numpy's ``linear``
        quantile, which is R's type 7; edges *equal* to it are dropped, as in CooRTweet.

    Returns
    -------
    polars.DataFrame
        The kept rows, in input order. Cost ``O(E log E)`` (the quantile).
    """
    if weight not in edges.columns:
        raise ParameterError(f"edges have no column '{weight}'")
    if not 0.0 <= quantile <= 1.0:
        raise ParameterError(f"quantile must be in [0, 1], got {quantile}")
    if edges.height == 0:
        return edges
    values = edges[weight].cast(pl.Float64).to_numpy()
    threshold = float(np.quantile(values, quantile, method="linear"))
    return edges.filter(pl.col(weight).cast(pl.Float64) > threshold)


def weight_components(
    edges: pl.DataFrame,
    *,
    weight: str = "n_keys",
    quantile: float = 0.5,
    a: str = "actor_a",
    b: str = "actor_b",
) -> pl.DataFrame:
    """Find the components of :func:`weight_subgraph`, largest first.

    Returns ``actor_id, component`` (components numbered by smallest member id), with
    ``size`` of each component; sorted by size descending, then component and account.
    """
    kept = weight_subgraph(edges, weight=weight, quantile=quantile)
    comp = components(kept, a=a, b=b)
    sizes = comp.group_by("component").agg(pl.len().cast(pl.UInt32).alias("size"))
    return comp.join(sizes, on="component").sort(
        ["size", "component", "actor_id"], descending=[True, False, False]
    )
