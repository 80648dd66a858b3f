"""`detect` and `window` end to end: the files they write and what is in them."""

from __future__ import annotations

import json
from pathlib import Path

import polars as pl
import pytest
from typer.testing import CliRunner

from coordscope import read_events
from coordscope.cli import app
from coordscope.compat import detect_coortweet
from coordscope.errors import ParameterError
from coordscope.pipeline import detect
from coordscope.runs import run_detect
from tests.conftest import REFERENCE, requires_reference

runner = CliRunner()
MINI = REFERENCE / "cnt" / "mini_all.csv"
RUSSIAN = REFERENCE / "coortweet" / "russian_coord_tweets.csv.gz"
OUTPUTS = [
    "events.parquet",
    "coactions.parquet",
    "edges.parquet",
    "edges.csv",
    "nodes.csv",
    "summary.json",
]


@requires_reference
def test_detect_native_writes_every_file(tmp_path: Path) -> None:
    out = tmp_path / "run"
    result = runner.invoke(
        app,
        [
            "detect",
            str(MINI),
            "-s",
            "co_share",
            "-s",
            "co_link",
            "-w",
            "60",
            "-o",
            str(out),
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    for name in OUTPUTS:
        assert (out / name).exists(), name
    # mini_all.csv has 19 data rows, all valid and distinct
    assert summary["rows"] == {"input": 19, "accepted": 19, "rejected": 0, "duplicates": 0}
    assert summary["parameters"]["signals"] == ["co_share", "co_link"]
    edges = pl.read_parquet(out / "edges.parquet").sort("actor_a", "actor_b")
    # co_share: u14-u15 on rt1 (60 s) and rt2 (0 s); u14-u16 61 s apart: no; u15-u16 on rt1 (1 s)
    # co_link: u7-u8 on a.example/x (10 s), u8-u9 on b.example/y (5 s)
    assert edges.select("actor_a", "actor_b", "n_keys", "min_dt").rows() == [
        ("u14", "u15", 2, 0.0),
        ("u15", "u16", 1, 1.0),
        ("u7", "u8", 1, 10.0),
        ("u8", "u9", 1, 5.0),
    ]
    evidence = pl.read_parquet(out / "coactions.parquet")
    # one co-action per (pair, key) behind the edges above: 2 (u14-u15) + 1 + 1 + 1
    assert evidence.height == 5
    assert set(evidence["signal"]) == {"co_share", "co_link"}
    nodes = pl.read_csv(out / "nodes.csv")
    assert nodes.filter(pl.col("actor_id") == "u15")["degree"].item() == 2  # u14 and u16
    on_disk = json.loads((out / "summary.json").read_text())
    assert on_disk["counts"]["edges"] == 4 and on_disk["version"]  # the four edges above


@requires_reference
def test_detect_is_deterministic(tmp_path: Path) -> None:
    for name in ("a", "b"):
        result = runner.invoke(
            app, ["detect", str(MINI), "-s", "co_post", "-w", "60", "-o", str(tmp_path / name)]
        )
        assert result.exit_code == 0, result.output
    for name in OUTPUTS[:-1]:
        assert (tmp_path / "a" / name).read_bytes() == (tmp_path / "b" / name).read_bytes(), name


@requires_reference
@pytest.mark.reference
def test_detect_coortweet_mode_matches_reference_edges(tmp_path: Path) -> None:
    out = tmp_path / "ct"
    result = runner.invoke(
        app,
        ["detect", str(RUSSIAN), "-s", "co_share", "-w", "10", "--mode", "coortweet",
         "--min-participation", "2", "-o", str(out), "--json"],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    got = pl.read_csv(out / "edges.csv", infer_schema_length=None)
    expected = pl.read_csv(
        REFERENCE / "coortweet" / "expected" / "russian_tw10_mp2_edges.csv",
        infer_schema_length=None,
    )
    assert got.columns == expected.columns
    assert got.height == expected.height  # CooRTweet's 442 edges (reference README)
    assert (
        got.sort("from", "to")
        .select("from", "to", "weight")
        .equals(expected.sort("from", "to").select("from", "to", "weight"))
    )
    # CooRTweet's result table for the same run: 447 coordinated share pairs
    pairs = pl.read_csv(REFERENCE / "coortweet" / "expected" / "russian_tw10_mp2_result.csv")
    assert pl.read_parquet(out / "coactions.parquet").height == pairs.height


@requires_reference
def test_window_command(tmp_path: Path) -> None:
    result = runner.invoke(app, ["window", str(MINI), "-s", "co_link", "--json"])
    assert result.exit_code == 0, result.output
    est = json.loads(result.stdout)
    # keys shared twice: a.example/x (0, 10 s) and b.example/y (20, 25 s): cutoff 5.5, quick b/y
    assert est["keys_shared_twice"] == 2
    assert est["window"] == 5.0
    human = runner.invoke(app, ["window", str(MINI), "-s", "co_link"])
    assert "estimated window: 5 s" in human.output


def test_detect_parameter_errors_name_the_python_parameter(tmp_path: Path) -> None:
    posts = Path(__file__).parent / "fixtures" / "generic" / "posts.csv"
    events = read_events(posts)
    with pytest.raises(ParameterError, match=r"^signals: unknown signal 'co_nothing'"):
        detect(events, signals=["co_nothing"], window=60)
    with pytest.raises(ParameterError, match=r"^mode must be one of"):
        run_detect([str(posts)], tmp_path, signals=["co_share"], window=60, mode="fast")
    with pytest.raises(ParameterError, match=r"^window must be a finite number of seconds"):
        detect(events, signals="co_share", window=-5)
    with pytest.raises(ParameterError, match=r"^min_edge_weight must be >= 1"):
        detect(events, signals="co_share", window=5, min_edge_weight=0)
    with pytest.raises(ParameterError, match=r"^edge_weight must be a quantile"):
        detect_coortweet(events, signals="co_share", window=5, edge_weight=2)


@requires_reference
@pytest.mark.reference
def test_detect_cnt_mode_matches_toolkit_table(tmp_path: Path) -> None:
    out = tmp_path / "cnt"
    result = runner.invoke(
        app, ["detect", str(MINI), "-s", "co_share", "-w", "60", "--mode", "cnt", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    expected = json.loads((REFERENCE / "cnt" / "mini_all.expected_head.json").read_text())
    table = expected["co_retweet|window=60|min_w=1"]
    got = pl.read_csv(out / "edges.csv")
    assert sorted(got.select("user_1", "user_2", "weight").rows()) == sorted(map(tuple, table))
