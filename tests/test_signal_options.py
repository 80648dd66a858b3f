"""The signals' options in the Python API: audit and detect, the Spark path, daily states.

``audit``/``detect`` take ``text_rule``, ``min_text_length``, ``similarity``,
``min_shingles``, ``media_distance`` and ``partition_memory``; the options reach every
place where actions are made (the local slices, a runner's batches, the days a state
keeps), are recorded in ``summary.json``, and a state never reuses actions made with other
options.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from polars.testing import assert_frame_equal

import coordscope as cs
from coordscope.budget import Budget
from coordscope.daily import keep_days
from coordscope.engine.runners import LocalRunner
from coordscope.engine.state import StateStore
from coordscope.errors import ParameterError
from coordscope.parts import WorkDir
from coordscope.runs import run_audit, run_state_audit
from coordscope.schema import EVENT_SCHEMA
from coordscope.signals.actions import (
    MINHASH_FROM,
    ActionOptions,
    action_batches,
    actions,
    runner_action_batches,
)
from coordscope.signals.similar import DEFAULT_BANDS, DEFAULT_ROWS, lsh_probability
from tests.conftest import FIXTURES

DAY0 = dt.datetime(2024, 3, 1, 9, tzinfo=dt.UTC)


def _fixture() -> pl.DataFrame:
    """The eight posts of ``tests/fixtures/options`` (see ``tests/test_cli_options.py``)."""
    return cs.read_events(FIXTURES / "options" / "events.csv")


def _pairs(edges: pl.DataFrame) -> list[str]:
    return [
        f"{a}-{b}" for a, b in edges.sort("actor_a", "actor_b").select("actor_a", "actor_b").rows()
    ]


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ({}, []),
        ({"windows": {"co_hashtag": 600}}, ["a1-a2"]),
        ({"similarity": 0.5}, ["a3-a4"]),
        ({"media_distance": 8}, ["a5-a6"]),
        ({"min_text_length": 5}, ["a7-a8"]),
        ({"min_text_length": 5, "text_rule": "exact"}, []),
    ],
)
def test_audit_options_change_the_pairs_and_are_recorded(
    options: dict[str, Any], expected: list[str]
) -> None:
    result = cs.audit(_fixture(), signals="co_hashtag,co_similar,co_media,co_text", **options)
    assert _pairs(result.edges) == expected
    parameters = result.summary["parameters"]
    for name, value in options.items():
        assert parameters["windows_s" if name == "windows" else name] == value
    assert parameters["similar_method"] == ("exact" if "similarity" in options else "minhash")


def test_detect_takes_the_same_options() -> None:
    events = _fixture()
    found = cs.detect(
        events, signals="co_similar,co_media", window=60, similarity=0.5, media_distance=8
    )
    assert _pairs(found.edges) == ["a3-a4", "a5-a6"]
    assert (found.parameters["similarity"], found.parameters["media_distance"]) == (0.5, 8)


def test_minhash_is_used_only_where_its_recall_holds() -> None:
    """Below 0.8 the bands tuned for 0.8 would miss pairs at the threshold: exact there."""
    at = lsh_probability(MINHASH_FROM, bands=DEFAULT_BANDS, rows=DEFAULT_ROWS)
    assert at >= 0.99
    assert lsh_probability(0.7, bands=DEFAULT_BANDS, rows=DEFAULT_ROWS) < 0.9
    assert ActionOptions(similarity=0.8).similar_method == "minhash"
    assert ActionOptions(similarity=0.79).similar_method == "exact"


class _MappingRunner(LocalRunner):
    """The local runner under another name: actions go through the runner's batches."""

    name = "mapping"


def test_a_runners_batches_use_the_options(tmp_path: Path) -> None:
    events = _fixture()
    options = ActionOptions(text_rule="exact", min_text_length=5)
    made = pl.concat(
        runner_action_batches(
            _MappingRunner(), events, signal="co_text", rows=3, work=WorkDir(tmp_path),
            options=options,
        )
    )  # fmt: skip
    expected = actions(events, signals="co_text", text_rule="exact", min_text_length=5)
    assert_frame_equal(made, expected)
    assert_frame_equal(
        pl.concat(action_batches(events, signal="co_text", rows=3, options=options)), expected
    )
    # 8 texts of 5 characters or more, as exported ("Short one" and "short ONE" differ)
    assert made.height == 8 and made["key"].n_unique() == 8


