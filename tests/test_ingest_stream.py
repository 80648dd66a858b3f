"""Ingest in pieces: same table as whole reading, a bounded decompression, no crash.

Issue "Any size on one machine": files are read in pieces sized from the memory budget,
compressed files are decompressed as a stream with a guard against decompression bombs,
and pathological input (a gigabyte of newlines, a panic inside polars) ends in a counted
reject or one line naming the file, never a traceback.
"""

from __future__ import annotations

import gzip
import subprocess
import sys
import threading
import zlib
from pathlib import Path
from typing import Any

import polars as pl
import pytest
import zstandard
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from coordscope import ingest
from coordscope.datasets import generic
from coordscope.datasets._io import (
    INFLATE_FLOOR,
    ReadLimits,
    iter_blocks,
    read_ahead,
    record_ends,
)
from coordscope.datasets._stage import Finalizer
from coordscope.datasets._tables import MAX_EMPTY_RECORDS
from coordscope.datasets.formats import FORMAT_NAMES, detect_format, get_format
from coordscope.datasets.simulate import simulate
from coordscope.errors import InputError, ParameterError
from tests.conftest import FIXTURES, assert_accounting

FIXTURE_FILES = sorted(p for p in FIXTURES.rglob("*") if p.is_file() and p.name != "mapped.tsv")
MAPPED = FIXTURES / "generic" / "mapped.tsv"


def _read(path: Path, limits: ReadLimits, fmt: str = "auto") -> tuple[Any, list[int]]:
    """Finalise one file read with ``limits``; also return the sizes of its pieces.

    Each piece is prepared on its own (no batching) when the pieces are smaller than
    the default, so that preparing in pieces is checked as well as reading in them.
    """
    mapping = None
    if path == MAPPED:
        fmt, mapping = "generic", {"actor_id": "user", "ts": "when"}
    name = detect_format(str(path)) if fmt == "auto" else fmt
    staged = get_format(name).read(str(path), mapping=mapping, limits=limits)
    pieces = list(staged.pieces)
    staged.pieces = pieces
    finalizer = Finalizer(
        batch_bytes=1 if limits.piece_bytes < ReadLimits().piece_bytes else 1 << 30
    )
    finalizer.add(staged)
    return finalizer.finish(), [p.height for p in pieces]


def _assert_same(a: Any, b: Any) -> None:
    assert_frame_equal(a.events, b.events)
    assert_frame_equal(a.rejects, b.rejects)
    assert a.rows == b.rows
    assert a.notes == b.notes
    assert_accounting(a.rows)


# ---------------------------------------------------------------------------------------
# pieces give the same table as the whole file


@pytest.mark.parametrize("path", [*FIXTURE_FILES, MAPPED], ids=lambda p: p.name)
@given(piece=st.integers(min_value=1, max_value=4096))
@settings(max_examples=5, deadline=None)
def test_any_piece_size_gives_the_same_table(path: Path, piece: int) -> None:
    # tiny pieces and records of many pieces: blocks are cut after every line or so
    whole, _ = _read(path, ReadLimits())
    pieces, _ = _read(path, ReadLimits(piece_bytes=piece, max_record_bytes=1 << 20))
    _assert_same(pieces, whole)


