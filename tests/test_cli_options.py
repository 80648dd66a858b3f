"""The signals' options and partition sizing on the command line (audit and detect).

``tests/fixtures/options/events.csv`` holds four pairs of posts by eight accounts, each
pair just outside what the default options find, on 2024-03-01:

========  ==========  ==================================================================
accounts  events      what sets them apart
========  ==========  ==================================================================
a1, a2    h1, h2      both tag ``#alpha``, 300 s apart: outside W = 60 s, inside 600 s.
                      Their texts ("first/second take on the vote") are near duplicates
                      at Jaccard 4/6 = 0.67, but 300 s apart: no co_similar pair at 60 s.
a3, a4    s1, s2      texts at Jaccard 7/11 = 0.64 (9 distinct words each, 7 shared),
                      10 s apart: a pair from ``--similarity`` 0.63 down, not at 0.64.
a5, a6    m1, m2      perceptual hashes ``…cdef`` and ``…cd10``: 8 bits apart, 20 s
                      apart: a pair from ``--media-distance 8`` up, not at 6 or 7.
a7, a8    t1, t2      "Short one" and "short ONE", 5 s apart: "short one" (9 characters)
                      under the default rule, shorter than the default least length 10:
                      a pair with ``--min-text-length 5`` (or 9), none with
                      ``--text-rule exact`` (the two texts differ).
========  ==========  ==================================================================
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from typer.testing import CliRunner

import coordscope as cs
from coordscope.cli import app
from tests.conftest import FIXTURES, output_folder, run_cli

EVENTS = FIXTURES / "options" / "events.csv"
SIGNALS = "co_hashtag,co_similar,co_media,co_text"
runner = CliRunner()

Pair = tuple[str, str, list[str]]


def _pairs(folder: Path) -> list[Pair]:
    """The account pairs of an output folder's edges, with their signals, sorted."""
    edges = pl.read_parquet(folder / "edges.parquet").sort("actor_a", "actor_b")
    return [tuple(row) for row in edges.select("actor_a", "actor_b", "signals").iter_rows()]  # type: ignore[misc]


def _invoke(*args: str) -> dict[str, Any]:
    """Run a command in this process with ``--json``; return its summary."""
    result = runner.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    summary: dict[str, Any] = json.loads(result.stdout)
    return summary


SIMILAR: Pair = ("a3", "a4", ["co_similar"])
MEDIA: Pair = ("a5", "a6", ["co_media"])
TEXT: Pair = ("a7", "a8", ["co_text"])
HASHTAG: Pair = ("a1", "a2", ["co_hashtag"])


@pytest.mark.parametrize(
    ("options", "expected"),
    [
        ([], []),
        (["--similarity", "0.5"], [SIMILAR]),
        (["--similarity", "0.63"], [SIMILAR]),  # 7/11 = 0.636… is at least 0.63
        (["--similarity", "0.64"], []),  # and less than 0.64
        (["--similarity", "0.5", "--min-shingles", "10"], []),  # 9 distinct words each
        (["--media-distance", "8"], [MEDIA]),
        (["--media-distance", "7"], []),
        (["--min-text-length", "9"], [TEXT]),
        (["--min-text-length", "10"], []),
        (["--min-text-length", "5", "--text-rule", "exact"], []),
        (["--min-text-length", "5", "--text-rule", "toolkit"], [TEXT]),  # case folded too
    ],
)
def test_detect_options_find_the_pair_they_should(
    tmp_path: Path, options: list[str], expected: list[Pair]
) -> None:
    summary = _invoke("detect", str(EVENTS), "-s", SIGNALS, "-o", str(tmp_path), *options)
    assert _pairs(tmp_path) == expected
    parameters = summary["parameters"]
    given = dict(zip(options[::2], options[1::2], strict=True))
    assert parameters["similarity"] == float(given.get("--similarity", 0.8))
    assert parameters["media_distance"] == int(given.get("--media-distance", 6))
    assert parameters["min_text_length"] == int(given.get("--min-text-length", 10))
    assert parameters["min_shingles"] == int(given.get("--min-shingles", 5))
    assert parameters["text_rule"] == given.get("--text-rule", "default")
    assert parameters["similar_method"] == (
        "exact" if float(given.get("--similarity", 0.8)) < 0.8 else "minhash"
    )


