"""Pseudonymisation leaks nothing: every format, every output file, every field.

The raw ids and handles are collected from the *input files* by this module's own
reading (JSON walked, CSV cells read, its own patterns for ``@handles`` and account
links), never through the readers under test, then searched for in every file of the
output folder: Parquet (every string and list-of-string cell), CSV, JSON, GraphML, GEXF
and the HTML report (entities and JSON escapes undone).
"""

from __future__ import annotations

import csv
import datetime as dt
import html
import json
import re
import subprocess
import unicodedata
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coordscope.cli import _EXPORT_NAMES
from coordscope.datasets.formats import FORMATS
from coordscope.datasets.pseudonym import (
    KEY_ENV,
    pseudonym,
    pseudonymize_events,
    resolve_key,
)
from coordscope.errors import InputError, ParameterError
from coordscope.pipeline import audit
from coordscope.runs import run_audit
from coordscope.schema import EVENT_SCHEMA
from tests.conftest import FIXTURES, expected_event, run_cli

KEY = "correct horse battery staple"
SIGNALS = ["co_share", "co_link", "co_hashtag", "co_mention", "co_text", "co_post"]
BASE = dt.datetime(2024, 3, 1, 12, tzinfo=dt.UTC)

#: Planted accounts: Telegram-style ids, handles with hyphens, dots, upper-case
#: non-ASCII and underscores.
ACCOUNTS = [
    ("channel5550001", "Mary-Jones"),
    ("user5550002", "john.smith"),
    ("user5550003", "ÉMILE"),
    ("user5550004", "Zorglub_Qx"),
    ("channel5550005", "kappa.lambda"),
]
#: Shared objects: forwards from a channel, a user, a named author; a message id.
OBJECTS = ["channel5550009", "user5550008", "name:Author Xyzzy", "5550007:42"]
TEXT = (
    "RT @Mary-Jones: watch t.me/s/ZorglubChan and https://x.com/john.smith/status/77 "
    "＠ＦｕｌｌＷｉｄｔｈＱ @ÉMILE cc @kappa.lambda. round {r}"
)
URLS = [
    "https://t.me/zorglubchan/12",
    "https://mobile.twitter.com/Kappa_Lambda/status/5",
    "https://www.instagram.com/insta.handle99/",
    "https://www.facebook.com/fbpage.handle77/posts/1",
]
#: The file each format's export is written to (the CLI's names; JSON lines for generic,
#: whose planted data needs lists).
FILE_NAMES = {**_EXPORT_NAMES, "generic": "events.jsonl"}
FIXTURE_DIRS = {
    "generic": "generic",
    "coortweet": "coortweet",
    "cnt": "cnt",
    "twitter-v1": "twitter_v1",
    "twitter-v2": "twitter_v2",
    "twitter-io": "twitter_io",
    "telegram": "telegram",
    "crowdtangle": "crowdtangle",
}


def planted_events() -> pl.DataFrame:
    """Five accounts forwarding four objects within seconds, with hostile handles."""
    rows = []
    for r, obj in enumerate(OBJECTS):
        for i, (actor, name) in enumerate(ACCOUNTS):
            rows.append(
                {
                    "event_id": f"5550100:{100 + 10 * r + i}",
                    "platform": "telegram",
                    "actor_id": actor,
                    "actor_name": name,
                    "ts": BASE + dt.timedelta(seconds=600 * r + 4 * i),
                    "kind": "repost",
                    "object_id": obj,
                    "text": TEXT.format(r=r),
                    "urls": URLS,
                    "hashtags": ["campaign"],
                    "mentions": ["mary-jones", "john.smith"],
                    "media": [],
                    "channel": "5550100",
                    "actor_created": None,
                }
            )
    return pl.DataFrame(rows, schema=EVENT_SCHEMA)


# ----------------------------------------------------------------------------- collecting

