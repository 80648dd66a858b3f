"""The registry of export formats and content-based auto-detection.

Each format has a reader module in :mod:`coordscope.datasets` and a writer module in
:mod:`coordscope.datasets.writers`, both named after it; :data:`FORMATS` holds their
functions:

- ``sniff(head: str) -> bool``: does this text (the first 64 KiB of the file, decompressed,
  BOM dropped) look like this format? Content only, never the file name.
- ``read(path: str, *, mapping: Mapping[str, str] | None, limits: ReadLimits | None)
  -> Staged``: the staged rows of one file, in pieces read as they are consumed (see
  :mod:`coordscope.datasets._stage`; ``limits`` sizes the pieces and guards
  decompression, see :mod:`coordscope.datasets._io`).
- ``write(events: pl.DataFrame, path: str) -> None``: write canonical events as this
  export format looks (used by ``coordscope simulate --format``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol

import polars as pl

from coordscope.datasets import (
    cnt,
    coortweet,
    crowdtangle,
    generic,
    telegram,
    twitter_io,
    twitter_v1,
    twitter_v2,
    writers,
)
from coordscope.datasets._io import ReadLimits, head_bytes, head_text
from coordscope.datasets._stage import Staged
from coordscope.errors import FormatError

__all__ = ["FORMATS", "FORMAT_NAMES", "FormatSpec", "Reader", "detect_format", "get_format"]


class Reader(Protocol):
    """The signature of a format's ``read``."""

    def __call__(
        self,
        path: str,
        *,
        mapping: Mapping[str, str] | None = None,
        limits: ReadLimits | None = None,
    ) -> Staged:
        """Stage the rows of the file at ``path``, a piece at a time."""
        ...


@dataclass(frozen=True)
class FormatSpec:
    """One export format: its name, a one-line summary, its reader and its writer.

    Attributes
    ----------
    name : str
        The ``--format`` name.
    summary : str
        One line for ``--help``.
    sniff : callable
        ``sniff(head) -> bool``: does the start of a file look like this format?
    read : Reader
        ``read(path, *, mapping=None, limits=None) -> Staged``: the staged rows of one
        file.
    write : callable
        ``write(events, path) -> None``: write canonical events in this format.
    """

    name: str
    summary: str
    sniff: Callable[[str], bool]
    read: Reader
    write: Callable[[pl.DataFrame, str], None]


#: Every format, in the order auto-detection tries them (``generic`` last).
FORMATS: Final = (
    FormatSpec("telegram", "Telegram Desktop export (result.json)",
               telegram.sniff, telegram.read, writers.telegram.write),
    FormatSpec("twitter-v2", "X/Twitter API v2 JSON lines (pages or one tweet a line)",
               twitter_v2.sniff, twitter_v2.read, writers.twitter_v2.write),
    FormatSpec("twitter-v1", "X/Twitter API v1.1 statuses as JSON lines",
               twitter_v1.sniff, twitter_v1.read, writers.twitter_v1.write),
    FormatSpec("twitter-io", "X/Twitter Information Operations archive CSV",
               twitter_io.sniff, twitter_io.read, writers.twitter_io.write),
    FormatSpec("crowdtangle", "CrowdTangle CSV export (Facebook, Instagram)",
               crowdtangle.sniff, crowdtangle.read, writers.crowdtangle.write),
    FormatSpec("coortweet", "CooRTweet input (object_id, account_id, content_id, "
               "timestamp_share) or its multimodal wide form",
               coortweet.sniff, coortweet.read, writers.coortweet.write),
    FormatSpec("cnt", "coordination-network-toolkit CSV (8 columns by position)",
               cnt.sniff, cnt.read, writers.cnt.write),
    FormatSpec("generic", "CSV, TSV, Parquet, JSON lines or JSON array with canonical or "
               "mapped column names", generic.sniff, generic.read, writers.generic.write),
)  # fmt: skip

#: The ``--format`` names, in :data:`FORMATS` order.
FORMAT_NAMES: Final = tuple(f.name for f in FORMATS)


def get_format(name: str) -> FormatSpec:
    """Return the format called ``name``.

    Parameters
    ----------
    name : str
        A ``--format`` name (one of :data:`FORMAT_NAMES`).

    Returns
    -------
    FormatSpec
        Its reader and writer.

    Raises
    ------
    FormatError
        When no format has that name (the message lists the names).
    """
    for spec in FORMATS:
        if spec.name == name:
            return spec
    raise FormatError(f"unknown format '{name}'; choose one of: {', '.join(FORMAT_NAMES)}")


def detect_format(path: str) -> str:
    """Recognise the format of a file from its content (first 64 KiB, decompressed).

    Parquet files are ``coortweet`` when their columns say so, else ``generic``. Every
    other file is offered to each format's ``sniff`` in :data:`FORMATS` order.

    Parameters
    ----------
    path : str
        The file (plain, gzip or zstd).

    Returns
    -------
    str
        The ``--format`` name.

    Raises
    ------
    FormatError
        When no format recognises the content.
    InputError
        When the file is missing or its compression is corrupt.
    """
    raw = head_bytes(path, 4)
    if raw.startswith(b"PAR1"):
        header = ",".join(pl.read_parquet_schema(path)) + "\n"
        return "coortweet" if get_format("coortweet").sniff(header) else "generic"
    head = head_text(path)
    if not head.strip():
        raise FormatError(f"{path}: the file is empty")
    for spec in FORMATS:
        if spec.sniff(head):
            return spec.name
    raise FormatError(
        f"{path}: could not recognise the format from its content; pass --format "
        f"({', '.join(FORMAT_NAMES)})"
    )