@pytest.mark.parametrize("name", FORMAT_NAMES)
@pytest.mark.parametrize("codec", ["plain", "gzip"])
def test_simulated_exports_in_pieces(name: str, codec: str, tmp_path: Path) -> None:
    events, _ = simulate("mixed", seed=5, size="tiny")
    plain = tmp_path / f"export.{name}"
    get_format(name).write(events, str(plain))
    path = plain
    if codec != "plain":
        raw = plain.read_bytes()
        path = tmp_path / f"export.{name}.gz"
        path.write_bytes(gzip.compress(raw))
    whole, one = _read(path, ReadLimits(), name)
    small, many = _read(path, ReadLimits(piece_bytes=plain.stat().st_size // 10), name)
    _assert_same(small, whole)
    assert whole.rows["accepted"] > 0
    if name != "telegram":  # one JSON document: always one piece
        assert len(many) > max(len(one), 2), "the small pieces must really be several"


def test_quoted_newlines_and_blank_lines_cross_piece_boundaries(tmp_path: Path) -> None:
    # Quoted fields with newlines (one holds a blank line), doubled quotes, CRLF ends,
    # and blank lines between rows: each blank line is a record without values (a
    # reject, as when the whole file is read), a newline inside quotes is not.
    rows = [
        'e1{i},a,2024-03-01T10:00:00Z,"two\nlines"\r\n',
        'e2{i},b,2024-03-01T10:00:01Z,"a ""quote"", a comma"\r\n',
        "\r\n",
        'e3{i},c,2024-03-01T10:00:02Z,"para\n\nafter a blank line"\n',
        "\n",
        "e4{i},d,2024-03-01T10:00:03Z,plain\n",
    ]
    path = tmp_path / "q.csv"
    body = "".join(row.format(i=i) for i in range(7) for row in rows)
    path.write_text("event_id,actor_id,ts,text\n" + body)
    whole, _ = _read(path, ReadLimits())
    # 7 x 6 records, of which the 14 blank lines are rejected for missing actor_id
    assert whole.rows == {"input": 42, "accepted": 28, "rejected": 14, "duplicates": 0}
    assert whole.events["text"][0] == "two\nlines"
    assert whole.events["text"][2] == "para\n\nafter a blank line"
    for piece in (1, 7, 20, 33, 64, 100, 257):
        small, sizes = _read(path, ReadLimits(piece_bytes=piece, max_record_bytes=1 << 10))
        _assert_same(small, whole)
        assert len(sizes) > 1


def _brute_record_ends(data: bytes, quote: bytes | None) -> list[int]:
    """Newlines outside quotes, by walking the bytes one at a time (the reference)."""
    ends, inside = [], False
    for i, byte in enumerate(data):
        if quote is not None and byte == quote[0]:
            inside = not inside
        elif byte == ord("\n") and not inside:
            ends.append(i)
    return ends


@given(
    data=st.lists(st.sampled_from([b"a", b",", b'"', b"\n", b"\r", b'""']), max_size=200).map(
        b"".join
    ),
    quote=st.sampled_from([b'"', None]),
)
def test_record_ends_match_a_byte_by_byte_walk(data: bytes, quote: bytes | None) -> None:
    assert record_ends(data, quote).tolist() == _brute_record_ends(data, quote)


@given(
    data=st.lists(st.sampled_from([b"ab", b",", b'"', b"\n", b"\n\n", b"x" * 40]), max_size=80).map(
        b"".join
    ),
    piece=st.integers(min_value=1, max_value=64),
    quote=st.sampled_from([b'"', None]),
)
@settings(deadline=None)
def test_blocks_end_at_record_ends_and_concatenate_to_the_file(
    tmp_path_factory: pytest.TempPathFactory, data: bytes, piece: int, quote: bytes | None
) -> None:
    path = tmp_path_factory.mktemp("blocks") / "f.txt"
    path.write_bytes(data)
    limits = ReadLimits(piece_bytes=piece, max_record_bytes=1 << 20)
    blocks = list(iter_blocks(str(path), limits=limits, quote=quote))
    assert b"".join(blocks) == data
    ends = set(_brute_record_ends(data, quote))
    offset = 0
    for block in blocks[:-1]:
        offset += len(block)
        assert offset - 1 in ends  # every block but the last ends with a record's newline


def test_read_ahead_keeps_order_raises_in_place_and_stops_when_left() -> None:
    def items(fail_at: int | None) -> Any:
        for i in range(10):
            if i == fail_at:
                raise InputError("f.csv", "broken piece")
            yield i

    assert list(read_ahead(items(None))) == list(range(10))
    got: list[int] = []
    with pytest.raises(InputError, match="broken piece"):
        for i in read_ahead(items(4)):
            got.append(i)
    assert got == [0, 1, 2, 3]  # every piece before the failing one
    produced: list[int] = []

    def counted() -> Any:
        for i in range(1000):
            produced.append(i)
            yield i

    ahead = read_ahead(counted())
    assert next(ahead) == 0
    ahead.close()  # the consumer stops: the producer stops too, one or two items ahead
    assert len(produced) <= 3
    assert not [t for t in threading.enumerate() if t.name == "coordscope-read-ahead"]


# ---------------------------------------------------------------------------------------
# the memory budget


def test_memory_sizes_the_pieces() -> None:
    assert ReadLimits.of("1GB").piece_bytes == 8 << 20
    assert ReadLimits.of().piece_bytes == 32 << 20  # 4 GiB by default
    assert ReadLimits.of("64MB").piece_bytes == 512 << 10
    assert ReadLimits.of("1TB").piece_bytes == 64 << 20  # at most 64 MiB
    assert ReadLimits.of("1GB").max_lines == (8 << 20) // 32


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"memory": "10MB"}, "memory must be at least 64MB"),
        ({"memory": "lots"}, "memory must be a size"),
        ({"max_inflate": 0.5}, "max_inflate must be a ratio >= 1, or 0"),
        ({"max_inflate": -1}, "max_inflate must be a ratio >= 1, or 0"),
    ],
)
def test_bad_budget_parameters_name_themselves(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ParameterError, match=message):
        ingest(FIXTURES / "generic" / "posts.csv", **kwargs)


