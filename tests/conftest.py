"""Shared test helpers: where the fixtures and the reference data live."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coordscope.datasets._io import head_text
from coordscope.schema import EVENT_SCHEMA

FIXTURES = Path(__file__).parent / "fixtures"
#: Real data and reference-tool outputs (never copied into the project).
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"

requires_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason=f"reference data not found at {REFERENCE} (CI always has it; .ci/run fails without it)",
)


#: The project's root: the package under test is imported from here.
ROOT = Path(__file__).resolve().parents[1]


def run_cli(
    *args: str | bytes,
    cwd: Path | None = None,
    env: dict[str, str] | None = None,
    unset: Iterable[str] = (),
    **popen: Any,
) -> subprocess.CompletedProcess[str]:
    """Run the real entry point as a user does, importing this tree's package.

    ``COORDSCOPE_DEBUG`` and the ``unset`` variables are removed from the environment and
    ``env`` is added; output is text, with bytes that are not UTF-8 kept as surrogate
    escapes (a test may print a file name that is not). ``popen`` goes to
    :func:`subprocess.run` (``preexec_fn``, say).
    """
    environ = {k: v for k, v in os.environ.items() if k not in {"COORDSCOPE_DEBUG", *unset}}
    environ["PYTHONPATH"] = str(ROOT)
    environ.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "coordscope", *args],
        capture_output=True,
        text=True,
        errors="surrogateescape",
        check=False,
        cwd=cwd,
        env=environ,
        **popen,
    )


def assert_accounting(rows: dict[str, int]) -> None:
    """The row-accounting invariant: input = accepted + rejected + duplicates."""
    assert rows["input"] == rows["accepted"] + rows["rejected"] + rows["duplicates"]


def output_folder(path: Path) -> dict[str, Any]:
    """Every file of an output folder: bytes, and ``summary.json`` without what varies.

    ``summary.json`` loses its timings and resources (times, peak RSS, budget, engine),
    which differ from run to run; every other file must be the same, byte for byte.
    """
    out: dict[str, Any] = {}
    for f in sorted(path.iterdir()):
        if f.name == "summary.json":
            summary = json.loads(f.read_text())
            out[f.name] = {k: v for k, v in summary.items() if k not in ("timings_s", "resources")}
        else:
            out[f.name] = f.read_bytes()
    return out


def utc(
    year: int,
    month: int,
    day: int,
    hour: int = 0,
    minute: int = 0,
    second: int = 0,
    microsecond: int = 0,
) -> datetime:
    """A UTC datetime, as the canonical ``ts`` column holds them."""
    return datetime(year, month, day, hour, minute, second, microsecond, tzinfo=UTC)


def head(path: Path, size: int = 1 << 16) -> str:
    """What format sniffing sees of a file: its first bytes, decompressed, BOM dropped."""
    return head_text(str(path), size)


def rejects_of(result: Any) -> list[tuple[int, str]]:
    """``(record, reason)`` of every reject of an ingest result, in order."""
    return list(zip(result.rejects["record"], result.rejects["reason"], strict=True))


#: Canonical values of an event that an expected event does not name.
EVENT_DEFAULTS: dict[str, Any] = {
    "actor_name": None,
    "kind": "post",
    "object_id": None,
    "text": None,
    "urls": [],
    "hashtags": [],
    "mentions": [],
    "media": [],
    "channel": None,
    "actor_created": None,
}


def expected_event(fields: Sequence[str] = tuple(EVENT_SCHEMA), **values: Any) -> dict[str, Any]:
    """An expected event: :data:`EVENT_DEFAULTS`, then ``values``, as the ``fields``."""
    base = {**EVENT_DEFAULTS, **values}
    return {k: base[k] for k in fields}


def event_rows(
    events: pl.DataFrame, fields: Sequence[str] = tuple(EVENT_SCHEMA)
) -> list[dict[str, Any]]:
    """The ``fields`` of every event, as dicts, in order."""
    return [{k: row[k] for k in fields} for row in events.iter_rows(named=True)]


def shuffle_joins(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    """Shuffle the rows of every polars join that does not ask for an order.

    polars promises no row order for a join without ``maintain_order`` (a threaded hash
    join, or the streaming engine, may return its rows in another order from run to
    run); in one process its order is stable, so a test of "same input, same files"
    passes whether or not the code depends on it. Each such join here returns its rows
    in a permutation drawn from ``seed`` and a count of the joins (eager joins go
    through :meth:`polars.LazyFrame.join` too); joins that name an order are left alone.
    """
    original = pl.LazyFrame.join
    calls = iter(range(1 << 62))

    def join(self: pl.LazyFrame, other: pl.LazyFrame, *args: Any, **kwargs: Any) -> pl.LazyFrame:
        out = original(self, other, *args, **kwargs)
        if kwargs.get("maintain_order") not in (None, "none"):
            return out
        draw = pl.int_range(pl.len()).shuffle(seed=seed * 1_000_003 + next(calls))
        return out.with_columns(draw.alias("_shuffled")).sort("_shuffled").drop("_shuffled")

    monkeypatch.setattr(pl.LazyFrame, "join", join)
