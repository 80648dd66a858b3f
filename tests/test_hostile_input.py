"""Hostile and careless input: timestamps and bytes that cannot be represented.

Every case ends in a counted reject with its reason (or one clear line), never in a crash
of a later stage and never in two ids silently made one. The supported range of times is
1970-01-01 to 2099-12-31 UTC; epoch numbers take their unit from the first number of
their column in the file.
"""

from __future__ import annotations

import csv
import json
import subprocess
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from coordscope.datasets._io import ReadLimits
from coordscope.datasets._stage import Finalized, Finalizer
from coordscope.datasets.formats import get_format
from coordscope.datasets.ingest import IngestResult, ingest
from coordscope.datasets.normalize import EpochUnit, parse_times
from coordscope.errors import InputError
from coordscope.runs import run_audit
from tests.conftest import FIXTURES, assert_accounting, run_cli

ROOT = Path(__file__).resolve().parents[1]
RANGE = "(1970-01-01 to 2099-12-31 UTC)"
INVALID = (
    "has bytes that are not valid UTF-8 (is the file in another encoding? convert it to UTF-8)"
)
T0 = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # epoch second 1_700_000_000


def _csv(path: Path, rows: list[tuple[str, str]], header: str = "actor_id,ts") -> Path:
    path.write_text(header + "\n" + "".join(f"{a},{t}\n" for a, t in rows), encoding="utf-8")
    return path


def _column(result: IngestResult | Finalized, name: str) -> list[object]:
    """One column of the accepted events, as a list."""
    return result.events.lazy().select(name).collect()[name].to_list()


def _rejects(result: IngestResult | Finalized) -> dict[int, str]:
    frame = result.rejects
    return dict(zip(frame["record"].to_list(), frame["reason"].to_list(), strict=True))


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(*args)


# --- epoch units: one per column and file ----------------------------------------------


@pytest.mark.parametrize(
    ("value", "unit"),
    [
        ("1700000000", "s"),
        ("1700000000.25", "s"),
        ("1700000000000", "ms"),
        ("1700000000000000", "us"),
        ("1700000000000000999", "ns"),  # nanoseconds truncated to the microsecond
    ],
)
def test_epoch_unit_is_taken_from_the_size_of_the_column(
    tmp_path: Path, value: str, unit: str
) -> None:
    result = ingest(_csv(tmp_path / "e.csv", [("a", value), ("b", value)]))
    assert result.rows == {"input": 2, "accepted": 2, "rejected": 0, "duplicates": 0}
    extra = timedelta(seconds=0.25) if value.endswith(".25") else timedelta(0)
    assert _column(result, "ts") == [T0 + extra] * 2


def test_numeric_epoch_columns_of_parquet_are_read_in_their_unit(tmp_path: Path) -> None:
    path = tmp_path / "e.parquet"
    ns = 1_700_000_000_000_000_000
    pl.DataFrame({"actor_id": ["a", "b", "c"], "ts": [ns, ns + 1_000, -1]}).write_parquet(path)
    result = ingest(path)
    assert _column(result, "ts") == [T0, T0 + timedelta(microseconds=1)]
    assert _rejects(result) == {3: f"field 'ts': epoch '-1' is before 1970-01-01 (the "
                                   f"supported range is {RANGE[1:-1]})"}  # fmt: skip


def test_mixed_epoch_units_in_one_file_are_rejects_naming_the_deciding_record(
    tmp_path: Path,
) -> None:
    # the file: seconds, then milliseconds, then microseconds (an OverflowError
    # before), then seconds again
    rows = [("a", "1700000000"), ("b", "1700000000000"), ("c", "1700000000000000"),
            ("d", "1700000010")]  # fmt: skip
    result = ingest(_csv(tmp_path / "mixed.csv", rows))
    assert_accounting(result.rows)
    assert result.rows["accepted"] == 2
    assert _rejects(result) == {
        2: "field 'ts': epoch '1700000000000' has the size of milliseconds but this "
        "column's epochs in this file are seconds (decided by record 1)",
        3: "field 'ts': epoch '1700000000000000' has the size of microseconds but this "
        "column's epochs in this file are seconds (decided by record 1)",
    }


def _in_pieces(path: Path, piece_bytes: int) -> Finalized:
    """Read ``path`` (generic) in pieces of about ``piece_bytes``, each prepared alone."""
    staged = get_format("generic").read(str(path), limits=ReadLimits(piece_bytes=piece_bytes))
    finalizer = Finalizer(batch_bytes=1)
    finalizer.add(staged)
    return finalizer.finish()


