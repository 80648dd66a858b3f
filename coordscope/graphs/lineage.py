"""Campaign lineage: stable ids for flagged clusters across runs, and what changed.

A *campaign* is a flagged (significant) cluster. Its id is a string that outlives the
run: ``C-YYYYMMDD-xxxxxx``, the day it was first seen (the newest day of that run's
data) and six hex digits of the SHA-256 of its members then, sorted. Cluster *ranks*
change every run; campaign ids do not.

Matching rule
-------------
A current campaign ``C`` and a previous one ``P`` are *linked* when they share at least
half of the smaller one's members (overlap coefficient
``|C ∩ P| / min(|C|, |P|) >= 0.5``; at least two shared members). ``C`` keeps ``P``'s id
when each is the other's best link: ``P`` is the link of ``C`` with the most shared
members (ties: the older campaign, then the smaller id) and ``C`` is the link of ``P``
with the most shared members (ties: the higher-ranked cluster). Every other current
campaign gets a new id.

Statuses (one row per current campaign, and one per previous campaign not carried on):

``new``
    linked to no previous campaign.
``continuing`` / ``grown`` / ``shrunk``
    one-to-one link, same size (members may have changed), more members, fewer.
``merged``
    a current campaign linked to several previous ones (``related`` lists them); and a
    previous campaign whose members went into a campaign that kept another id
    (``related`` names it, ``cluster`` is null).
``split``
    a current campaign linked to a previous one that is linked to several current ones
    (``related`` names the previous one; the best-linked part keeps its id).
``ended``
    a previous campaign linked to no current one (its accounts no longer form a flagged
    cluster in the horizon: it stopped, or its activity left the horizon).

The registry (:data:`REGISTRY_SCHEMA`) keeps every campaign ever seen, the ended ones
inactive, so ``first_seen`` survives. Cost: joins over the members of flagged clusters
(thousands of rows); nothing here depends on the number of events.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Final

import polars as pl

__all__ = [
    "CHANGE_SCHEMA",
    "MIN_OVERLAP",
    "REGISTRY_SCHEMA",
    "STATUSES",
    "Lineage",
    "campaign_id",
    "track_campaigns",
]

#: Shared members over the smaller campaign's size, at least, for two to be linked.
MIN_OVERLAP: Final = 0.5

#: The campaigns of a state, one row each (the ended ones have ``active`` false).
REGISTRY_SCHEMA: Final[dict[str, pl.DataType]] = {
    "campaign": pl.String(),
    "members": pl.List(pl.String()),
    "first_seen": pl.Date(),
    "last_seen": pl.Date(),
    "active": pl.Boolean(),
}

#: ``changes.parquet``: what changed since the last run, current campaigns first (by
#: cluster rank), then the previous campaigns not carried on (by id).
CHANGE_SCHEMA: Final[dict[str, pl.DataType]] = {
    "campaign": pl.String(),
    "status": pl.String(),
    "cluster": pl.Int64(),  # rank in clusters.parquet; null when not current
    "size": pl.Int32(),  # members now (0 when not current)
    "previous_size": pl.Int32(),  # members at the last run (null when new)
    "members_added": pl.List(pl.String()),
    "members_removed": pl.List(pl.String()),
    "related": pl.List(pl.String()),  # merged from / split from / merged into
    "first_seen": pl.Date(),  # newest day of the data of the run that first saw it
    "last_seen": pl.Date(),
}

#: Every status, in the order the report lists them.
STATUSES: Final = ("new", "grown", "shrunk", "continuing", "merged", "split", "ended")


@dataclass
class Lineage:
    """What :func:`track_campaigns` returns.

    Attributes
    ----------
    ids : polars.Series
        ``campaign``: one string per row of the clusters given, null for the clusters
        not flagged.
    changes : polars.DataFrame
        :data:`CHANGE_SCHEMA`.
    registry : polars.DataFrame
        :data:`REGISTRY_SCHEMA`, sorted by id: the registry to keep for the next run.
    """

    ids: pl.Series
    changes: pl.DataFrame
    registry: pl.DataFrame


def campaign_id(members: list[str], as_of: dt.date) -> str:
    """Return the id of a campaign first seen on ``as_of`` with these members."""
    digest = hashlib.sha256("\n".join(sorted(members)).encode("utf-8")).hexdigest()
    return f"C-{as_of:%Y%m%d}-{digest[:6]}"


def track_campaigns(
    clusters: pl.DataFrame,
    *,
    registry: pl.DataFrame | None = None,
    as_of: dt.date,
    min_overlap: float = MIN_OVERLAP,
) -> Lineage:
    """Give the flagged clusters stable campaign ids and say what changed.

    Parameters
    ----------
    clusters : polars.DataFrame
        ``cluster`` (rank), ``members`` (list of account ids) and ``significant``.
    registry : polars.DataFrame, optional
        :data:`REGISTRY_SCHEMA` of the previous run (None: the first run, every
        campaign is new).
    as_of : datetime.date
        The newest day of the data audited (``first_seen`` / ``last_seen``).
    min_overlap : float, default 0.5
        The least overlap coefficient of a link (see the module docstring).

    Returns
    -------
    Lineage
    """
    if not 0.0 < min_overlap <= 1.0:
        raise ValueError(f"min_overlap must be in (0, 1], got {min_overlap}")
    reg = (
        pl.DataFrame(schema=REGISTRY_SCHEMA)
        if registry is None
        else registry.select([pl.col(c).cast(t) for c, t in REGISTRY_SCHEMA.items()])
    )
    cur = (
        clusters.filter(pl.col("significant").fill_null(False))
        .select(pl.col("cluster").cast(pl.Int64), pl.col("members").list.sort())
        .with_columns(pl.col("members").list.len().cast(pl.Int32).alias("size"))
        .sort("cluster")
    )
    prev = reg.filter("active").select(
        "campaign",
        pl.col("members").list.sort().alias("p_members"),
        pl.col("members").list.len().cast(pl.Int32).alias("p_size"),
        "first_seen",
    )
    links = (
        cur.select("cluster", "size", pl.col("members").alias("m"))
        .explode("m")
        .join(
            prev.select("campaign", "p_size", pl.col("p_members").alias("m")).explode("m"), on="m"
        )
        .group_by("cluster", "campaign", "size", "p_size")
        .agg(pl.len().cast(pl.Int32).alias("shared"))
        .filter(
            (pl.col("shared") >= 2)
            & (pl.col("shared") >= min_overlap * pl.min_horizontal("size", "p_size"))
        )
        .join(prev.select("campaign", "first_seen"), on="campaign")
    )
    best_prev = (
        links.sort(
            ["cluster", "shared", "first_seen", "campaign"],
            descending=[False, True, False, False],
        )
        .group_by("cluster", maintain_order=True)
        .agg(pl.col("campaign").first().alias("best"), pl.len().alias("n_links"),
             pl.col("campaign").alias("linked"))
    )  # fmt: skip
    best_cur = (
        links.sort(["campaign", "shared", "cluster"], descending=[False, True, False])
        .group_by("campaign", maintain_order=True)
        .agg(pl.col("cluster").first().alias("heir"), pl.len().alias("n_heirs"))
    )
    kept = best_prev.join(best_cur, left_on="best", right_on="campaign").filter(
        pl.col("heir") == pl.col("cluster")
    )
    table = (
        cur.join(best_prev, on="cluster", how="left")
        .join(kept.select("cluster", pl.col("best").alias("kept")), on="cluster", how="left")
        .join(best_cur.select(pl.col("campaign").alias("best"), "n_heirs"), on="best", how="left")
        .join(
            prev.select(pl.col("campaign").alias("kept"), "p_members", "p_size", "first_seen"),
            on="kept",
            how="left",
        )
        .sort("cluster")  # joins keep no order: the loop below numbers clashing ids in it
    )
    # new ids: the date and a digest of the members (clusters are few: a loop is cheap)
    taken = set(reg["campaign"].to_list())
    fresh: list[str | None] = []
    for kept_id, members in zip(table["kept"].to_list(), table["members"].to_list(), strict=True):
        if kept_id is not None:
            fresh.append(None)
            continue
        base = new = campaign_id(members, as_of)
        serial = 2
        while new in taken:
            new, serial = f"{base}-{serial}", serial + 1
        taken.add(new)
        fresh.append(new)
    linked_members = (
        links.join(prev.select("campaign", "p_members"), on="campaign")
        .group_by("cluster")
        .agg(pl.col("p_members").list.explode().unique().sort().alias("l_members"))
    )
    table = (
        table.with_columns(pl.Series("fresh", fresh, dtype=pl.String))
        .join(linked_members, on="cluster", how="left")
        .with_columns(
            pl.coalesce("kept", "fresh").alias("campaign"),
            pl.when(pl.col("n_links").is_null())
            .then(pl.lit("new"))
            .when(pl.col("n_links") >= 2)
            .then(pl.lit("merged"))
            .when(pl.col("n_heirs") >= 2)
            .then(pl.lit("split"))
            .when(pl.col("size") > pl.col("p_size"))
            .then(pl.lit("grown"))
            .when(pl.col("size") < pl.col("p_size"))
            .then(pl.lit("shrunk"))
            .otherwise(pl.lit("continuing"))
            .alias("status"),
            pl.coalesce("p_members", "l_members", pl.lit([], dtype=pl.List(pl.String))).alias(
                "before"
            ),
        )
        .pipe(_with_parts)
        .with_columns(
            pl.col("members").list.set_difference("before").list.sort().alias("members_added"),
            pl.when(pl.col("kept").is_not_null())
            .then(pl.col("before").list.set_difference("members").list.sort())
            .otherwise(pl.lit([], dtype=pl.List(pl.String)))
            .alias("members_removed"),
            pl.when(pl.col("status") == "merged")
            .then(pl.col("linked").list.set_difference(pl.concat_list("campaign")).list.sort())
            .when((pl.col("status") == "split") & (pl.col("campaign") == pl.col("best")))
            .then(pl.col("parts").list.set_difference(pl.concat_list("campaign")).list.sort())
            .when(pl.col("status") == "split")
            .then(pl.concat_list("best"))
            .otherwise(pl.lit([], dtype=pl.List(pl.String)))
            .alias("related"),
            pl.col("first_seen").fill_null(pl.lit(as_of)),
            pl.lit(as_of).alias("last_seen"),
            pl.col("p_size").alias("previous_size"),
        )
    )
    current_rows = table.sort("cluster").select(
        [pl.col(c).cast(t) for c, t in CHANGE_SCHEMA.items()]
    )
    # previous campaigns no current one carries on: absorbed by a merge, or ended
    carried = table["kept"].drop_nulls()
    heirs = best_cur.join(
        table.select(pl.col("cluster").alias("heir"), pl.col("campaign").alias("into")), on="heir"
    )
    gone = (
        prev.filter(~pl.col("campaign").is_in(carried.implode()))
        .join(heirs.select("campaign", "into"), on="campaign", how="left")
        .join(reg.select("campaign", "last_seen"), on="campaign")
        .sort("campaign")
        .select(
            "campaign",
            pl.when(pl.col("into").is_null())
            .then(pl.lit("ended"))
            .otherwise(pl.lit("merged"))
            .alias("status"),
            pl.lit(None, dtype=pl.Int64).alias("cluster"),
            pl.lit(0, dtype=pl.Int32).alias("size"),
            pl.col("p_size").alias("previous_size"),
            pl.lit([], dtype=pl.List(pl.String)).alias("members_added"),
            pl.col("p_members").alias("members_removed"),
            pl.when(pl.col("into").is_null())
            .then(pl.lit([], dtype=pl.List(pl.String)))
            .otherwise(pl.concat_list("into"))
            .alias("related"),
            "first_seen",
            "last_seen",
        )
        .select([pl.col(c).cast(t) for c, t in CHANGE_SCHEMA.items()])
    )
    changes = pl.concat([current_rows, gone])
    registry_out = (
        pl.concat(
            [
                reg.filter(~pl.col("campaign").is_in(table["campaign"].implode())).with_columns(
                    pl.lit(False).alias("active")
                ),
                table.select(
                    "campaign", "members", "first_seen", "last_seen", pl.lit(True).alias("active")
                ),
            ]
        )
        .with_columns(pl.col("active").fill_null(False))
        .select([pl.col(c).cast(t) for c, t in REGISTRY_SCHEMA.items()])
        .sort("campaign")
    )
    ids = (
        clusters.select(pl.col("cluster").cast(pl.Int64))
        .join(table.select("cluster", "campaign"), on="cluster", how="left", maintain_order="left")
        .get_column("campaign")
    )
    return Lineage(ids=ids, changes=changes, registry=registry_out)


def _with_parts(table: pl.DataFrame) -> pl.DataFrame:
    """Add ``parts``: the ids of the current campaigns sharing this one's best link."""
    parts = table.group_by("best").agg(pl.col("campaign").alias("parts")).drop_nulls("best")
    return table.join(parts, on="best", how="left")