def test_audit_signal_window_and_signal_options(tmp_path: Path) -> None:
    base = _invoke("audit", str(EVENTS), "-s", SIGNALS, "-o", str(tmp_path / "base"))
    assert _pairs(tmp_path / "base") == []
    assert base["parameters"]["windows_s"] == {}
    # the hashtag pair, 300 s apart, with a window of 600 s for co_hashtag only
    wide = _invoke(
        "audit", str(EVENTS), "-s", SIGNALS, "-o", str(tmp_path / "wide"),
        "--signal-window", "co_hashtag=600",
    )  # fmt: skip
    assert _pairs(tmp_path / "wide") == [HASHTAG]
    assert wide["parameters"]["windows_s"] == {"co_hashtag": 600.0}
    assert wide["counts"]["significance"]["windows"]["co_hashtag"] == 600.0
    # every option at once: each pair, and no co_similar pair for h1, h2 (co_similar
    # keeps W = 60 s)
    every = _invoke(
        "audit", str(EVENTS), "-s", SIGNALS, "-o", str(tmp_path / "every"),
        "--signal-window", "co_hashtag=600,co_text=30", "--similarity", "0.5",
        "--media-distance", "8", "--min-text-length", "5",
    )  # fmt: skip
    assert _pairs(tmp_path / "every") == [HASHTAG, SIMILAR, MEDIA, TEXT]
    parameters = every["parameters"]
    assert parameters["windows_s"] == {"co_hashtag": 600.0, "co_text": 30.0}
    assert (parameters["similarity"], parameters["similar_method"]) == (0.5, "exact")
    assert (parameters["media_distance"], parameters["min_text_length"]) == (8, 5)
    # actions: co_text 5 texts of 10 characters or more, 8 of 5 or more ("a picture",
    # "Short one", "short ONE" too); co_similar h1, h2, s1, s2 at 0.5
    assert base["counts"]["actions"]["co_text"] == 5
    assert every["counts"]["actions"] == {
        "co_hashtag": 2, "co_similar": 4, "co_media": 2, "co_text": 8,
    }  # fmt: skip


@pytest.mark.parametrize(
    ("similarity", "expected"),
    [
        # the toolkit folds case and takes messages of one token or more: a7, a8's
        # "short one" twice (Jaccard 1) at any threshold; a3, a4 from 7/11 down
        (None, ["a7-a8", "a8-a7"]),
        ("0.6", ["a3-a4", "a4-a3", "a7-a8", "a8-a7"]),
    ],
)
def test_cnt_mode_takes_the_toolkits_similarity_threshold(
    tmp_path: Path, similarity: str | None, expected: list[str]
) -> None:
    options = [] if similarity is None else ["--similarity", similarity]
    summary = _invoke(
        "detect", str(EVENTS), "-s", "co_similar", "--mode", "cnt", "-o", str(tmp_path), *options
    )
    edges = pl.read_parquet(tmp_path / "edges.parquet")
    assert [f"{a}-{b}" for a, b, _ in edges.rows()] == expected
    assert summary["parameters"]["similarity"] == float(similarity or 0.8)


@pytest.fixture(scope="module")
def mixed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    events, _ = cs.simulate("mixed", seed=5, size="tiny")
    path = tmp_path_factory.mktemp("mixed") / "events.parquet"
    events.write_parquet(path)
    return path


def test_partition_memory_changes_no_output(mixed: Path, tmp_path: Path) -> None:
    _invoke("audit", str(mixed), "-o", str(tmp_path / "default"))
    small = _invoke(
        "audit", str(mixed), "-o", str(tmp_path / "small"),
        "--memory", "64MB", "--partition-memory", "2KB", "--workers", "2",
    )  # fmt: skip
    assert small["resources"]["partition_memory_bytes"] == 2048
    assert output_folder(tmp_path / "small") == output_folder(tmp_path / "default")
    for name, options in (("d-default", []), ("d-small", ["--partition-memory", "1MB"])):
        summary = _invoke(
            "detect", str(mixed), "-s", "co_share,co_link", "-o", str(tmp_path / name), *options
        )
    assert summary["resources"]["partition_memory_bytes"] == 2**20
    assert output_folder(tmp_path / "d-small") == output_folder(tmp_path / "d-default")


