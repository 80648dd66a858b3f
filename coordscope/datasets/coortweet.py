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

from collections.abc import Iterator, Mapping
from typing import Final

import polars as pl

from coordscope.datasets._io import ReadLimits, compression_of
from coordscope.datasets._stage import RECORD, SOURCE, RowRejects, Staged
from coordscope.datasets._tables import (
    DelimitedText,
    iter_parquet,
    parquet_names,
    sniff_delimiter,
)
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


def _table(
    path: str, limits: ReadLimits | None
) -> tuple[list[str], Iterator[tuple[int, pl.DataFrame]], RowRejects | None]:
    """Column names, pieces and parse-time rejects of a CSV or Parquet file.

    Pieces are ``(first record, rows)``, all String; the rejects (rows with bytes that
    are not valid UTF-8) come from CSV only.
    """
    if compression_of(path) is None:
        with open(path, "rb") as fh:
            if fh.read(4) == b"PAR1":
                names = parquet_names(path)
                pieces = iter_parquet(path, columns=names, limits=limits)
                return names, ((first, rows.cast(pl.String)) for first, rows in pieces), None
    table = DelimitedText(path, limits=limits)
    return table.names, table.pieces(), table.row_rejects


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Stage a CooRTweet table (narrow or wide; see the module docstring).

    Cost ``O(n)``, vectorized, a piece of ``limits.piece_bytes`` at a time. ``mapping`` is
    not used: the column names are CooRTweet's.

    Raises
    ------
    InputError
        The columns are neither the narrow nor the wide form (at once), or a piece cannot
        be parsed (while the pieces are read).
    """
    del mapping
    names, pieces, row_rejects = _table(path, limits)
    if set(NARROW_COLUMNS) <= set(names):
        staged = (_stage_narrow(raw, path, first) for first, raw in pieces)
        return Staged(staged, format="coortweet", normalize_urls=False, row_rejects=row_rejects)
    if not set(WIDE_REQUIRED) <= set(names):
        missing = [c for c in NARROW_COLUMNS if c not in names]
        raise InputError(
            path,
            f"not a CooRTweet table: missing column(s) {', '.join(missing)} "
            f"(or {', '.join(WIDE_REQUIRED)} for the wide form)",
        )
    staged = (_stage_wide(raw, path, first, set(names)) for first, raw in pieces)
    return Staged(
        staged,
        format="coortweet",
        normalize_urls=False,
        merge_rows=True,
        row_rejects=row_rejects,
    )


def _stage_narrow(raw: pl.DataFrame, path: str, first: int) -> pl.DataFrame:
    """Staged rows of a piece of the narrow form whose first row is record ``first``."""
    return pl.DataFrame(
        {
            SOURCE: pl.repeat(path, raw.height, eager=True, dtype=pl.String),
            RECORD: pl.int_range(first, raw.height + first, eager=True, dtype=pl.Int64),
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


def _stage_wide(raw: pl.DataFrame, path: str, first: int, names: set[str]) -> pl.DataFrame:
    """Staged rows of a piece of the wide form whose first row is record ``first``."""

    def one(col: str) -> pl.Expr:
        if col not in names:
            return pl.lit([], dtype=pl.List(pl.String))
        return pl.concat_list(pl.col(col)).list.drop_nulls()

    return raw.select(
        pl.lit(path).alias(SOURCE),
        pl.int_range(first, pl.len() + first, dtype=pl.Int64).alias(RECORD),
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


def _platform(account: pl.Expr) -> pl.Expr:
    out: pl.Expr = pl.lit("generic")
    for prefix, name in reversed(_PLATFORM_PREFIX.items()):
        out = pl.when(account.str.starts_with(prefix)).then(pl.lit(name)).otherwise(out)
    return out
