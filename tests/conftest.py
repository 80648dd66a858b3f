"""Shared test helpers: where the fixtures and the reference data live."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from coordscope.datasets._io import head_text

FIXTURES = Path(__file__).parent / "fixtures"
#: Real data and reference-tool outputs (never copied into the project).
REFERENCE = Path(__file__).resolve().parents[1].parent / "shared" / "reference"

requires_reference = pytest.mark.skipif(
    not REFERENCE.is_dir(),
    reason=f"reference data not found at {REFERENCE} (CI always has it; .ci/run fails without it)",
)


def assert_accounting(rows: dict[str, int]) -> None:
    """The row-accounting invariant of design.md §3."""
    assert rows["input"] == rows["accepted"] + rows["rejected"] + rows["duplicates"]


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
