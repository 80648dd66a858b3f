"""Write canonical events as a generic table: Parquet, JSON lines, JSON, CSV or TSV.

The counterpart of :mod:`coordscope.datasets.generic`, with the canonical column names.
"""

from __future__ import annotations

from pathlib import Path

import polars as pl

from coordscope.datasets.writers._common import write_bytes
from coordscope.schema import LIST_COLUMNS, PLATFORM, TS

__all__ = ["write"]


def write(events: pl.DataFrame, path: str) -> None:
    """Write canonical events as a generic table; the format follows the extension.

    ``.parquet`` keeps every type; ``.jsonl``/``.ndjson`` (JSON lines) and ``.json``
    (one array) keep lists as arrays and times as ISO 8601 UTC with microseconds;
    ``.tsv``/``.tab`` (tab-separated) and any other name (comma-separated) join list
    items with a space.

    Parameters
    ----------
    events : polars.DataFrame
        Canonical events (:data:`coordscope.schema.EVENT_SCHEMA`), with any ``x_``
        columns.
    path : str
        The file to write; a trailing ``.gz`` compresses the text formats.
    """
    p = Path(path)
    suffixes = [s.lower() for s in p.suffixes]
    gz = bool(suffixes) and suffixes[-1] == ".gz"
    ext = suffixes[-2] if gz and len(suffixes) > 1 else (suffixes[-1] if suffixes else ".csv")
    if ext == ".parquet":
        events.write_parquet(p)
        return
    text_frame = events.with_columns(
        [pl.col(c).dt.to_string("%Y-%m-%dT%H:%M:%S%.6fZ") for c in (TS, "actor_created")]
        + [pl.col(PLATFORM).cast(pl.String), pl.col("kind").cast(pl.String)]
    )
    if ext in (".jsonl", ".ndjson"):
        data = text_frame.write_ndjson(None).encode()
    elif ext == ".json":
        data = text_frame.write_json(None).encode()
    else:
        sep = "\t" if ext in (".tsv", ".tab") else ","
        flat = text_frame.with_columns([pl.col(c).list.join(" ") for c in LIST_COLUMNS])
        data = flat.write_csv(None, separator=sep).encode()
    write_bytes(p, data)
