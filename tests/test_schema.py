"""The canonical schema and its validator name the column at fault."""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import pytest

from coordscope.errors import SchemaError
from coordscope.schema import EVENT_SCHEMA, empty_events, validate_events


def _one() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "event_id": ["e1"],
            "platform": ["twitter"],
            "actor_id": ["a1"],
            "actor_name": [None],
            "ts": [datetime(2024, 3, 1, tzinfo=UTC)],
            "kind": ["post"],
            "object_id": [None],
            "text": ["hi"],
            "urls": [["https://example.com"]],
            "hashtags": [[]],
            "mentions": [[]],
            "media": [[]],
            "channel": [None],
            "actor_created": [None],
        },
        schema=EVENT_SCHEMA,
    )


def test_valid_table_and_empty_table_pass() -> None:
    assert validate_events(_one()).height == 1
    assert validate_events(empty_events()).height == 0


def test_missing_column_named() -> None:
    with pytest.raises(SchemaError, match="column 'media' is missing"):
        validate_events(_one().drop("media"))


def test_wrong_type_named() -> None:
    bad = _one().with_columns(pl.col("ts").dt.replace_time_zone(None))
    with pytest.raises(SchemaError, match="column 'ts' has type"):
        validate_events(bad)


def test_extra_columns_must_be_prefixed() -> None:
    assert validate_events(_one().with_columns(pl.lit(1).alias("x_lang"))).width == 15
    with pytest.raises(SchemaError, match="column 'lang' is not canonical"):
        validate_events(_one().with_columns(pl.lit(1).alias("lang")))


def test_nulls_and_empty_keys_named() -> None:
    with pytest.raises(SchemaError, match="column 'actor_id' has 1 null"):
        validate_events(_one().with_columns(pl.lit(None, dtype=pl.String).alias("actor_id")))
    with pytest.raises(SchemaError, match="column 'urls' has 1 row"):
        validate_events(_one().with_columns(pl.lit([""], dtype=pl.List(pl.String)).alias("urls")))
