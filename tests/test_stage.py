"""The shared finalisation: rejects, duplicates, merging, and the accounting invariant."""

from __future__ import annotations

import polars as pl
from hypothesis import given, settings
from hypothesis import strategies as st

from coordscope.datasets._stage import (
    RECORD,
    REJECT,
    SOURCE,
    Finalized,
    Finalizer,
    Staged,
    finalize,
)
from coordscope.parts import WorkDir
from coordscope.schema import validate_events
from tests.conftest import assert_accounting


def _staged(rows: list[dict[str, object]], **kwargs: bool) -> Staged:
    frame = pl.DataFrame(
        [{SOURCE: "f.csv", RECORD: i + 1, **r} for i, r in enumerate(rows)],
        schema_overrides={"urls": pl.List(pl.String), "hashtags": pl.List(pl.String)},
    )
    return Staged([frame], format="generic", **kwargs)


def test_reader_reason_wins_and_required_fields() -> None:
    done = finalize(
        [
            _staged(
                [
                    {
                        "event_id": "e1",
                        "actor_id": "a",
                        "ts": "2024-01-01T00:00:00Z",
                        REJECT: "service message (pin)",
                    },
                    {"event_id": "e2", "actor_id": " ", "ts": "2024-01-01T00:00:00Z", REJECT: None},
                    {"event_id": "", "actor_id": "b", "ts": "2024-01-01T00:00:00Z", REJECT: None},
                    {"event_id": "e4", "actor_id": "c", "ts": None, REJECT: None},
                    {"event_id": "e5", "actor_id": "d", "ts": "2024-01-01T00:00:00Z", REJECT: None},
                ]
            )
        ]
    )
    assert done.rows == {"input": 5, "accepted": 1, "rejected": 4, "duplicates": 0}
    assert done.rejects["reason"].to_list() == [
        "service message (pin)",
        "missing actor_id",
        "missing event_id",
        "missing ts",
    ]
    assert done.events["event_id"].to_list() == ["e5"]


def test_same_id_different_content_is_kept_and_counted() -> None:
    rows = [
        {"event_id": "e1", "actor_id": "a", "ts": "1700000000", "object_id": "o1"},
        {"event_id": "e1", "actor_id": "a", "ts": "1700000000", "object_id": "o2"},
        {"event_id": "e1", "actor_id": "a", "ts": "1700000000", "object_id": "o1"},
    ]
    done = finalize([_staged(rows)])
    assert done.rows == {"input": 3, "accepted": 2, "rejected": 0, "duplicates": 1}
    assert done.events["object_id"].to_list() == ["o1", "o2"]
    assert done.notes["event_id_conflicts"] == 2


def test_merge_rows_unions_lists_in_order() -> None:
    rows = [
        {"event_id": "p", "actor_id": "a", "ts": "1700000000", "urls": ["u1"], "hashtags": []},
        {"event_id": "p", "actor_id": "a", "ts": "1700000000", "urls": ["u2"], "hashtags": ["H"]},
        {"event_id": "q", "actor_id": "a", "ts": "1700000001", "urls": [], "hashtags": ["h"]},
        {"event_id": "p", "actor_id": "a", "ts": "1700000000", "urls": ["u1"], "hashtags": ["h"]},
    ]
    done = finalize([_staged(rows, merge_rows=True, normalize_urls=False)])
    assert done.rows == {"input": 4, "accepted": 4, "rejected": 0, "duplicates": 0}
    assert done.notes["merged_rows"] == 2
    assert done.events.select("event_id", "urls", "hashtags").rows() == [
        ("p", ["u1", "u2"], ["h"]),
        ("q", [], ["h"]),
    ]


