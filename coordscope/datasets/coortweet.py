"""CooRTweet input tables, narrow and multimodal wide.

*Narrow* (``CooRTweet::prep_data`` output, the input of ``detect_groups``): columns
``object_id`` (what was shared), ``account_id``, ``content_id`` (the share itself) and
``timestamp_share`` (epoch seconds). Every row is a ``repost`` event: ``event_id =
content_id``, ``object_id = object_id``.

*Wide multimodal* (as ``german_elections.csv.gz``): ``account_id, post_id, url_id,
hashtag_id, domain_id, phash_id, timestamp``, long form — a post with two URLs is two
rows. Rows of one post are merged into one ``post`` event (``url_id`` → ``urls``,
``hashtag_id`` → ``hashtags``, ``phash_id`` → ``media``, ``domain_id`` →
``x_domain_ids``); merged rows are counted as accepted (``counters.merged_rows``). An
``fb_``/``tw_``/``ig_`` prefix of ``account_id`` sets the platform. The ids stand in for
URLs and are kept as they are, never "normalised".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

import polars as pl

from coordscope.datasets._io import compression_of
from coordscope.datasets._stage import RECORD, SOURCE, Staged
from coordscope.datasets._tables import read_delimited, read_parquet, sniff_delimiter
from coordscope.errors import InputError

__all__ = ["NARROW_COLUMNS", "WIDE_COLUMNS", "read", "sniff"]

NARROW_COLUMNS: Final = ("object_id", "account_id", "content_id", "timestamp_share")
WIDE_REQUIRED: Final = ("account_id", "post_id", "timestamp")
WIDE_COLUMNS: Final = (
    "account_id",
    "post_id",
    "url_id",
    "hashtag_id",
    "domain_id",
    "phash_id",
    "timestamp",
)
_WIDE_OPTIONAL: Final = ("url_id", "hashtag_id", "domain_id", "phash_id")
_PLATFORM_PREFIX: Final = {"fb_": "facebook", "tw_": "twitter", "ig_": "instagram"}


def _header(head: str) -> set[str]:
    first = head.lstrip().splitlines()[0] if head.strip() else ""
    return {c.strip().strip('"').strip() for c in first.split(sniff_delimiter(first))}


def sniff(head: str) -> bool:
    """Tell whether the header names CooRTweet's narrow or wide columns."""
    names = _header(head)
    if set(NARROW_COLUMNS) <= names:
        return True
    return set(WIDE_REQUIRED) <= names and bool(names & set(_WIDE_OPTIONAL))


def _table(path: str) -> pl.DataFrame:
    if compression_of(path) is None:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                return read_parquet(path).cast(pl.String)
    return read_delimited(path)


def read(path: str, *, mapping: Mapping[str, str] | None = None) -> Staged:
    """Stage a CooRTweet table (narrow or wide; see the module docstring). Cost ``O(n)``.

    ``mapping`` is not used: the column names are CooRTweet's.
    """
    raw = _table(path)
    names = set(raw.columns)
    records = pl.int_range(1, raw.height + 1, eager=True, dtype=pl.Int64)
    if set(NARROW_COLUMNS) <= names:
        frame = pl.DataFrame(
            {
                SOURCE: pl.repeat(path, raw.height, eager=True, dtype=pl.String),
                RECORD: records,
                "event_id": raw["content_id"],
                "actor_id": raw["account_id"],
                "object_id": raw["object_id"],
                "ts": raw["timestamp_share"],
            }
        ).with_columns(
            pl.lit("repost").alias("kind"),
            pl.when(pl.col("object_id").is_null() | (pl.col("object_id").str.strip_chars() == ""))
            .then(pl.lit("missing object_id"))
            .alias("_reject"),
            _platform(pl.col("actor_id")).alias("platform"),
        )
        return Staged(frame, format="coortweet", normalize_urls=False)
    if not set(WIDE_REQUIRED) <= names:
        missing = [c for c in NARROW_COLUMNS if c not in names]
        raise InputError(
            path,
            f"not a CooRTweet table: missing column(s) {', '.join(missing)} "
            f"(or {', '.join(WIDE_REQUIRED)} for the wide form)",
        )

    def one(col: str) -> pl.Expr:
        if col not in names:
            return pl.lit([], dtype=pl.List(pl.String))
        return pl.concat_list(pl.col(col)).list.drop_nulls()

    frame = raw.select(
        pl.lit(path).alias(SOURCE),
        records.alias(RECORD),
        pl.col("post_id").alias("event_id"),
        pl.col("account_id").alias("actor_id"),
        pl.col("timestamp").alias("ts"),
        pl.lit("post").alias("kind"),
        _platform(pl.col("account_id")).alias("platform"),
        one("url_id").alias("urls"),
        one("hashtag_id").alias("hashtags"),
        one("phash_id").alias("media"),
        one("domain_id").alias("x_domain_ids"),
    ).with_columns(
        pl.when(pl.col("event_id").is_null()).then(pl.lit("missing post_id")).alias("_reject")
    )
    return Staged(frame, format="coortweet", normalize_urls=False, merge_rows=True)


def _platform(account: pl.Expr) -> pl.Expr:
    out: pl.Expr = pl.lit("generic")
    for prefix, name in reversed(_PLATFORM_PREFIX.items()):
        out = pl.when(account.str.starts_with(prefix)).then(pl.lit(name)).otherwise(out)
    return out