def test_the_unit_is_decided_once_per_file_whatever_the_piece_size(tmp_path: Path) -> None:
    rows = [("a", "1700000000000")] + [(f"x{i}", str(1_700_000_000_000 + i)) for i in range(300)]
    rows += [("late", "1700000000")]  # seconds, after 300 rows of milliseconds
    path = _csv(tmp_path / "many.csv", rows)
    small = _in_pieces(path, 1 << 10)
    whole = ingest(path)
    assert small.rows == whole.rows
    assert (
        _rejects(small)
        == _rejects(whole)
        == {
            302: "field 'ts': epoch '1700000000' has the size of seconds but this column's "
            "epochs in this file are milliseconds (decided by record 1)"
        }
    )
    # a second file decides its own unit
    other = _csv(tmp_path / "other.csv", [("s", "1700000000")])
    both = ingest([path, other])
    assert both.rows["rejected"] == 1 and _column(both, "ts")[-1] == T0


def test_invalid_bytes_are_rejected_whatever_the_piece_size(tmp_path: Path) -> None:
    body = b"".join(
        b"a%d%s,2024-01-01T00:00:%02dZ\n" % (i, b"\xe9" if i % 7 == 3 else b"", i % 60)
        for i in range(400)
    )
    path = tmp_path / "pieces.csv"
    path.write_bytes(b"actor_id,ts\n" + body)
    small = _in_pieces(path, 1 << 9)
    whole = ingest(path)
    assert small.rows == whole.rows
    assert _rejects(small) == _rejects(whole)
    assert sorted(_rejects(whole)) == [i + 1 for i in range(400) if i % 7 == 3]


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("1e300", "epoch '1e300' is too large for any unit (the supported range is "
                  "1970-01-01 to 2099-12-31 UTC)"),
        ("-5", "epoch '-5' is before 1970-01-01 (the supported range is 1970-01-01 to "
               "2099-12-31 UTC)"),
        ("5e10", f"epoch '5e10' in seconds is outside the supported range {RANGE}"),
        ("0001-01-01T00:00:00Z", f"'0001-01-01T00:00:00Z' is outside the supported range {RANGE}"),
        ("9999-12-31", f"'9999-12-31' is outside the supported range {RANGE}"),
        ("2100-01-01T00:00:00Z", f"'2100-01-01T00:00:00Z' is outside the supported range {RANGE}"),
        ("1969-12-31 23:59:59+00:00",
         f"'1969-12-31 23:59:59+00:00' is outside the supported range {RANGE}"),
        ("2099-12-31T23:30:00-01:00",
         f"'2099-12-31T23:30:00-01:00' is outside the supported range {RANGE}"),
    ],
)  # fmt: skip
def test_times_outside_the_range_are_counted_rejects(
    tmp_path: Path, value: str, reason: str
) -> None:
    result = ingest(_csv(tmp_path / "t.csv", [("ok", "1700000000"), ("bad", value)]))
    assert result.rows == {"input": 2, "accepted": 1, "rejected": 1, "duplicates": 0}
    assert _rejects(result) == {2: f"field 'ts': {reason}"}


