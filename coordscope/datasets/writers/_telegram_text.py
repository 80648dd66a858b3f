"""The ``text`` and ``text_entities`` of the messages the Telegram writer writes.

Telegram Desktop writes a message's text twice: ``text`` is a string when the message
has no formatting, else a list mixing strings and entity objects; ``text_entities`` is
always a list of ``{"type", "text"}`` objects. Here both are rendered as JSON text, laid
out as Telegram Desktop does, from the canonical ``text``, ``urls``, ``hashtags`` and
``mentions`` of the events: URLs, ``#hashtags`` and ``@mentions`` of the text that are
list items become ``link``/``hashtag``/``mention`` entities, and list items not in the
text are appended to it, each after a space. Vectorized: parts are exploded, matched to
the list items with joins and merged back per row; no Python loop over rows.
"""

from __future__ import annotations

from typing import Final

import polars as pl

from coordscope.datasets.normalize import normalize_urls
from coordscope.datasets.writers._common import json_string
from coordscope.schema import HASHTAGS, MENTIONS, TEXT, URLS

__all__ = ["text_and_entities"]

#: Indentation of a message's fields in a single chat export (Telegram Desktop: 3).
_MSG_INDENT: Final = 3
_URL_TOKEN: Final = r"https?://[^\s<>\"]*[^\s<>\".,;:!?)\]}']"
_TOKEN_RE: Final = _URL_TOKEN + r"|#\w+|@\w+"
#: Separator of the parts of a text while it is cut (never in one: replaced by a space).
_SEP: Final = "\x00"


def text_and_entities(ev: pl.DataFrame, *, indent: int = _MSG_INDENT) -> pl.DataFrame:
    r"""Render the ``text`` and ``text_entities`` JSON of every row of ``ev``.

    Rows without URLs, hashtags or mentions are one plain part (the text as it is);
    rows with list items are cut into parts by :func:`_split_parts`. ``text`` is a JSON
    string when the parts are one plain part, else a list mixing strings (plain parts)
    and entity objects; ``text_entities`` is the list of all parts as objects (``[]``
    for an empty text). The characters ``\x00``-``\x02`` of a text are written as
    spaces (``\x00`` separates the parts while the text is cut).

    Parameters
    ----------
    ev : polars.DataFrame
        ``_row`` (a unique row id), ``text``, ``urls``, ``hashtags`` and ``mentions``
        (canonical: URLs normalised, hashtags and mentions lower-case without
        ``#``/``@``); other columns are ignored.
    indent : int, default 3
        Indentation of the message's fields: the JSON spans several lines, laid out as
        Telegram Desktop does.

    Returns
    -------
    polars.DataFrame
        ``_row``, ``_text_json`` and ``_entities_json`` (JSON text), one row per row of
        ``ev``, in no particular order.

    Notes
    -----
    Cost ``O(n + p log p)`` for ``p`` parts of the rows with list items (a sort by row).
    """
    text = pl.col(TEXT).fill_null("").str.replace_all(r"[\x00-\x02]", " ")
    rows = ev.select(
        "_row",
        text.alias("_text"),
        pl.col(URLS).fill_null([]),
        pl.col(HASHTAGS).fill_null([]),
        pl.col(MENTIONS).fill_null([]),
    )
    n_items = pl.col(URLS).list.len() + pl.col(HASHTAGS).list.len() + pl.col(MENTIONS).list.len()
    has_items = n_items > 0
    ind = "\n" + " " * indent
    empty = pl.col("_text") == ""
    plain_rows = rows.filter(~has_items).select(
        "_row",
        pl.when(empty)
        .then(pl.lit('""'))
        .otherwise(json_string(pl.col("_text")))
        .alias("_text_json"),
        pl.when(empty)
        .then(pl.lit("[]"))
        .otherwise(
            pl.lit("[" + ind + " ")
            + _entity_json(pl.lit("plain"), pl.col("_text"), ind)
            + pl.lit(ind + "]")
        )
        .alias("_entities_json"),
    )
    merged = _split_parts(rows.filter(has_items))
    plain = pl.col("_type") == "plain"
    obj = _entity_json(pl.col("_type"), pl.col("_part"), ind)
    entity_sep = "," + ind + " "
    per_row = (
        merged.with_columns(
            obj.alias("_obj"),
            pl.when(plain).then(json_string(pl.col("_part"))).otherwise(obj).alias("_mixed"),
        )
        .group_by("_row")
        .agg(
            pl.len().alias("_n"),
            pl.col("_type").first().alias("_first_type"),
            pl.col("_part").first().alias("_first_part"),
            pl.col("_obj"),
            pl.col("_mixed"),
        )
        .with_columns(  # list.join after the group_by: twice as fast as agg(str.join)
            pl.col("_obj").list.join(entity_sep).alias("_objs"),
            pl.col("_mixed").list.join(entity_sep).alias("_mix"),
        )
    )
    single_plain = (pl.col("_n") == 1) & (pl.col("_first_type") == "plain")
    listed = per_row.select(
        "_row",
        pl.when(single_plain)
        .then(json_string(pl.col("_first_part")))
        .otherwise(pl.lit("[" + ind + " ") + pl.col("_mix") + pl.lit(ind + "]"))
        .alias("_text_json"),
        (pl.lit("[" + ind + " ") + pl.col("_objs") + pl.lit(ind + "]")).alias("_entities_json"),
    )
    return pl.concat([plain_rows, listed])


