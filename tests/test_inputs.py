"""Folders and glob patterns as inputs: each file found, its format from its content."""

from __future__ import annotations

import gzip
from pathlib import Path

import polars as pl
import pytest

import coordscope as cs
from coordscope.datasets.ingest import expand_inputs
from coordscope.errors import InputError
from coordscope.runs import run_audit
from tests.conftest import FIXTURES

GENERIC = FIXTURES / "generic" / "posts.csv"


def _tree(root: Path) -> Path:
    """A collection as people keep it: nested folders, mixed formats, compressed files."""
    (root / "2024" / "03").mkdir(parents=True)
    (root / "2024" / "03" / "posts.csv").write_bytes(GENERIC.read_bytes())
    with gzip.open(root / "2024" / "posts-copy.csv.gz", "wb") as handle:
        handle.write(GENERIC.read_bytes().replace(b"p1,", b"q1,"))
    (root / "README.md").write_text("what this folder is")  # not a data file: left out
    (root / ".cache").mkdir()
    (root / ".cache" / "old.csv").write_bytes(GENERIC.read_bytes())  # hidden: left out
    (root / ".~lock.posts.csv#").write_text("x")
    return root


def test_a_folder_is_its_data_files_in_sorted_order(tmp_path: Path) -> None:
    root = _tree(tmp_path / "collection")
    assert expand_inputs(root) == [
        str(root / "2024" / "03" / "posts.csv"),
        str(root / "2024" / "posts-copy.csv.gz"),
    ]
    result = cs.ingest([root])
    assert [i["path"] for i in result.inputs] == expand_inputs(root)
    assert [i["format"] for i in result.inputs] == ["generic", "generic"]
    assert result.rows["input"] == 2 * 9  # posts.csv has 9 records


def test_glob_patterns_and_files_named_twice(tmp_path: Path) -> None:
    root = _tree(tmp_path / "collection")
    pattern = str(root / "**" / "*.csv*")
    assert expand_inputs(pattern) == expand_inputs(root)
    # a file given twice (by name and by its folder) is read once
    twice = expand_inputs([root / "2024" / "03" / "posts.csv", root])
    assert twice == [
        str(root / "2024" / "03" / "posts.csv"),
        str(root / "2024" / "posts-copy.csv.gz"),
    ]
    # an existing file whose name holds glob characters is that file
    odd = tmp_path / "odd[1].csv"
    odd.write_bytes(GENERIC.read_bytes())
    assert expand_inputs(odd) == [str(odd)]


def test_empty_folders_and_patterns_are_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="no data file in this folder"):
        expand_inputs(tmp_path / "empty")
    with pytest.raises(InputError, match="no file matches this pattern"):
        expand_inputs(str(tmp_path / "*.parquet"))


def test_an_audit_reads_a_folder(tmp_path: Path) -> None:
    root = _tree(tmp_path / "collection")
    result = run_audit([str(root)], tmp_path / "out", signals=["co_share", "co_link"])
    assert len(result.summary["inputs"]) == 2
    assert (
        pl.read_parquet(tmp_path / "out" / "events.parquet").height
        == result.summary["rows"]["accepted"]
    )
