"""CrowdTangle "historical data" CSV exports (Facebook pages and groups, Instagram).

These are the files CooRnet users have. The platform is told by the columns: a
``Facebook Id`` column (with ``Page Name`` for page exports, ``Group Name`` for group
exports) means Facebook; an ``Account`` column without ``Facebook Id`` means Instagram.

Mapping of a row to the canonical event (:data:`coordscope.schema.EVENT_SCHEMA`):

=================  ===================================================================
canonical          CrowdTangle
=================  ===================================================================
``event_id``       ``URL`` (the post's own address)
``platform``       ``facebook`` or ``instagram``
``actor_id``       ``Facebook Id`` (Facebook; the stable id of the page or group) or
                   ``User Name`` (Instagram, the handle: the only account key exported)
``actor_name``     ``Page Name`` / ``Group Name`` (Facebook), ``Account`` (Instagram)
``ts``             ``Post Created`` (see below)
``kind``           ``post`` (CrowdTangle exports posts only)
``text``           ``Message`` (Facebook) or ``Description`` (Instagram)
``urls``           Facebook: ``Final Link`` when set (the expanded link, as CooRnet uses
                   it), else ``Link`` -- except for ``Photo`` posts, whose ``Link`` is the
                   photo itself; Instagram: ``Link`` when it differs from ``URL``
``hashtags``       the ``#hashtags`` of the text (a ``#`` at the start or after a space
                   or punctuation, so ``/page#top`` is not one)
``mentions``       Instagram: the ``@handles`` of the text (Facebook exports have none)
``media``          Facebook ``Photo`` posts: ``Link``; Instagram: ``Photo``
``actor_created``  ``Page Created`` (Facebook page exports), converted like ``Post Created``
=================  ===================================================================

and two platform columns: ``x_type`` is ``Type`` (``Link``, ``Photo``, ``Status``,
``Native Video``...), ``x_total_interactions`` is ``Total Interactions`` as an integer
(thousands separators dropped).

Empty cells are missing values: an empty ``Link`` gives no URL.

Time zones. ``Post Created`` looks like ``2021-01-06 14:42:05 EST``: the time in the
dashboard's time zone followed by that zone's abbreviation. The abbreviations of
:data:`TZ_OFFSETS` are turned into UTC offsets, vectorized (one ``replace_strict`` on
the abbreviation column). Abbreviations are ambiguous in general; CrowdTangle's are
those of its dashboard settings, so the table takes the North American reading of
``CST`` (-06:00, not China) and the Indian one of ``IST`` (+05:30, not Ireland or
Israel). A value with an abbreviation that is not in the table is a reject naming field
``'Post Created'``; a value with a numeric offset is kept as written; a value without
any zone is taken as UTC and counted as naive. When ``Post Created`` is empty,
``Post Created Date`` and ``Post Created Time`` are used (naive).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Final

import polars as pl

from coordscope.datasets._io import ReadLimits
from coordscope.datasets._stage import RECORD, REJECT, SOURCE, Staged
from coordscope.datasets._tables import DelimitedText
from coordscope.errors import InputError
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    EVENT_ID,
    HASHTAGS,
    KIND,
    MEDIA,
    MENTIONS,
    PLATFORM,
    TEXT,
    TS,
    URLS,
)

__all__ = [
    "FACEBOOK_COLUMNS",
    "FORMAT",
    "INSTAGRAM_COLUMNS",
    "OVERPERFORMING",
    "TZ_OFFSETS",
    "read",
    "sniff",
]

#: The ``--format`` name of this reader.
FORMAT: Final = "crowdtangle"

#: Time zone abbreviations CrowdTangle writes after ``Post Created``, as UTC offsets.
TZ_OFFSETS: Final[dict[str, str]] = {
    "UTC": "+00:00", "GMT": "+00:00", "Z": "+00:00", "WET": "+00:00", "WEST": "+01:00",
    "BST": "+01:00", "IST": "+05:30", "CET": "+01:00", "CEST": "+02:00", "MET": "+01:00",
    "MEST": "+02:00", "EET": "+02:00", "EEST": "+03:00", "MSK": "+03:00", "SAST": "+02:00",
    "EAT": "+03:00", "WAT": "+01:00", "CAT": "+02:00", "PKT": "+05:00", "ICT": "+07:00",
    "WIB": "+07:00", "SGT": "+08:00", "HKT": "+08:00", "PHT": "+08:00", "AWST": "+08:00",
    "JST": "+09:00", "KST": "+09:00", "ACST": "+09:30", "ACDT": "+10:30", "AEST": "+10:00",
    "AEDT": "+11:00", "NZST": "+12:00", "NZDT": "+13:00", "EST": "-05:00", "EDT": "-04:00",
    "CST": "-06:00", "CDT": "-05:00", "MST": "-07:00", "MDT": "-06:00", "PST": "-08:00",
    "PDT": "-07:00", "AKST": "-09:00", "AKDT": "-08:00", "HST": "-10:00", "AST": "-04:00",
    "ADT": "-03:00", "NST": "-03:30", "NDT": "-02:30", "BRT": "-03:00", "ART": "-03:00",
}  # fmt: skip

#: The last column of a Facebook export (its name holds the score's weights).
OVERPERFORMING: Final = (
    "Overperforming Score (weighted  —  Likes 1x Shares 1x Comments 1x Love 1x Wow 1x "
    "Haha 1x Sad 1x Angry 1x Care 1x )"
)

#: Columns of a Facebook page export, in CrowdTangle's order.
FACEBOOK_COLUMNS: Final = (
    "Page Name", "User Name", "Facebook Id", "Page Category", "Page Admin Top Country",
    "Page Description", "Page Created", "Likes at Posting", "Followers at Posting",
    "Post Created", "Post Created Date", "Post Created Time", "Type", "Total Interactions",
    "Likes", "Comments", "Shares", "Love", "Wow", "Haha", "Sad", "Angry", "Care",
    "Video Share Status", "Is Video Owner?", "Post Views", "Total Views",
    "Total Views For All Crossposts", "Video Length", "URL", "Message", "Link", "Final Link",
    "Image Text", "Link Text", "Description", "Sponsor Id", "Sponsor Name",
    "Sponsor Category", OVERPERFORMING,
)  # fmt: skip

#: Columns of an Instagram export, in CrowdTangle's order.
INSTAGRAM_COLUMNS: Final = (
    "Account", "User Name", "Followers at Posting", "Post Created", "Post Created Date",
    "Post Created Time", "Type", "Total Interactions", "Likes", "Comments", "Views", "URL",
    "Link", "Photo", "Title", "Description", "Image Text", "Sponsor Id", "Sponsor Name",
    "Overperforming Score",
)  # fmt: skip

#: A time zone abbreviation at the end of a time (``... 14:42:05 EST``).
_ZONE_RE: Final = r"\s+([A-Za-z]{1,6})$"
#: The columns the reader uses (stripped, empty cells null).
_USED: Final = (
    "URL", "Post Created", "Post Created Date", "Post Created Time", "Page Created", "Type",
    "User Name", "Account", "Description", "Link", "Photo", "Facebook Id", "Page Name",
    "Message", "Final Link", "Total Interactions", "Group Name",
)  # fmt: skip


def sniff(head: str) -> bool:
    """Tell whether the header line is a CrowdTangle export's.

    Facebook: ``Facebook Id`` and ``Post Created``; Instagram: ``Account``,
    ``Followers at Posting`` and ``Post Created``.
    """
    header = head.split("\n", 1)[0]
    if "Post Created" not in header:
        return False
    if "Facebook Id" in header:
        return True
    return "Account" in header and "Followers at Posting" in header


def read(
    path: str, *, mapping: Mapping[str, str] | None = None, limits: ReadLimits | None = None
) -> Staged:
    """Read a CrowdTangle CSV export into staged rows, one per post.

    Parameters
    ----------
    path : str
        The CSV (plain, gzip or zstd). Quoted fields may hold commas and newlines.
    mapping : mapping, optional
        Ignored: the columns of a CrowdTangle export are fixed.
    limits : ReadLimits, optional
        Piece size and decompression guard.

    Returns
    -------
    Staged
        One row per CSV data row (``_record`` 1-based, header not counted).

    Raises
    ------
    InputError
        When the file is not CSV, or lacks the columns named in the message (at once),
        or a piece cannot be parsed (while the pieces are read).

    Notes
    -----
    Cost ``O(n)``, vectorized, a piece of ``limits.piece_bytes`` at a time.
    """
    del mapping
    table = DelimitedText(path, limits=limits)
    columns = set(table.names)
    instagram = "Account" in columns and "Facebook Id" not in columns
    needed = ["URL", "Post Created"] + (["User Name"] if instagram else ["Facebook Id"])
    missing = [c for c in needed if c not in columns]
    if missing:
        raise InputError(
            path, "not a CrowdTangle export: missing column(s) " + ", ".join(map(repr, missing))
        )
    counter = f"crowdtangle_{'instagram' if instagram else 'facebook'}_rows"
    notes = {counter: 0}
    return Staged(
        _pieces(table, instagram, counter, notes),
        format=FORMAT,
        notes=notes,
        row_rejects=table.row_rejects,
    )


def _pieces(
    table: DelimitedText, instagram: bool, counter: str, notes: dict[str, int]
) -> Iterator[pl.DataFrame]:
    used = [c for c in _USED if c in table.names]
    for first, frame in table.pieces(used):
        staged = _stage(frame, table.path, first, instagram=instagram)
        notes[counter] += staged.height
        yield staged


def _stage(frame: pl.DataFrame, path: str, first: int, *, instagram: bool) -> pl.DataFrame:
    """Staged rows of a piece whose first row is record ``first``; vectorized."""
    columns = set(frame.columns)
    # cells stripped, empty ones null (absent columns too); zones split off once (eager
    # selects do not share repeated sub-expressions, so intermediates are materialised)
    frame = frame.select(
        (_cell(c) if c in columns else pl.lit(None, dtype=pl.String)).alias(c) for c in _USED
    )
    frame = _split_zone(frame, "Post Created", "_created")
    frame = _split_zone(frame, "Page Created", "_page_created")
    col = pl.col
    fallback = pl.concat_str([col("Post Created Date"), col("Post Created Time")], separator=" ")
    ts = pl.when(col("Post Created").is_null()).then(fallback).otherwise(col("_created"))
    reject = pl.when(col("_created_unknown")).then(
        pl.lit("field 'Post Created': unknown time zone abbreviation '")
        + col("_created_zone")
        + pl.lit("'")
    )
    kind_type = col("Type")
    if instagram:
        actor_id, actor_name, text = col("User Name"), col("Account"), col("Description")
        link = col("Link")
        urls = pl.concat_list(pl.when(link != col("URL")).then(link))
        media = pl.concat_list(col("Photo"))
        actor_created: pl.Expr = pl.lit(None, dtype=pl.String)
        platform = "instagram"
    else:
        actor_id = col("Facebook Id")
        actor_name = pl.coalesce(col("Page Name"), col("Group Name"))
        text = col("Message")
        photo = kind_type == "Photo"
        link = pl.coalesce(col("Final Link"), pl.when(~photo | photo.is_null()).then(col("Link")))
        urls = pl.concat_list(link)
        media = pl.concat_list(pl.when(photo).then(col("Link")))
        actor_created = col("_page_created")
        platform = "facebook"
    interactions = (
        col("Total Interactions").str.replace_all(r"[,\s]", "").cast(pl.Int64, strict=False)
    )
    return frame.select(
        pl.lit(path, dtype=pl.String).alias(SOURCE),
        pl.int_range(first, pl.len() + first, dtype=pl.Int64).alias(RECORD),
        reject.alias(REJECT),
        col("URL").alias(EVENT_ID),
        pl.lit(platform).alias(PLATFORM),
        actor_id.alias(ACTOR_ID),
        actor_name.alias(ACTOR_NAME),
        ts.alias(TS),
        pl.lit("post").alias(KIND),
        text.alias(TEXT),
        urls.list.drop_nulls().alias(URLS),
        _tokens(text, "#", r"\w+").alias(HASHTAGS),
        (_tokens(text, "@", r"[\w.]*\w") if instagram else pl.lit([], pl.List(pl.String))).alias(
            MENTIONS
        ),
        media.list.drop_nulls().alias(MEDIA),
        actor_created.alias(ACTOR_CREATED),
        kind_type.alias("x_type"),
        interactions.alias("x_total_interactions"),
    )


def _cell(name: str) -> pl.Expr:
    """Return a column with surrounding spaces stripped and empty cells as null."""
    return pl.col(name).str.strip_chars().replace("", None)


def _tokens(text: pl.Expr, sign: str, word: str) -> pl.Expr:
    """``#hashtags`` or ``@mentions`` of a text, without the sign (a List(String)).

    A sign counts only at the start of the text or after a space or punctuation, so
    URL fragments (``/page#top``) and e-mail addresses are not taken.
    """
    found = text.str.extract_all(r"(?:^|[\s(\[{,.!?;:\"'])" + sign + word)
    return found.list.eval(pl.element().str.replace(r"^[^" + sign + "]*" + sign, "")).fill_null(
        pl.lit([], pl.List(pl.String))
    )


def _split_zone(frame: pl.DataFrame, column: str, prefix: str) -> pl.DataFrame:
    """Split a CrowdTangle time such as ``2021-01-06 14:42:05 EST`` into its parts.

    Adds ``{prefix}`` (the timestamp with an offset), ``{prefix}_zone`` and
    ``{prefix}_unknown``.

    ``{prefix}`` is the time with the abbreviation's offset
    (``2021-01-06 14:42:05-05:00``) when the value ends with a known abbreviation, the
    value as written otherwise (a numeric offset or no zone at all: left to the shared
    timestamp parser); ``{prefix}_unknown`` is true where the abbreviation is not in
    :data:`TZ_OFFSETS`.
    """
    stamp = pl.col(column)
    frame = frame.with_columns(
        stamp.str.extract(_ZONE_RE, 1).alias(f"{prefix}_zone"),
        stamp.str.replace(_ZONE_RE, "").alias(f"{prefix}_base"),
    )
    zone = pl.col(f"{prefix}_zone")
    frame = frame.with_columns(
        zone.str.to_uppercase()
        .replace_strict(TZ_OFFSETS, default=None, return_dtype=pl.String)
        .alias(f"{prefix}_offset")
    )
    offset = pl.col(f"{prefix}_offset")
    return frame.with_columns(
        pl.when(offset.is_not_null())
        .then(pl.col(f"{prefix}_base") + offset)
        .otherwise(stamp)
        .alias(prefix),
        (zone.is_not_null() & offset.is_null()).fill_null(False).alias(f"{prefix}_unknown"),
    )