def _entity_json(kind: pl.Expr, text: pl.Expr, ind: str) -> pl.Expr:
    """Render one ``{"type": ..., "text": ...}`` object as Telegram Desktop lays it out."""
    return (
        pl.lit("{" + ind + '  "type": ')
        + json_string(kind)
        + pl.lit("," + ind + '  "text": ')
        + json_string(text)
        + pl.lit(ind + " }")
    )


def _split_parts(rows: pl.DataFrame) -> pl.DataFrame:
    """Cut the texts of rows with list items into parts ``(_row, _type, _part)``, in order.

    1. The text is cut at URL, ``#hashtag`` and ``@mention`` tokens (even positions are
       plain text, odd positions tokens); a token is an entity only when it is one of
       the row's list items (:func:`_mark_listed`), else it stays plain text.
    2. List items not in the text are appended, each after a space.
    3. Consecutive plain parts are merged into one (only rows that have some).
    """
    parts = (
        rows.select(
            "_row",
            pl.col("_text")
            .str.replace_all(_TOKEN_RE, _SEP + "${0}" + _SEP)
            .str.split(_SEP)
            .alias("_part"),
        )
        .with_columns(pl.int_ranges(0, pl.col("_part").list.len()).alias("_pos"))
        .explode(["_part", "_pos"], keep_nulls=False)
        .filter(pl.col("_part") != "")
    )
    token = (pl.col("_pos") % 2) == 1
    first = pl.col("_part").str.slice(0, 1)
    ptype = (
        pl.when(~token)
        .then(pl.lit("plain"))
        .when(first == "#")
        .then(pl.lit("hashtag"))
        .when(first == "@")
        .then(pl.lit("mention"))
        .otherwise(pl.lit("link"))
    )
    parts = parts.with_columns(ptype.alias("_type"), token.alias("_token")).with_columns(
        _cheap_key("_part")
    )
    items = pl.concat(
        [
            rows.select("_row", pl.col(col).alias("_item"), pl.lit(kind).alias("_type"))
            .with_columns(pl.int_ranges(0, pl.col("_item").list.len()).alias("_ipos"))
            .explode(["_item", "_ipos"], keep_nulls=False)
            .with_columns(pl.lit(order, dtype=pl.Int64).alias("_list"))
            for order, (col, kind) in enumerate(
                ((URLS, "link"), (HASHTAGS, "hashtag"), (MENTIONS, "mention"))
            )
        ]
    ).with_columns(_cheap_key("_item"))
    parts = _mark_listed(parts, items).with_columns(
        pl.when(pl.col("_token") & pl.col("_listed"))
        .then(pl.col("_type"))
        .otherwise(pl.lit("plain"))
        .alias("_type"),
        pl.lit(0, dtype=pl.Int64).alias("_block"),
        pl.col("_pos").cast(pl.Int64),
    )
    found = parts.filter(pl.col("_type") != "plain").select("_row", "_type", "_key")
    extra = (
        items.join(found, on=["_row", "_type", "_key"], how="anti", maintain_order="left")
        .unique(["_row", "_type", "_key"], keep="first", maintain_order=True)
        .with_columns(
            pl.when(pl.col("_type") == "hashtag")
            .then(pl.lit("#") + pl.col("_item").str.strip_chars_start("#"))
            .when(pl.col("_type") == "mention")
            .then(pl.lit("@") + pl.col("_item").str.strip_chars_start("@"))
            .otherwise(pl.col("_item"))
            .alias("_part"),
            (pl.col("_list") * 1_000_000 + pl.col("_ipos").cast(pl.Int64)).alias("_order"),
        )
    )
    block = pl.lit(1, dtype=pl.Int64).alias("_block")
    allparts = pl.concat(
        [
            parts.select("_row", "_part", "_type", "_block", "_pos"),
            extra.select("_row", pl.lit(" ").alias("_part"), pl.lit("plain").alias("_type"),
                         block, (pl.col("_order") * 2).alias("_pos")),
            extra.select("_row", "_part", "_type", block, (pl.col("_order") * 2 + 1).alias("_pos")),
        ]
    ).sort(["_row", "_block", "_pos"])  # fmt: skip
    plain = pl.col("_type") == "plain"
    same_row = pl.col("_row") == pl.col("_row").shift(1)
    joins_previous = (plain & plain.shift(1) & same_row).fill_null(False)
    allparts = allparts.with_columns(joins_previous.alias("_join"))
    to_merge = allparts.filter(pl.col("_join")).select("_row").unique()
    keep = allparts.join(to_merge, on="_row", how="anti", maintain_order="left")
    # the frame is sorted by row: a run id is a global cumulative sum, no window per row
    merged = (
        allparts.join(to_merge, on="_row", how="semi", maintain_order="left")
        .with_columns((~pl.col("_join")).cum_sum().alias("_run"))
        .group_by("_run", maintain_order=True)
        .agg(pl.col("_row").first(), pl.col("_type").first(), pl.col("_part").str.join(""))
    )
    return pl.concat(
        [keep.select("_row", "_type", "_part"), merged.select("_row", "_type", "_part")]
    ).sort("_row", maintain_order=True)