@pytest.mark.parametrize(
    ("options", "name"),
    [
        ({"similarity": 0.0}, "similarity"),
        ({"similarity": True}, "similarity"),
        ({"media_distance": 33}, "media_distance"),
        ({"media_distance": 2.5}, "media_distance"),
        ({"min_shingles": 0}, "min_shingles"),
        ({"min_text_length": -1}, "min_text_length"),
        ({"text_rule": "fancy"}, "text_rule"),
        ({"partition_memory": "0"}, "partition_memory"),
        ({"partition_memory": "8GB"}, "partition_memory"),
        ({"windows": {"co_nope": 5}}, "windows"),
    ],
)
def test_bad_options_are_named(options: dict[str, Any], name: str) -> None:
    with pytest.raises(ParameterError, match=f"^{name}"):
        cs.audit(_fixture(), **options)
    if name != "windows":
        with pytest.raises(ParameterError, match=f"^{name}"):
            cs.detect(_fixture(), signals="co_share", window=60, **options)


def test_partition_memory_sets_the_task_size() -> None:
    assert Budget.of("64MB", 2, "1MB").task == 2**20
    assert Budget.of(Budget(workers=3), None, 4096).task == 4096
    assert Budget.of("64MB", 2).task is None
    result = cs.audit(_fixture(), memory="64MB", partition_memory="1KB")
    assert result.summary["resources"]["partition_memory_bytes"] == 1024


# -- daily state ------------------------------------------------------------------------


def _short_texts() -> pl.DataFrame:
    """Two days; three accounts post the same 8-character text and link together, 6 times a day.

    ``"vote now"`` is shorter than the default least text length (10): no ``co_text``
    action by default, 36 (3 accounts × 6 pushes × 2 days) with ``min_text_length=5``.
    """
    rows = []
    for day in range(2):
        for push in range(6):
            at = DAY0 + dt.timedelta(days=day, hours=push)
            for m in range(3):
                rows.append(
                    {
                        "event_id": f"e{day}-{push}-{m}",
                        "platform": "generic",
                        "actor_id": f"ring{m}",
                        "ts": at + dt.timedelta(seconds=5 * m),
                        "kind": "post",
                        "text": "vote now",
                        "urls": [f"https://news.example/{day}/{push}"],
                        "hashtags": [],
                        "mentions": [],
                        "media": [],
                    }
                )
    return pl.DataFrame(rows).select(
        pl.col(c).cast(t) if c in rows[0] else pl.lit(None, dtype=t).alias(c)
        for c, t in EVENT_SCHEMA.items()
    )


def test_a_state_does_not_reuse_actions_made_with_other_options(tmp_path: Path) -> None:
    path = tmp_path / "events.parquet"
    _short_texts().write_parquet(path)
    state = tmp_path / "st"
    first = run_state_audit([str(path)], tmp_path / "o1", state=state, horizon=2)
    assert first.summary["state"]["days_counted"] == ["2024-03-01", "2024-03-02"]
    assert first.summary["counts"]["actions"]["co_text"] == 0
    # another least text length: the kept days are made again, and the result is a
    # plain audit's with that option
    second = run_state_audit([], tmp_path / "o2", state=state, horizon=2, min_text_length=5)
    assert second.summary["state"]["days_counted"] == ["2024-03-01", "2024-03-02"]
    assert second.summary["counts"]["actions"]["co_text"] == 36
    plain = run_audit([str(path)], tmp_path / "plain", min_text_length=5)
    assert_frame_equal(second.edges, plain.edges)
    assert_frame_equal(second.coactions, plain.coactions)
    assert "co_text" in set(second.edges["signals"].explode().to_list())
    # the same option again: every day is reused
    third = run_state_audit([], tmp_path / "o3", state=state, horizon=2, min_text_length=5)
    assert third.summary["state"]["days_counted"] == []
    assert_frame_equal(third.edges, plain.edges)


def test_audit_makes_again_the_kept_signals_of_other_options(tmp_path: Path) -> None:
    """``audit(kept=...)`` itself checks the options the kept actions were made with."""
    path = tmp_path / "events.parquet"
    _short_texts().write_parquet(path)
    state = tmp_path / "st"
    run_state_audit([str(path)], tmp_path / "o", state=state, horizon=2)
    with StateStore(state) as store, store.unchanged():
        days = store.pending.horizon(2)
        # default options, as the run kept them
        scratch = WorkDir(tmp_path)  # holds the horizon's co_similar actions until the end
        kept, made = keep_days(store, days, signals=None, budget=Budget(), work=scratch)
        assert made == [] and kept is not None
        assert kept.options["co_text"] == {"text_rule": "default", "min_text_length": 10}
        events = store.scan(days)
        reused = cs.audit(events, kept=kept, min_text_length=5)
        fresh = cs.audit(events, min_text_length=5)
        assert reused.summary["counts"]["actions"]["co_text"] == 36
        # co_link's pairs still come from the kept partials, co_text's are counted
        assert reused.summary["counts"]["significance"]["units_from_kept_partials"] > 0
        assert_frame_equal(reused.edges, fresh.edges)
        assert_frame_equal(reused.coactions, fresh.coactions)
        same = cs.audit(events, kept=kept)
        assert same.summary["counts"]["significance"]["units_from_kept_partials"] > 0
        assert_frame_equal(same.edges, cs.audit(events).edges)
