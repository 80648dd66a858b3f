"""The registry of input formats and content-based auto-detection.

Each format lives in its own module with three functions:

- ``sniff(head: str) -> bool``: does this text (the first 64 KiB of the file, decompressed,
  BOM dropped) look like this format? Content only, never the file name.
- ``read(path: str, *, mapping: Mapping[str, str] | None) -> Staged``: the staged rows of
  one file (see :mod:`coordscope.datasets._stage`).
- ``write(events: pl.DataFrame, path: str) -> None``: write canonical events as this
  export format looks (used by ``coordscope simulate --format``).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Final, Protocol, cast

import polars as pl

from coordscope.datasets._io import head_bytes, head_text
from coordscope.datasets._stage import Staged
from coordscope.errors import FormatError

__all__ = ["FORMATS", "FORMAT_NAMES", "FormatSpec", "detect_format", "get_format"]


class _ReaderModule(Protocol):
    def sniff(self, head: str) -> bool: ...
    def read(self, path: str, *, mapping: Mapping[str, str] | None = None) -> Staged: ...
    def write(self, events: pl.DataFrame, path: str) -> None: ...


@dataclass(frozen=True)
class FormatSpec:
    """One input format: its ``--format`` name, a one-line summary and its module."""

    name: str
    summary: str
    module: str

    def _mod(self) -> _ReaderModule:
        return cast(_ReaderModule, importlib.import_module(self.module))

    @property
    def sniff(self) -> Callable[[str], bool]:
        return self._mod().sniff

    @property
    def read(self) -> Callable[..., Staged]:
        return self._mod().read

    @property
    def write(self) -> Callable[[pl.DataFrame, str], None]:
        return self._mod().write


#: Every format, in the order auto-detection tries them (``generic`` last).
FORMATS: Final = (
    FormatSpec("telegram", "Telegram Desktop export (result.json)", "coordscope.datasets.telegram"),
    FormatSpec("twitter-v2", "X/Twitter API v2 JSON lines (pages or one tweet a line)",
               "coordscope.datasets.twitter_v2"),
    FormatSpec("twitter-v1", "X/Twitter API v1.1 statuses as JSON lines",
               "coordscope.datasets.twitter_v1"),
    FormatSpec("twitter-io", "X/Twitter Information Operations archive CSV",
               "coordscope.datasets.twitter_io"),
    FormatSpec("crowdtangle", "CrowdTangle CSV export (Facebook, Instagram)",
               "coordscope.datasets.crowdtangle"),
    FormatSpec("coortweet", "CooRTweet input (object_id, account_id, content_id, "
               "timestamp_share) or its multimodal wide form", "coordscope.datasets.coortweet"),
    FormatSpec("cnt", "coordination-network-toolkit CSV (8 columns by position)",
               "coordscope.datasets.cnt"),
    FormatSpec("generic", "CSV, TSV, Parquet, JSON lines or JSON array with canonical or "
               "mapped column names", "coordscope.datasets.generic"),
)  # fmt: skip

FORMAT_NAMES: Final = tuple(f.name for f in FORMATS)


def get_format(name: str) -> FormatSpec:
    """The format called ``name``; :class:`FormatError` listing the names otherwise."""
    for spec in FORMATS:
        if spec.name == name:
            return spec
    raise FormatError(f"unknown format '{name}'; choose one of: {', '.join(FORMAT_NAMES)}")


def detect_format(path: str) -> str:
    """Recognise the format of a file from its content (first 64 KiB, decompressed).

    Parquet files are ``coortweet`` when their columns say so, else ``generic``. Every
    other file is offered to each format's ``sniff`` in :data:`FORMATS` order.

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