#: Fields that name an account, in any input format (JSON keys, CSV columns).
ACCOUNT_FIELDS = {
    "from_id", "from", "forwarded_from_id", "forwarded_from", "actor", "actor_id",
    "reply_to_peer_id", "user_id", "screen_name", "username", "author_id",
    "in_reply_to_user_id", "in_reply_to_user_id_str", "in_reply_to_screen_name", "userid",
    "user_screen_name", "user_display_name", "in_reply_to_userid", "retweet_userid",
    "user_mentions", "account_id", "Facebook Id", "User Name", "Page Name", "Group Name",
    "Account", "actor_name", "mentions", "channel",
}  # fmt: skip
#: JSON objects whose ``id``/``id_str``/``name`` name an account.
ACCOUNT_OBJECTS = {"user", "author", "users", "mentions", "user_mentions"}
#: This test's own patterns (not the module's): an at sign after a non-word character,
#: and the account segment of links to the platforms.
AT_HANDLE = re.compile(r"(?:^|(?<=\W))[@\uFF20\uFE6B](\w[\w.\-]*)")
ACCOUNT_LINK = re.compile(
    r"(?i)(?<![\w.])(?:(?:www|mobile|m)\.)?"
    r"(?:twitter\.com|x\.com|t\.me|telegram\.me|instagram\.com|facebook\.com)/"
    r"(?:s/|c/|joinchat/|groups/|stories/)?([^/?#\s\"',)\]]+)"
)
PLATFORM_PAGES = {"i", "p", "search", "hashtag", "intent", "share", "home", "explore", "reel"}


def _in_text(value: str) -> Iterator[str]:
    for m in AT_HANDLE.finditer(value):
        yield m.group(1).rstrip(".-")
    for m in ACCOUNT_LINK.finditer(value):
        if m.group(1).lower() not in PLATFORM_PAGES:
            yield m.group(1).rstrip(".-")


def _walk(obj: Any, parent: str, out: set[str]) -> None:
    if isinstance(obj, dict):
        for k, v in obj.items():
            scalar = isinstance(v, (str, int)) and not isinstance(v, bool)
            if scalar and (
                k in ACCOUNT_FIELDS
                or (k in {"id", "id_str", "name"} and parent in ACCOUNT_OBJECTS)
                or (k == "id" and "messages" in obj)  # a Telegram chat
            ):
                out.add(str(v))
            _walk(v, k, out)
    elif isinstance(obj, list):
        for v in obj:
            _walk(v, parent, out)
    elif isinstance(obj, str):
        out.update(_in_text(obj))


def raw_names(path: Path) -> set[str]:
    """Every account id, handle and name in an input file, read without coordscope."""
    out: set[str] = set()
    text = path.read_text(encoding="utf-8-sig")
    if path.suffix == ".json":
        _walk(json.loads(text), "", out)
    elif path.suffix in (".jsonl", ".ndjson"):
        for line in text.splitlines():
            if line.strip():
                try:
                    _walk(json.loads(line), "", out)
                except ValueError:
                    out.update(_in_text(line))
    else:
        delimiter = "\t" if path.suffix == ".tsv" else ","
        for row in csv.DictReader(text.splitlines(), delimiter=delimiter):
            for column, cell in row.items():
                if not cell:
                    continue
                if column in ACCOUNT_FIELDS:
                    if cell.startswith("["):  # a bracketed list of ids
                        out.update(t for t in re.split(r"[\s,\[\]'\"@]+", cell) if t)
                    else:
                        out.add(cell.strip())
                out.update(_in_text(cell))
    return {v for v in (s.strip() for s in out) if v}


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def searched(values: set[str]) -> set[str]:
    """What must not appear: each value, and each part of it between dots and hyphens.

    ``@u_…-Jones`` and ``@u_….smith`` leak half a handle. Values and parts shorter than
    four characters are left out: they occur in any text by chance.
    """
    out: set[str] = set()
    for value in values:
        folded = _fold(value).lstrip("@")
        out.add(folded)
        if not re.search(r"\s", folded):  # a handle, not a display name
            out.update(re.split(r"[.\-:]+", folded))
    return {v for v in out if len(v) >= 4}