def _cheap_key(value: str) -> pl.Expr:
    """Return the ``_key`` of a URL, hashtag or mention, without URL normalisation.

    Hashtags and mentions are lower-cased without ``#``/``@`` (as the reader does); URLs
    are only stripped: list items are canonical, hence already normalised, and a URL of
    the text that differs from its normalised form is matched by :func:`_mark_listed`.
    """
    item = pl.col(value).str.strip_chars()
    tag = item.str.strip_chars_start("#＃@＠").str.to_lowercase()
    return pl.when(pl.col("_type") == "link").then(item).otherwise(tag).alias("_key")


def _mark_listed(parts: pl.DataFrame, items: pl.DataFrame) -> pl.DataFrame:
    """Add ``_listed``: the part is a token that is one of its row's list items.

    Tokens are first compared as written; only link tokens that match nothing are
    normalised (the costly step) and compared again, so that
    ``https://Example.com/a?utm_source=x`` in a text matches ``https://example.com/a``
    (their ``_key`` becomes the normalised one). Only token rows are joined.
    """
    keys = ["_row", "_type", "_key"]
    listed = items.select(keys).unique()
    parts = parts.with_row_index("_k")
    tokens = parts.filter(pl.col("_token")).select("_k", *keys)
    hit = tokens.join(listed, on=keys, how="semi")["_k"]
    retry = tokens.filter((pl.col("_type") == "link") & ~pl.col("_k").is_in(hit.implode())).select(
        "_k",
        "_row",
        "_type",
        normalize_urls(pl.concat_list(pl.col("_key"))).list.first().alias("_key"),
    )
    again = retry.join(listed, on=keys, how="semi").select("_k", pl.col("_key").alias("_key2"))
    marked = pl.concat([hit, again["_k"]]).implode()
    parts = parts.with_columns(pl.col("_k").is_in(marked).alias("_listed"))
    if again.height:
        parts = parts.join(again, on="_k", how="left", maintain_order="left").with_columns(
            pl.coalesce(pl.col("_key2"), pl.col("_key")).alias("_key")
        )
        parts = parts.drop("_key2")
    return parts.drop("_k")