def test_the_budget_does_not_change_the_result() -> None:
    path = FIXTURES / "twitter_v2" / "pages.jsonl"
    small, large = ingest(path, memory="64MB"), ingest(path, memory="16GB")
    assert_frame_equal(small.events, large.events)
    assert small.rows == large.rows


def test_a_record_longer_than_the_budget_allows_names_its_line(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"id": "1"}\n{"text": "' + b"x" * 5000 + b'"}\n')
    limits = ReadLimits(piece_bytes=256)  # records of at most 8 pieces: 2,048 bytes
    with pytest.raises(InputError, match=r"long\.jsonl: a record longer than .* on line 2"):
        list(iter_blocks(str(path), limits=limits))


# ---------------------------------------------------------------------------------------
# decompression bombs


def _bomb(path: Path, size: int, filler: bytes = b"\0") -> Path:
    """Write ``size`` bytes of ``filler`` through gzip, streamed (about 1/1000 of it)."""
    deflate = zlib.compressobj(1, zlib.DEFLATED, 31)
    block = filler * (1 << 20)
    with path.open("wb") as fh:
        for start in range(0, size, len(block)):
            fh.write(deflate.compress(block[: size - start]))
        fh.write(deflate.flush())
    return path


def test_a_bomb_stops_once_past_the_floor_and_the_ratio(tmp_path: Path) -> None:
    path = _bomb(tmp_path / "zeros.jsonl.gz", 8 << 20)  # 8 MiB of zeros, ~8 KiB stored
    limits = ReadLimits(piece_bytes=1 << 20, inflate_floor=2 << 20)
    with pytest.raises(InputError, match=r"zeros\.jsonl\.gz: decompresses to more than 100x"):
        list(iter_blocks(str(path), limits=limits))
    # a raised ratio, no ratio, or a floor above the size let it through
    for ok in (
        ReadLimits(piece_bytes=1 << 20, inflate_floor=2 << 20, max_inflate=5000),
        ReadLimits(piece_bytes=1 << 20, inflate_floor=2 << 20, max_inflate=None),
        ReadLimits(piece_bytes=1 << 20, inflate_floor=16 << 20),
    ):
        assert sum(map(len, iter_blocks(str(path), limits=ok))) == 8 << 20


def test_ordinary_compressed_exports_pass_the_guard(tmp_path: Path) -> None:
    # an X/Twitter export compresses about 10x with gzip -9: far from the 100x guard
    events, _ = simulate("mixed", seed=5, size="tiny")
    plain = tmp_path / "tweets.jsonl"
    get_format("twitter-v2").write(events, str(plain))
    raw = plain.read_bytes()
    path = tmp_path / "tweets.jsonl.gz"
    path.write_bytes(gzip.compress(raw, compresslevel=9))
    assert len(raw) / path.stat().st_size < 100 / 4
    limits = ReadLimits(piece_bytes=1 << 16, inflate_floor=1 << 16)
    assert b"".join(iter_blocks(str(path), limits=limits)) == raw