def output_texts(folder: Path) -> dict[str, str]:
    """The text of every file of an output folder, decoded for searching."""
    texts: dict[str, str] = {}
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        if path.suffix == ".parquet":
            frame = pl.read_parquet(path)
            parts: list[str] = []
            for column in frame.columns:
                series = frame[column]
                while isinstance(series.dtype, pl.List):
                    series = series.explode()
                if series.dtype in (pl.String, pl.Categorical) or isinstance(series.dtype, pl.Enum):
                    parts.extend(series.cast(pl.String).drop_nulls().to_list())
            text = "\n".join(parts)
        else:
            text = path.read_bytes().decode("utf-8", errors="replace")
            text = html.unescape(text)
            text = re.sub(r"\\u([0-9a-fA-F]{4})", lambda m: chr(int(m.group(1), 16)), text)
        texts[str(path.relative_to(folder))] = _fold(text)
    return texts


def leaks(values: set[str], folder: Path) -> dict[str, list[str]]:
    """For each output file, the searched values found in it as whole words.

    A word followed by a dot and more of a name is part of that name (``pyweekly`` of the
    domain ``pyweekly.example.net`` is not the handle ``@PyWeekly``).
    """
    found: dict[str, list[str]] = {}
    for name, text in output_texts(folder).items():
        hits = sorted(
            v
            for v in searched(values)
            if re.search(r"(?<!\w)" + re.escape(v) + r"(?!\w|\.\w)", text)
        )
        if hits:
            found[name] = hits
    return found


