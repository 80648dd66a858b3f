"""Write canonical events as a CrowdTangle historical-data CSV export.

The counterpart of :mod:`coordscope.datasets.crowdtangle`.
"""

from __future__ import annotations

import polars as pl

from coordscope.datasets.crowdtangle import FACEBOOK_COLUMNS, INSTAGRAM_COLUMNS, OVERPERFORMING
from coordscope.datasets.writers._common import csv_compression
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    EVENT_ID,
    MEDIA,
    PLATFORM,
    TEXT,
    TS,
    URLS,
)

__all__ = ["write"]


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as a CrowdTangle historical-data CSV export.

    All-Instagram events give an Instagram export
    (:data:`~coordscope.datasets.crowdtangle.INSTAGRAM_COLUMNS`), anything else a
    Facebook page export (:data:`~coordscope.datasets.crowdtangle.FACEBOOK_COLUMNS`).
    Times are written in UTC (``2021-01-06 19:42:05 UTC``, as a dashboard set to UTC
    does). ``URL`` is the ``event_id`` when it is an ``http(s)`` address, else a post
    address built from it (``https://www.facebook.com/{actor_id}/posts/{event_id}``,
    ``https://www.instagram.com/p/{event_id}/``). A post carries one link: the first
    URL is ``Link`` (Facebook ``Type`` ``Link``); a Facebook post without URLs but with
    media is a ``Photo`` post whose ``Link`` is the first media item; Instagram's
    ``Photo`` is the first media item and its ``Link`` the first URL or the post's own
    address. ``kind`` and ``object_id`` are not written (CrowdTangle exports posts
    only). Interaction counts are 0 unless ``x_total_interactions`` is present.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`).
    path : str
        The file to write; gzip-compressed when it ends with ``.gz``.

    Notes
    -----
    Cost ``O(n)``, vectorized.
    """
    platform = events[PLATFORM].cast(pl.String)
    instagram = events.height > 0 and bool((platform == "instagram").all())
    ts = pl.col(TS).dt.convert_time_zone("UTC")
    stamp = ts.dt.strftime("%Y-%m-%d %H:%M:%S") + pl.lit(" UTC")
    first_url = pl.col(URLS).list.first()
    first_media = pl.col(MEDIA).list.first()
    event_id = pl.col(EVENT_ID).cast(pl.String)
    is_address = event_id.str.contains(r"^https?://")
    interactions = (
        pl.col("x_total_interactions").cast(pl.Int64).fill_null(0)
        if "x_total_interactions" in events.columns
        else pl.lit(0, dtype=pl.Int64)
    ).cast(pl.String)
    zero = pl.lit("0")
    actor_id = pl.col(ACTOR_ID).cast(pl.String)
    actor_name = pl.coalesce(pl.col(ACTOR_NAME).cast(pl.String), actor_id)
    common: dict[str, pl.Expr] = {
        "Followers at Posting": zero,
        "Post Created": stamp,
        "Post Created Date": ts.dt.strftime("%Y-%m-%d"),
        "Post Created Time": ts.dt.strftime("%H:%M:%S"),
        "Total Interactions": interactions,
        "Likes": zero,
        "Comments": zero,
    }
    if instagram:
        url = (
            pl.when(is_address)
            .then(event_id)
            .otherwise(pl.lit("https://www.instagram.com/p/") + event_id + pl.lit("/"))
        )
        values = {
            **common,
            "Account": actor_name,
            "User Name": actor_id,
            "Type": pl.when(first_media.is_not_null())
            .then(pl.lit("Photo"))
            .otherwise(pl.lit("Album")),
            "Views": zero,
            "URL": url,
            "Link": pl.coalesce(first_url, url),
            "Photo": first_media,
            "Description": pl.col(TEXT),
            "Overperforming Score": pl.lit("1.00"),
        }
        columns: tuple[str, ...] = INSTAGRAM_COLUMNS
    else:
        url = (
            pl.when(is_address)
            .then(event_id)
            .otherwise(
                pl.lit("https://www.facebook.com/") + actor_id + pl.lit("/posts/") + event_id
            )
        )
        created = pl.col(ACTOR_CREATED).dt.convert_time_zone("UTC")
        photo = first_url.is_null() & first_media.is_not_null()
        values = {
            **common,
            "Page Name": actor_name,
            "Facebook Id": actor_id,
            "Page Created": created.dt.strftime("%Y-%m-%d %H:%M:%S") + pl.lit(" UTC"),
            "Likes at Posting": zero,
            "Type": pl.when(first_url.is_not_null())
            .then(pl.lit("Link"))
            .when(photo)
            .then(pl.lit("Photo"))
            .otherwise(pl.lit("Status")),
            **{c: zero for c in ("Shares", "Love", "Wow", "Haha", "Sad", "Angry", "Care")},
            "URL": url,
            "Message": pl.col(TEXT),
            "Link": pl.when(photo).then(first_media).otherwise(first_url),
            OVERPERFORMING: pl.lit("1.00"),
        }
        columns = FACEBOOK_COLUMNS
    table = events.select(
        values.get(c, pl.lit(None, dtype=pl.String)).cast(pl.String).alias(c) for c in columns
    )
    table.write_csv(path, compression=csv_compression(path))
