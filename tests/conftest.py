"""Shared test helpers: where the fixtures and the reference data live."""

from __future__ import annotations

from pathlib import Path

import pytest

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