def _write_planted(fmt: str, folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / FILE_NAMES[fmt]
    next(f for f in FORMATS if f.name == fmt).write(planted_events(), str(path))
    return path


# ----------------------------------------------------------------------------- every format


@pytest.mark.parametrize("fmt", [f.name for f in FORMATS])
def test_no_raw_id_or_handle_in_any_output_planted(fmt: str, tmp_path: Path) -> None:
    source = _write_planted(fmt, tmp_path / "in")
    values = raw_names(source)
    assert "channel5550001" in values  # the collector sees the plants
    out = tmp_path / "out"
    run_audit([str(source)], out, format=fmt, signals=SIGNALS, pseudonymize=KEY)
    assert {"report.html", "graph.graphml", "graph.gexf", "nodes.csv"} <= {
        p.name for p in out.iterdir()
    }
    assert leaks(values, out) == {}


@pytest.mark.parametrize("fmt", [f.name for f in FORMATS])
def test_no_raw_id_or_handle_in_any_output_fixtures(fmt: str, tmp_path: Path) -> None:
    sources = sorted((FIXTURES / FIXTURE_DIRS[fmt]).iterdir())
    for source in sources:
        if fmt == "generic" and source.name == "mapped.tsv":
            continue  # needs a --map
        out = tmp_path / source.stem
        run_audit([str(source)], out, format=fmt, signals=SIGNALS, pseudonymize=KEY)
        assert leaks(raw_names(source), out) == {}, source.name


def test_the_search_finds_what_a_run_without_key_leaves(tmp_path: Path) -> None:
    source = _write_planted("telegram", tmp_path / "in")
    out = tmp_path / "out"
    run_audit([str(source)], out, signals=SIGNALS)
    found = leaks(raw_names(source), out)
    assert "channel5550001" in found["events.parquet"]
    assert "émile" in found["nodes.csv"]


def _cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return run_cli(*args, env=env, unset=[KEY_ENV])


def test_cli_key_file_pseudonymises_a_telegram_export(tmp_path: Path) -> None:
    source = _write_planted("telegram", tmp_path / "in")
    key_file = tmp_path / "key"
    key_file.write_text(f"  {KEY}  \nsecond line ignored\n")
    out = tmp_path / "out"
    done = _cli("audit", str(source), "-o", str(out), "--pseudonymize-key-file", str(key_file))
    assert done.returncode == 0, done.stderr
    assert "warning" not in done.stderr
    assert leaks(raw_names(source), out) == {}
    nodes = pl.read_csv(out / "nodes.csv")
    assert pseudonym("channel5550001", KEY) in nodes["actor_id"].to_list()
    # the environment variable gives the same pseudonyms
    again = tmp_path / "again"
    done = _cli("audit", str(source), "-o", str(again), env={KEY_ENV: KEY})
    assert done.returncode == 0, done.stderr
    assert (again / "nodes.csv").read_bytes() == (out / "nodes.csv").read_bytes()


def test_cli_key_on_the_command_line_warns(tmp_path: Path) -> None:
    source = _write_planted("generic", tmp_path / "in")
    done = _cli("audit", str(source), "-o", str(tmp_path / "out"), "--pseudonymize", KEY)
    assert done.returncode == 0, done.stderr
    warning = [line for line in done.stderr.splitlines() if line.startswith("warning")]
    assert len(warning) == 1
    assert "ps" in warning[0] and "--pseudonymize-key-file" in warning[0]
    assert KEY not in done.stderr + done.stdout


@pytest.mark.parametrize(
    ("args", "env", "message", "status"),
    [  # 2: the options are wrong; 1: the key file (an input) is
        (["--pseudonymize", "k", "--pseudonymize-key-file", "KEYFILE"], {}, "one source", 2),
        (["--pseudonymize-key-file", "KEYFILE"], {KEY_ENV: "k"}, "one source", 2),
        (["--pseudonymize", "k"], {KEY_ENV: "k"}, "one source", 2),
        (["--pseudonymize-key-file", "EMPTY"], {}, "first line of the pseudonymisation key", 1),
        (["--pseudonymize-key-file", "MISSING"], {}, "cannot read the pseudonymisation key", 1),
        (["--pseudonymize-key-file", "BINARY"], {}, "not UTF-8", 1),
        ([], {KEY_ENV: "  "}, f"{KEY_ENV} is set but empty", 2),
        (["--pseudonymize", ""], {}, "must not be empty", 2),
    ],
)
def test_cli_key_errors_are_one_line(
    args: list[str], env: dict[str, str], message: str, status: int, tmp_path: Path
) -> None:
    files = {
        "KEYFILE": "k\n",
        "EMPTY": "\n\nk\n",
    }
    paths = {name: tmp_path / name.lower() for name in ("KEYFILE", "EMPTY", "MISSING", "BINARY")}
    for name, content in files.items():
        paths[name].write_text(content)
    paths["BINARY"].write_bytes(b"\xff\xfe key\n")
    argv = [str(paths[a]) if a in paths else a for a in args]
    out = tmp_path / "out"
    done = _cli("audit", str(FIXTURES / "generic" / "posts.csv"), "-o", str(out), *argv, env=env)
    assert done.returncode == status
    lines = [line for line in done.stderr.splitlines() if line.startswith("error")]
    assert len(lines) == 1, done.stderr
    assert message in lines[0]
    assert "Traceback" not in done.stderr
    assert not (out / "summary.json").exists()  # refused before any work


def test_resolve_key_sources(tmp_path: Path) -> None:
    key_file = tmp_path / "key"
    key_file.write_text("\tfrom file \r\n")
    assert resolve_key(None, None, {}) is None
    assert resolve_key("given", None, {}) == "given"
    assert resolve_key(None, key_file, {}) == "from file"
    assert resolve_key(None, None, {KEY_ENV: " from env\n"}) == "from env"
    with pytest.raises(ParameterError, match="one source"):
        resolve_key(None, key_file, {KEY_ENV: "x"})
    with pytest.raises(InputError, match="cannot read"):
        resolve_key(None, tmp_path / "nope", {})
    with pytest.raises(InputError, match="cannot read"):
        resolve_key(None, tmp_path, {})  # a folder


# ----------------------------------------------------------------------------- rewriting


def _one(**fields: Any) -> pl.DataFrame:
    values = {"event_id": "e1", "platform": "generic", "actor_id": "a1", "ts": BASE, **fields}
    return pl.DataFrame([expected_event(**values)], schema=EVENT_SCHEMA)


def P(value: str) -> str:  # noqa: N802 - reads as the function of the docs
    return pseudonym(value, KEY)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("hi @Mary-Jones!", f"hi @{P('mary-jones')}!"),
        ("@john.smith.", f"@{P('john.smith')}."),
        ("cc @ÉMILE and @émile", f"cc @{P('émile')} and @{P('émile')}"),
        ("＠ＦｕｌｌＷｉｄｔｈ", f"@{P('fullwidth')}"),
        ("﹫small", f"@{P('small')}"),
        ("RT @Иван_Петров: текст", f"RT @{P('иван_петров')}: текст"),
        ("(@a_b-c.d)", f"(@{P('a_b-c.d')})"),
        ("@@double", f"@@{P('double')}"),
        ("@ab @abc", f"@{P('ab')} @{P('abc')}"),
        ("youtube.com/@Chan", f"youtube.com/@{P('chan')}"),
        ("@user@mastodon.social", f"@{P('user')}@mastodon.social"),
        ("mail bob@example.com", "mail bob@example.com"),
        ("photos/photo_1@01-03-2022_15-00-00.jpg", "photos/photo_1@01-03-2022_15-00-00.jpg"),
        ("no handle @ here", "no handle @ here"),
    ],
)
def test_handles_in_text(text: str, expected: str) -> None:
    out = pseudonymize_events(_one(text=text), KEY)
    assert out["text"][0] == expected


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("t.me/NAME", f"t.me/{P('name')}"),
        ("https://t.me/s/Chan_Name/5", f"https://t.me/s/{P('chan_name')}/5"),
        ("https://t.me/c/1234567/89", f"https://t.me/c/{P('1234567')}/89"),
        ("https://t.me/joinchat/AbCdEf", f"https://t.me/joinchat/{P('abcdef')}"),
        ("https://t.me/+AbCdEf", f"https://t.me/{P('+abcdef')}"),
        ("telegram.me/foo", f"telegram.me/{P('foo')}"),
        ("https://x.com/Foo/status/12", f"https://x.com/{P('foo')}/status/12"),
        ("http://www.twitter.com/foo_bar", f"http://www.twitter.com/{P('foo_bar')}"),
        ("https://mobile.twitter.com/Foo", f"https://mobile.twitter.com/{P('foo')}"),
        ("https://x.com/i/web/status/12", "https://x.com/i/web/status/12"),
        ("https://x.com/search?q=a", "https://x.com/search?q=a"),
        ("https://netflix.com/title", "https://netflix.com/title"),
        ("https://www.instagram.com/insta.handle/", f"https://www.instagram.com/{P('insta.handle')}/"),
        ("https://instagram.com/p/CMZr1abc/", "https://instagram.com/p/CMZr1abc/"),
        ("https://instagram.com/stories/someone/1", f"https://instagram.com/stories/{P('someone')}/1"),
        ("https://www.facebook.com/page.name/posts/1", f"https://www.facebook.com/{P('page.name')}/posts/1"),
        ("https://www.facebook.com/groups/4123/permalink/9", f"https://www.facebook.com/groups/{P('4123')}/permalink/9"),
        ("https://m.facebook.com/profile.php?id=100012", f"https://m.facebook.com/profile.php?id={P('100012')}"),
        ("https://facebook.com/watch?v=1", "https://facebook.com/watch?v=1"),
    ],
)  # fmt: skip
def test_account_links(url: str, expected: str) -> None:
    out = pseudonymize_events(_one(text=f"see {url} now", urls=[url]), KEY)
    assert out["text"][0] == f"see {expected} now"
    assert out["urls"][0].to_list() == [expected]