def test_bomb_on_the_command_line_is_one_line_and_exit_1(tmp_path: Path) -> None:
    # 300 MB of zeros in ~1 MB: stopped after the 256 MiB floor, not read to the end
    path = _bomb(tmp_path / "bomb.jsonl.gz", INFLATE_FLOOR + (44 << 20))
    out = tmp_path / "events.parquet"
    proc = subprocess.run(
        [sys.executable, "-m", "coordscope", "ingest", str(path), "--format", "twitter-v2",
         "-o", str(out)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"error: {path}: decompresses to more than 100x its size")
    assert "--max-inflate" in lines[0]
    assert not out.exists()


def test_zstd_frames_are_all_read(tmp_path: Path) -> None:
    # zstd -T and pzstd write several frames; every frame is content
    raw = (FIXTURES / "generic" / "posts.csv").read_bytes()
    cut = raw.index(b"\n", len(raw) // 2) + 1
    compressor = zstandard.ZstdCompressor()
    path = tmp_path / "posts.csv.zst"
    path.write_bytes(compressor.compress(raw[:cut]) + compressor.compress(raw[cut:]))
    assert ingest(path).rows == ingest(FIXTURES / "generic" / "posts.csv").rows


# ---------------------------------------------------------------------------------------
# pathological input: counted rejects or one line naming the file


def test_a_few_blank_lines_are_counted_rejects(tmp_path: Path) -> None:
    path = tmp_path / "blanks.csv"
    path.write_text("actor_id,ts\na,2024-03-01T10:00:00Z\n" + "\n" * 1000)
    result = ingest(path)
    assert result.rows == {"input": 1001, "accepted": 1, "rejected": 1000, "duplicates": 0}
    assert set(result.rejects["reason"]) == {"missing actor_id"}


@pytest.mark.parametrize("compress", [False, True])
def test_a_flood_of_newlines_is_one_error_naming_the_file(tmp_path: Path, compress: bool) -> None:
    content = b"event_id,actor_id,ts,text\n" + b"\n" * (MAX_EMPTY_RECORDS + 10)
    path = tmp_path / ("flood.csv.gz" if compress else "flood.csv")
    path.write_bytes(gzip.compress(content) if compress else content)
    with pytest.raises(InputError, match=r"flood\.csv(\.gz)?: more than 1,000,000 records hold"):
        ingest(path, memory="64MB")


def test_a_flood_of_separators_is_one_error_too(tmp_path: Path) -> None:
    path = tmp_path / "commas.csv"
    path.write_bytes(b"actor_id,ts,text\n" + b",,\n" * (MAX_EMPTY_RECORDS + 10))
    with pytest.raises(InputError, match=r"commas\.csv: more than 1,000,000 records hold"):
        ingest(path, format="generic", memory="64MB")


def test_flood_on_the_command_line_is_one_line_and_exit_1(tmp_path: Path) -> None:
    path = tmp_path / "flood.csv"
    path.write_bytes(b"actor_id,ts\n" + b"\n" * (MAX_EMPTY_RECORDS + 10))
    proc = subprocess.run(
        [sys.executable, "-m", "coordscope", "ingest", str(path), "-o", str(tmp_path / "e.csv")],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines() == [
        f"error: {path}: more than 1,000,000 records hold no value (blank lines or only "
        "separators): not a table"
    ]


def test_blank_lines_in_tweets_are_skipped_and_numbering_kept(tmp_path: Path) -> None:
    # JSON lines skip blank lines (they are not records); whole blocks of them are passed
    # over without being split, and the line numbers after them stay right
    tweet = '{{"id":"{i}","author_id":"2","created_at":"2022-03-01T12:00:00.000Z","text":"x"}}\n'
    bad = "{not json\n"
    path = tmp_path / "t.jsonl"
    path.write_text(tweet.format(i=1) + "\n" * 200_000 + " \n" * 1000 + bad + tweet.format(i=2))
    result = ingest(path, format="twitter-v2", memory="64MB")  # blocks of 16,384 lines
    assert result.rows == {"input": 3, "accepted": 2, "rejected": 1, "duplicates": 0}
    assert result.rejects["record"].to_list() == [201_002]


def test_a_line_holding_the_line_splitting_byte_is_a_reject(tmp_path: Path) -> None:
    # found by fuzzing: a raw 0x1f once broke the split of JSON lines (a polars error)
    good = '{"id":"1","author_id":"2","created_at":"2022-03-01T12:00:00.000Z","text":"ok"}'
    path = tmp_path / "t.jsonl"
    path.write_bytes(b'{"id": "9"\x1f}\n' + good.encode() + b"\n")
    result = ingest(path, format="twitter-v2")
    assert result.rows == {"input": 2, "accepted": 1, "rejected": 1, "duplicates": 0}
    assert result.rejects["record"].to_list() == [1]


def test_deeply_nested_json_is_a_reject_not_a_recursion_error(tmp_path: Path) -> None:
    path = tmp_path / "deep.jsonl"
    deep = "[" * 100_000 + "]" * 100_000
    good = '{"actor_id": "a", "ts": "2024-03-01T10:00:00Z"}'
    path.write_text(f'{{"actor_id": "b", "x_deep": {deep}}}\n{good}\n')
    result = ingest(path, format="generic")
    assert result.rows == {"input": 2, "accepted": 1, "rejected": 1, "duplicates": 0}


def test_a_polars_panic_becomes_an_input_error_naming_the_file(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def panics(*args: Any, **kwargs: Any) -> Any:
        raise pl.exceptions.PanicException("index out of bounds")

    monkeypatch.setattr(generic, "DelimitedText", panics)
    path = FIXTURES / "generic" / "posts.csv"
    with pytest.raises(InputError, match=r"posts\.csv: could not be read \(polars failed: index"):
        ingest(path, format="generic")


def test_errors_of_polars_while_reading_name_the_file(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    path = tmp_path / "bad.parquet"
    path.write_bytes(b"PAR1" + b"\0" * 100)
    with pytest.raises(InputError, match=r"bad\.parquet: "):
        ingest(path)

    def fails(*args: Any, **kwargs: Any) -> Any:
        raise pl.exceptions.ComputeError("something inside")

    monkeypatch.setattr(generic, "_stage", fails)
    with pytest.raises(InputError, match=r"posts\.csv: could not be read \(something inside\)"):
        ingest(FIXTURES / "generic" / "posts.csv")


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordscope", *args], capture_output=True, text=True, check=False
    )


def test_ingest_writes_a_dataset_partitioned_by_day(tmp_path: Path) -> None:
    # mixed tiny spans 3 days (2024-03-01 .. 03): three day= folders, the same rows, in
    # input order within a day; written again, the dataset is replaced
    events, _ = simulate("mixed", seed=5, size="tiny")
    source = tmp_path / "events.parquet"
    events.write_parquet(source)
    out = tmp_path / "dataset"
    for _ in range(2):
        done = _cli("ingest", str(source), "-o", str(out))
        assert done.returncode == 0, done.stderr
    days = sorted(p.name for p in out.iterdir())
    assert days == ["day=2024-03-01", "day=2024-03-02", "day=2024-03-03"]
    back = pl.read_parquet(out / "**" / "*.parquet", hive_partitioning=False)
    assert back.schema == events.schema
    assert_frame_equal(back, events.sort("ts", maintain_order=True))
    per_day = pl.read_parquet(out / "day=2024-03-02" / "*.parquet")
    assert per_day["ts"].dt.date().cast(pl.String).unique().to_list() == ["2024-03-02"]
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no temporary left


def test_ingest_never_replaces_a_folder_that_is_not_a_dataset(tmp_path: Path) -> None:
    events, _ = simulate("mixed", seed=5, size="tiny")
    source = tmp_path / "events.parquet"
    events.write_parquet(source)
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "thesis.txt").write_text("mine")
    done = _cli("ingest", str(source), "-o", str(mine))
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"error: --output: {mine} exists and is not an event dataset (day=… folders only): "
        "choose a new folder"
    ]
    assert (mine / "thesis.txt").read_text() == "mine"