def test_no_input_gives_an_empty_valid_table() -> None:
    done = finalize([])
    assert done.rows == {"input": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    validate_events(done.events)


_ids = st.sampled_from(["e1", "e2", "e3", "", None])
_actors = st.sampled_from(["a", "b", " ", None])
_times = st.sampled_from(
    ["1700000000", "2024-01-01T00:00:00Z", "2024-01-01T00:00:00", "nope", "", None]
)
_kinds = st.sampled_from(["post", "REPOST", "", None, "shout"])
_lists = st.lists(st.sampled_from(["", " ", "#A", "https://Www.X.com/", "b"]), max_size=3)
_row = st.fixed_dictionaries(
    {
        "event_id": _ids,
        "actor_id": _actors,
        "ts": _times,
        "kind": _kinds,
        "urls": _lists,
        "hashtags": _lists,
    }
)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(_row, max_size=12),
    st.booleans(),
)
def test_every_row_accounted_for_and_output_valid(
    rows: list[dict[str, object]], merge: bool
) -> None:
    done = finalize([_staged(rows, merge_rows=merge)])
    assert done.rows["input"] == len(rows)
    assert_accounting(done.rows)
    validate_events(done.events)
    assert done.rejects.height == done.rows["rejected"]
    if not merge:
        assert done.events.height == done.rows["accepted"]
    # determinism: the same input gives the same output
    again = finalize([_staged(rows, merge_rows=merge)])
    assert again.events.equals(done.events)


def _spilled(parts: list[Staged], *, batch_bytes: int = 1) -> tuple[Finalized, WorkDir]:
    """Finalise with the accepted rows spilled, every staged piece its own batch."""
    work = WorkDir()
    finalizer = Finalizer(batch_bytes=batch_bytes, spill=work)
    for part in parts:
        finalizer.add(part)
    return finalizer.finish(), work


def test_spilled_rows_are_the_held_rows_by_hand() -> None:
    # two files, each piece a batch of its own: e1 recurs across the files with the same
    # content (a duplicate) and with other content (a conflict), e2 is a reject
    first = [
        {"event_id": "e1", "actor_id": "a", "ts": "1700000000", "object_id": "o1"},
        {"event_id": "e2", "actor_id": "", "ts": "1700000000"},
    ]
    second = [
        {"event_id": "e1", "actor_id": "a", "ts": "1700000000", "object_id": "o1"},
        {"event_id": "e3", "actor_id": "b", "ts": "1700000001"},
        {"event_id": "e1", "actor_id": "a", "ts": "1700000000", "object_id": "o2"},
    ]
    done, work = _spilled([_staged(first), _staged(second)])
    assert isinstance(done.events, pl.LazyFrame)
    assert done.rows == {"input": 5, "accepted": 3, "rejected": 1, "duplicates": 1}
    events = done.events.collect()
    assert events.select("event_id", "object_id").rows() == [
        ("e1", "o1"),
        ("e3", None),
        ("e1", "o2"),
    ]
    assert done.notes["event_id_conflicts"] == 2
    assert done.notes["events"] == 3
    assert [p.suffix for p in work.path.iterdir()] == [".parquet"]  # the batches are gone
    held = finalize([_staged(first), _staged(second)])
    assert events.equals(held.events)
    assert held.rows == done.rows and held.notes == done.notes
    assert held.rejects.equals(done.rejects)
    work.close()


@settings(max_examples=60, deadline=None)
@given(
    st.lists(
        st.lists(_row, max_size=8),
        max_size=3,
    ),
    st.booleans(),
    st.sampled_from([1, 10**9]),
)
def test_spilling_gives_the_held_table(
    files: list[list[dict[str, object]]], merge: bool, batch_bytes: int
) -> None:
    held = finalize([_staged(rows, merge_rows=merge) for rows in files])
    done, work = _spilled(
        [_staged(rows, merge_rows=merge) for rows in files], batch_bytes=batch_bytes
    )
    events = done.events if isinstance(done.events, pl.DataFrame) else done.events.collect()
    assert events.equals(held.events)
    assert done.rows == held.rows
    assert done.notes == held.notes
    assert done.rejects.equals(held.rejects)
    work.close()