def test_telegram_ids_and_forward_sources() -> None:
    frame = pl.concat(
        [
            _one(platform="telegram", event_id="1001:5", kind="forward", object_id="user77",
                 channel="1001", actor_id="channel1001"),
            _one(platform="telegram", event_id="1001:6", kind="forward",
                 object_id="name:Some Author", channel="1001", actor_id="user9"),
            _one(platform="telegram", event_id="1001:7", kind="reply", object_id="2002:3",
                 channel="1001", actor_id="user9"),
            _one(platform="twitter", event_id="1001:8", kind="repost", object_id="2002:3"),
        ]
    )  # fmt: skip
    out = pseudonymize_events(frame, KEY)
    assert out["event_id"].to_list() == [f"{P('1001')}:5", f"{P('1001')}:6", f"{P('1001')}:7",
                                         "1001:8"]  # fmt: skip
    assert out["object_id"].to_list() == [P("user77"), f"name:{P('Some Author')}",
                                          f"{P('2002')}:3", "2002:3"]  # fmt: skip
    assert out["channel"].to_list()[:3] == [P("1001")] * 3
    assert out["actor_id"].to_list()[:3] == [P("channel1001"), P("user9"), P("user9")]


def test_one_account_one_pseudonym_in_every_field() -> None:
    frame = _one(
        actor_id="foo",
        actor_name="FOO",
        mentions=["foo"],
        text="@Foo x.com/FOO t.me/foo",
        urls=["https://instagram.com/foo"],
    )
    out = pseudonymize_events(frame, KEY).row(0, named=True)
    p = P("foo")
    assert out["actor_id"] == out["actor_name"] == out["mentions"][0] == p
    assert out["text"] == f"@{p} x.com/{p} t.me/{p}"
    assert out["urls"] == [f"https://instagram.com/{p}"]