def test_the_edges_of_the_range_are_accepted() -> None:
    values = ["1970-01-01T00:00:00Z", "2099-12-31T23:59:59.999999Z", "2099-12-31 23:59:59"]
    parsed = parse_times(pl.Series("ts", values))
    assert parsed.problem.to_list() == [None] * 3
    assert parsed.ts.to_list() == [
        datetime(1970, 1, 1, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
        datetime(2099, 12, 31, 23, 59, 59, tzinfo=UTC),
    ]


def test_datetime_and_date_columns_outside_the_range_are_rejected(tmp_path: Path) -> None:
    path = tmp_path / "d.parquet"
    times = [datetime(1, 1, 1), datetime(2024, 1, 1), datetime(9999, 12, 31)]
    frame = pl.DataFrame(
        {"actor_id": ["a", "b", "c"], "ts": pl.Series(times).cast(pl.Datetime("ms"))}
    )
    frame.write_parquet(path)
    result = ingest(path)
    assert _column(result, "ts") == [datetime(2024, 1, 1, tzinfo=UTC)]
    assert sorted(_rejects(result)) == [1, 3]
    assert all("is outside the supported range" in r for r in _rejects(result).values())
    days = parse_times(pl.Series("ts", [date(1, 1, 1), date(2099, 12, 31), date(2100, 1, 1)]))
    assert days.ts.is_not_null().to_list() == [False, True, False]


def test_parse_times_keeps_the_unit_between_pieces() -> None:
    epoch = EpochUnit()
    first = parse_times(pl.Series("ts", ["x", "1700000000000"]), epoch=epoch,
                        records=pl.Series([7, 8]))  # fmt: skip
    assert (epoch.unit, epoch.record) == ("ms", 8)
    later = parse_times(pl.Series("ts", ["1700000000"]), epoch=epoch)
    assert first.ts[1] == T0 and later.ts[0] is None
    assert "decided by record 8" in later.problem[0]


def test_actor_created_outside_the_range_is_dropped_and_counted(tmp_path: Path) -> None:
    rows = [("a", "2024-01-01T00:00:00Z,0001-01-01"), ("b", "2024-01-01T00:00:00Z,2020-05-01")]
    path = _csv(tmp_path / "c.csv", rows, header="actor_id,ts,actor_created")
    result = ingest(path)
    assert result.rows["accepted"] == 2
    assert _column(result, "actor_created") == [None, datetime(2020, 5, 1, tzinfo=UTC)]
    assert result.notes["actor_created_out_of_range"] == 1


def test_cnt_seconds_outside_the_range_are_rejects(tmp_path: Path) -> None:
    header = "message_id,user_id,username,repost_id,reply_id,message,timestamp,urls"
    lines = [header, "m1,u1,a,,,hi,12.5,", "m2,u2,b,,,hi,1e300,", "m3,u3,c,,,hi,-1,",
             "m4,u4,d,,,hi,1e400,"]  # fmt: skip
    path = tmp_path / "cnt.csv"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    result = ingest(path, format="cnt")
    assert _column(result, "ts") == [datetime(1970, 1, 1, 0, 0, 12, 500000, tzinfo=UTC)]
    reasons = _rejects(result)
    assert (
        reasons[2] == f"field 'timestamp': '1e300' seconds is outside the supported range {RANGE}"
    )
    assert set(reasons) == {2, 3, 4}


def test_twitter_v2_created_at_outside_the_range_names_the_tweet(tmp_path: Path) -> None:
    tweet = {"id": "1", "author_id": "9", "text": "t", "created_at": "9999-01-01T00:00:00.000Z"}
    good = {**tweet, "id": "2", "created_at": "2022-03-01T12:00:00.000Z"}
    path = tmp_path / "v2.jsonl"
    path.write_text(json.dumps({"data": [tweet, good]}) + "\n", encoding="utf-8")
    result = ingest(path, format="twitter-v2")
    assert result.rows["accepted"] == 1 and result.rows["rejected"] == 1
    (reason,) = _rejects(result).values()
    assert reason == (
        "data[0]: field 'created_at': '9999-01-01T00:00:00.000Z' is outside the supported "
        f"range {RANGE}"
    )


def test_microsecond_epoch_and_year_one_end_in_a_summary_not_a_crash(tmp_path: Path) -> None:
    # the issue: an OverflowError for microseconds, a matplotlib crash for year 1
    rows = [("a", "1700000000"), ("b", "1700000005"), ("c", "1700000000000000"),
            ("d", "0001-01-01T00:00:00Z"), ("e", "9999-12-31T00:00:00Z")]  # fmt: skip
    out = tmp_path / "out"
    done = _run("audit", str(_csv(tmp_path / "i.csv", rows)), "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert "unexpected" not in done.stderr + done.stdout
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert summary["rows"] == {"input": 5, "accepted": 2, "rejected": 3, "duplicates": 0}
    assert (out / "report.html").is_file()


# --- bytes that are not valid UTF-8 -----------------------------------------------------


def test_latin1_ids_are_rejected_not_merged(tmp_path: Path) -> None:
    path = tmp_path / "latin.csv"
    path.write_bytes(
        b"actor_id,ts,text\n"
        b"caf\xe9,2024-01-01T00:00:00Z,one\n"
        b"caf\xe8,2024-01-01T00:00:05Z,two\n"
        b"plain,2024-01-01T00:00:06Z,caf\xc3\xa9 \xef\xbf\xbd genuine\n"
    )
    result = ingest(path)
    assert result.rows == {"input": 3, "accepted": 1, "rejected": 2, "duplicates": 0}
    assert _rejects(result) == {
        1: f"column 'actor_id' {INVALID}",
        2: f"column 'actor_id' {INVALID}",
    }
    # valid UTF-8 (a genuine U+FFFD included) is kept as it is
    assert _column(result, "text") == ["café \ufffd genuine"]


def test_invalid_bytes_beside_a_genuine_replacement_character(tmp_path: Path) -> None:
    path = tmp_path / "both.csv"
    path.write_bytes(
        b"actor_id,ts,text\n"
        b"a\xef\xbf\xbd,2024-01-01T00:00:00Z,genuine U+FFFD in the id\n"
        b"b,2024-01-01T00:00:05Z,bad \xff byte in the text\n"
    )
    result = ingest(path)
    assert _column(result, "actor_id") == ["a\ufffd"]
    assert _rejects(result) == {2: f"column 'text' {INVALID}"}


def test_invalid_bytes_in_a_column_not_read_do_not_reject(tmp_path: Path) -> None:
    path = tmp_path / "unused.csv"
    path.write_bytes(b"actor_id,ts,notes\na,2024-01-01T00:00:00Z,\xe9t\xe9\n")
    assert ingest(path).rows["accepted"] == 1


def test_invalid_utf8_in_json_lines_is_a_reject_per_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(
        b'{"actor_id": "caf\xe9", "ts": "2024-01-01T00:00:00Z"}\n'
        b'{"actor_id": "ok", "ts": "2024-01-01T00:00:01Z"}\n'
        b'{"actor_id": "caf\xe8", "ts": "2024-01-01T00:00:02Z"}\n'
    )
    result = ingest(path)
    assert _column(result, "actor_id") == ["ok"]
    assert _rejects(result) == {1: f"the line {INVALID}", 3: f"the line {INVALID}"}


def test_json_lines_all_invalid_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "all.jsonl"
    path.write_bytes(b'{"actor_id": "caf\xe9", "ts": "2024-01-01T00:00:00Z"}\n')
    with pytest.raises(InputError, match="first reason: the line has bytes that are not valid"):
        ingest(path)


def test_invalid_utf8_in_twitter_lines_is_a_reject(tmp_path: Path) -> None:
    lines = (FIXTURES / "twitter_v1" / "statuses.jsonl").read_bytes().splitlines()
    screen = lines[0].index(b'"screen_name":"') + len(b'"screen_name":"')
    lines[0] = lines[0][:screen] + b"\xe9" + lines[0][screen:]
    path = tmp_path / "v1.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    clean = ingest(FIXTURES / "twitter_v1" / "statuses.jsonl", format="twitter-v1")
    result = ingest(path, format="twitter-v1")
    assert_accounting(result.rows)
    assert result.rows["rejected"] == clean.rows["rejected"] + 1
    assert _rejects(result)[1] == f"the line {INVALID}"


@pytest.mark.parametrize(
    ("fixture", "fmt", "column"),
    [
        ("generic/posts.csv", "generic", "actor_id"),
        ("cnt/small.csv", "cnt", "user_id"),
        ("coortweet/narrow.csv", "coortweet", "account_id"),
        ("coortweet/wide.csv", "coortweet", "account_id"),
        ("crowdtangle/facebook_page_export.csv", "crowdtangle", "Facebook Id"),
        ("crowdtangle/instagram_export.csv", "crowdtangle", "User Name"),
        ("twitter_io/io_archive_tweets.csv", "twitter-io", "userid"),
    ],
)
def test_every_delimited_reader_rejects_a_row_with_invalid_bytes(
    tmp_path: Path, fixture: str, fmt: str, column: str
) -> None:
    source = FIXTURES / fixture
    with open(source, encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.reader(fh))
    at = rows[0].index(column)
    rows[1][at] += "\udce9"  # a lone latin-1 byte, written back as the byte 0xE9
    path = tmp_path / source.name
    with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
        csv.writer(fh, lineterminator="\n").writerows(rows)
    clean = ingest(source, format=fmt)
    result = ingest(path, format=fmt)
    assert_accounting(result.rows)
    assert result.rows["input"] == clean.rows["input"]
    assert _rejects(result)[1] == f"column '{column}' {INVALID}"
    assert result.rows["rejected"] == clean.rows["rejected"] + (0 if 1 in _rejects(clean) else 1)


# --- any accepted time survives the whole audit -----------------------------------------

_LOW = datetime(1970, 1, 1)
_HIGH = datetime(2099, 12, 31, 23, 59, 59, 999999)
#: Milliseconds and finer units are told apart from seconds from 1e11 ms on.
_FINE_FROM = datetime(1973, 3, 3, 9, 46, 41)
_instants = st.one_of(
    st.sampled_from([_LOW, _HIGH, _FINE_FROM, datetime(2024, 2, 29, 12)]),
    st.datetimes(min_value=_LOW, max_value=_HIGH),
)


def _written(moment: datetime, unit: str) -> tuple[str, datetime]:
    """``moment`` as the file holds it in ``unit``, and the time that text stands for."""
    micros = (moment - _LOW) // timedelta(microseconds=1)
    if unit == "iso":
        text = moment.isoformat() + "Z"
    elif unit == "s":
        text = f"{micros // 1_000_000}.{micros % 1_000_000:06d}"
    elif unit == "ms":
        micros -= micros % 1000
        text = str(micros // 1000)
    elif unit == "us":
        text = str(micros)
    else:
        text = str(micros * 1000 + 999)  # nanoseconds, truncated when read
    return text, datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)


@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    moments=st.lists(_instants, min_size=1, max_size=6),
    unit=st.sampled_from(["iso", "s", "ms", "us", "ns"]),
    actors=st.lists(st.sampled_from(["a", "b", "c"]), min_size=6, max_size=6),
    repeat=st.booleans(),
)
@example(moments=[_LOW, _HIGH], unit="iso", actors=["a", "b"] * 3, repeat=True)
@example(moments=[_HIGH], unit="ns", actors=["a"] * 6, repeat=False)
@example(moments=[_FINE_FROM, _HIGH], unit="ms", actors=["a", "b"] * 3, repeat=False)
def test_any_accepted_time_goes_through_the_whole_audit(
    tmp_path: Path, moments: list[datetime], unit: str, actors: list[str], repeat: bool
) -> None:
    if unit in ("ms", "us", "ns"):
        moments = [max(m, _FINE_FROM) for m in moments]
    if repeat:  # duplicates: the same time again, by another account and the same one
        moments = moments + moments[:1]
    written = [_written(m, unit) for m in moments]
    rows = [
        f"{actors[i % 6]},{text},https://example.org/{i % 2}" for i, (text, _) in enumerate(written)
    ]
    case = tmp_path / f"case-{len(list(tmp_path.iterdir()))}"
    case.mkdir()
    path = case / "in.csv"
    path.write_text("actor_id,ts,urls\n" + "\n".join(rows) + "\n", encoding="utf-8")
    out = case / "out"
    result = run_audit([str(path)], out)
    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    assert_accounting(summary["rows"])
    assert summary["rows"]["rejected"] == 0
    assert summary["rows"]["input"] == len(moments)
    assert (out / "report.html").is_file()
    assert result.summary["rows"] == summary["rows"]
    kept = pl.read_parquet(out / "events.parquet")["ts"].to_list()
    expected = {moment for _, moment in written}
    slack = timedelta(microseconds=1) if unit == "s" else timedelta(0)  # float seconds
    assert all(min(abs(t - e) for e in expected) <= slack for t in kept)


def test_json_documents_with_invalid_bytes_are_one_clear_error(tmp_path: Path) -> None:
    array = tmp_path / "a.json"
    array.write_bytes(b'[{"actor_id": "caf\xe9", "ts": "2024-01-01T00:00:00Z"}]')
    with pytest.raises(InputError) as raised:
        ingest(array)
    assert str(raised.value) == (f"{array}: the document (first at byte 19) {INVALID}")
    data = (FIXTURES / "telegram" / "channel_result.json").read_bytes()
    at = data.index(b'"from": "') + len(b'"from": "')
    chat = tmp_path / "result.json"
    chat.write_bytes(data[:at] + b"\xe9" + data[at:])
    with pytest.raises(InputError, match="can't decode byte 0xe9") as raised:
        ingest(chat, format="telegram")
    assert "\n" not in str(raised.value)


def test_a_list_or_object_where_a_time_belongs_is_a_reject(tmp_path: Path) -> None:
    path = tmp_path / "nested.jsonl"
    path.write_text(
        '{"actor_id": "a", "ts": [1700000000, 2]}\n{"actor_id": "b", "ts": [1700000000]}\n',
        encoding="utf-8",
    )
    result = ingest(path)
    assert result.rows["rejected"] == 2
    assert set(_rejects(result).values()) == {
        "field 'ts': timestamp not understood: '(not a single value)'"
    }