BAD = [
    (["audit", "--signal-window", "co_nope=5"], "--signal-window: unknown signal 'co_nope'"),
    (["audit", "--signal-window", "co_hashtag"], "--signal-window must be SIGNAL=SECONDS"),
    (["audit", "--signal-window", "co_hashtag=soon"], "--signal-window co_hashtag must be a"),
    (
        ["audit", "--signal-window", "co_hashtag=inf"],
        "--signal-window co_hashtag must be a finite number of seconds",
    ),
    (["audit", "--signal-window", "co_hashtag=-1"], "--signal-window co_hashtag must be"),
    (["audit", "--signal-window", "co_link=5,co_link=6"], "--signal-window: co_link is given"),
    (
        ["audit", "--signal-window", "co_media=5"],  # not among the default signals
        "--signal-window: co_media is not an audited signal",
    ),
    (["audit", "--similarity", "0"], "--similarity must be a Jaccard index in (0, 1]"),
    (["audit", "--similarity", "1.5"], "--similarity must be a Jaccard index in (0, 1]"),
    (["audit", "--media-distance", "33"], "--media-distance must be an integer between 0 and 32"),
    (["audit", "--media-distance", "-1"], "--media-distance must be an integer between 0 and 32"),
    (["audit", "--min-text-length", "-1"], "--min-text-length must be an integer >= 0"),
    (["audit", "--min-shingles", "0"], "--min-shingles must be an integer >= 1"),
    (["audit", "--text-rule", "fancy"], "--text-rule must be one of default, toolkit, exact"),
    (["audit", "--partition-memory", "0"], "--partition-memory must be a positive size"),
    (["audit", "--partition-memory", "lots"], "--partition-memory must be a size such as 4GB"),
    (["audit", "--partition-memory", "8GB"], "--partition-memory must be at most the memory"),
    (["detect", "-s", "co_media", "--media-distance", "40"], "--media-distance must be"),
    (
        ["detect", "-s", "co_similar", "--mode", "coortweet", "--similarity", "0.5"],
        "--similarity: not used in coortweet mode (only in native and cnt mode)",
    ),
    (
        ["detect", "-s", "co_share", "--mode", "cnt", "--partition-memory", "1MB"],
        "--partition-memory: not used in cnt mode (only in native mode)",
    ),
    (
        ["detect", "-s", "co_text", "--mode", "cnt", "--text-rule", "exact"],
        "--text-rule: not used in cnt mode (only in native mode)",
    ),
]


@pytest.mark.parametrize(("args", "message"), BAD, ids=[" ".join(a) for a, _ in BAD])
def test_bad_values_are_usage_errors_told_before_the_input_is_read(
    tmp_path: Path, args: list[str], message: str
) -> None:
    command, *rest = args
    out = tmp_path / "out"
    done = run_cli(command, str(EVENTS), "-o", str(out), *rest)
    assert done.returncode == 2, done.stderr
    assert done.stderr.count("\n") == 1 and done.stderr.startswith("error: "), done.stderr
    assert message in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert not out.exists()  # refused before the output folder was claimed


@pytest.mark.parametrize("command", ["audit", "detect"])
def test_help_lists_the_options_and_their_ranges(command: str) -> None:
    shown = runner.invoke(app, [command, "--help"], env={"COLUMNS": "400"}).output
    text = " ".join(shown.split())
    for option in ("--similarity", "--min-shingles", "--media-distance", "--partition-memory"):
        assert option in text
    assert "(0, 1]" in text and "0-32 bits" in text and "at most --memory" in text
    assert "--text-rule" in text and "default" in text and "toolkit" in text
    assert ("--signal-window" in text) == (command == "audit")