def test_lazy_and_eager_agree_and_extras_are_dropped() -> None:
    frame = planted_events().with_columns(pl.lit("secret").alias("x_chat_name"))
    eager = pseudonymize_events(frame, KEY)
    lazy = pseudonymize_events(frame.lazy(), KEY)
    assert isinstance(lazy, pl.LazyFrame)
    assert eager.equals(lazy.collect())
    assert eager.columns == list(EVENT_SCHEMA)


def test_detection_is_the_same_up_to_renaming() -> None:
    events = planted_events()
    plain = audit(events, signals=SIGNALS, seed=1)
    hidden = audit(events, signals=SIGNALS, seed=1, pseudonymize=KEY)

    def renamed(frame: pl.DataFrame) -> set[tuple[Any, ...]]:
        return {
            (frozenset((r["actor_a"], r["actor_b"])), r["n_coactions"], r["n_keys"])
            for r in frame.iter_rows(named=True)
        }

    ids = {a for a, _ in ACCOUNTS}
    mapped = plain.edges.with_columns(
        pl.col("actor_a").replace({a: P(a) for a in ids}),
        pl.col("actor_b").replace({a: P(a) for a in ids}),
    )
    assert plain.edges.height > 0
    assert renamed(mapped) == renamed(hidden.edges)
    assert sorted(plain.clusters["size"].to_list()) == sorted(hidden.clusters["size"].to_list())
    assert plain.bursts.height == hidden.bursts.height
    # co-share keys are the forward sources' pseudonyms, the same as their accounts'
    keys = set(hidden.coactions.filter(pl.col("signal") == "co_share")["key"].to_list())
    assert keys <= {P("channel5550009"), P("user5550008"), f"name:{P('Author Xyzzy')}",
                    f"{P('5550007')}:42"}  # fmt: skip


def test_rejects_of_a_pseudonymised_run_quote_no_value(tmp_path: Path) -> None:
    # rejected rows never reach the events, so nothing renames what their reasons quote:
    # a pseudonymised run's rejects.csv keeps the field names and drops the values
    source = tmp_path / "in.csv"
    source.write_text(
        "event_id,actor_id,actor_name,ts,kind\n"
        "e1,a1,alice,2024-03-01T10:00:00Z,post\n"
        "e2,a2,bob,@mary_hidden at noon,post\n"
        "e3,a3,carol,2024-03-01T10:00:05Z,@kind_of_mary\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    done = _cli("audit", str(source), "-o", str(out), env={KEY_ENV: KEY})
    assert done.returncode == 0, done.stderr
    rejects = (out / "rejects.csv").read_text(encoding="utf-8")
    assert "mary" not in rejects
    reasons = pl.read_csv(out / "rejects.csv")["reason"].to_list()
    assert reasons == [
        "field 'ts': timestamp not understood: '…'",
        "field 'kind': unknown kind '…'",
    ]
    # without a key the values are there, to find what went wrong
    plain = tmp_path / "plain"
    assert _cli("audit", str(source), "-o", str(plain)).returncode == 0
    assert "@mary_hidden at noon" in (plain / "rejects.csv").read_text(encoding="utf-8")
