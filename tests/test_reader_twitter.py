"""The X/Twitter API v1.1 and v2 readers on hand-made fixtures shaped like real exports:
every value checked, every row accounted for, writers round-tripped."""

from __future__ import annotations

import gzip
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coordscope import ingest
from coordscope.datasets import _twitter_common, twitter_v1, twitter_v2, writers
from coordscope.datasets._twitter_common import iter_decoded
from coordscope.datasets.formats import detect_format, get_format
from coordscope.datasets.simulate import simulate
from coordscope.errors import InputError
from coordscope.schema import EVENT_SCHEMA, validate_events
from tests.conftest import FIXTURES, assert_accounting, event_rows, expected_event
from tests.conftest import head as _head
from tests.conftest import rejects_of as _rejects
from tests.conftest import utc as _utc

V1 = FIXTURES / "twitter_v1" / "statuses.jsonl"
V2_PAGES = FIXTURES / "twitter_v2" / "pages.jsonl"
V2_FLAT = FIXTURES / "twitter_v2" / "flattened.jsonl"

#: Fields compared between expected and read events.
FIELDS = (
    "event_id",
    "actor_id",
    "actor_name",
    "ts",
    "kind",
    "object_id",
    "text",
    "urls",
    "hashtags",
    "mentions",
    "media",
    "actor_created",
)


def _event(**values: Any) -> dict[str, Any]:
    return expected_event(FIELDS, **values)


def _rows(events: pl.DataFrame, fields: tuple[str, ...] = FIELDS) -> list[dict[str, Any]]:
    return event_rows(events, fields)


# ---------------------------------------------------------------------------------------
# v1.1


ECO = {"actor_id": "1190331239812345856", "actor_name": "eco_watch",
       "actor_created": _utc(2019, 11, 1, 18, 22, 5)}  # fmt: skip
AMP = {"actor_id": "1402203040506070801", "actor_name": "green_amp_7",
       "actor_created": _utc(2021, 6, 8, 9, 30, 12)}  # fmt: skip

V1_EXPECTED = [
    # streaming compatibility mode: text, URLs and hashtags from extended_tweet; the
    # utm_* parameters and www. dropped; a URL without expanded_url falls back to the t.co
    _event(
        event_id="1453361637217133120", **ECO,
        ts=_utc(2021, 10, 27, 14, 3, 11, 123000),
        text="Big news for the #ClimateAction crowd: the new report is out and it is worse "
        "than we thought. Read the full analysis here, and share widely! #COP26 "
        "@ClimateDesk https://t.co/AbC123xYz0 https://t.co/Qq9Rr8Ss7T",
        urls=["https://example-news.com/science/climate-report-2021?ref=home",
              "https://t.co/Qq9Rr8Ss7T"],
        hashtags=["climateaction", "cop26"], mentions=["98765432"],
    ),
    # a retweet: its own text (truncated), the retweeted status's full entities and media
    _event(
        event_id="1453361810580300352", **AMP,
        ts=_utc(2021, 10, 27, 14, 3, 52, 456000), kind="repost",
        object_id="1453179641656369728",
        text="RT @dataviz_daily: Our #OpenData dashboard now tracks every #COP26 pledge in one "
        "place. Explore it yourself at https://t.co/Ln5Op6Qr7S and…",
        urls=["https://dataviz.example.org/cop26",
              "https://youtube.com/watch?v=dQw4w9WgXcQ&feature=share"],
        hashtags=["opendata", "cop26", "dataviz"],
        media=["1453179630000000001", "1453179630000000002"],
    ),
    # a quote: the quoted tweet's permalink is a real link and stays
    _event(
        event_id="1453362097189675584", actor_id="55667788", actor_name="skeptic_sam",
        actor_created=_utc(2009, 7, 6, 12, 0, 1),
        ts=_utc(2021, 10, 27, 14, 5, 0, 789000), kind="quote",
        object_id="1453361637217133120",
        text="Not sure these numbers add up. Where is the baseline? #climateaction "
        "https://t.co/QtPrmLnk01",
        urls=["https://twitter.com/eco_watch/status/1453361637217133120"],
        hashtags=["climateaction"],
    ),
    # a reply; the mention is an account id
    _event(
        event_id="1453362471418061376", actor_id="998877665544332211",
        actor_name="Policy_Wonk", actor_created=_utc(2018, 5, 22, 7, 45),
        ts=_utc(2021, 10, 27, 14, 6, 30, 12000), kind="reply",
        object_id="1453361637217133120",
        text="@eco_watch Thanks for sharing, the methodology section is worth a read.",
        mentions=["1190331239812345856"],
    ),
    # extended mode (full_text), REST: no timestamp_ms, so created_at; two photos
    _event(
        event_id="1453362787387564608", actor_id="4455667788", actor_name="shutter_bug",
        actor_created=_utc(2015, 12, 10, 20, 19, 24),
        ts=_utc(2021, 10, 27, 14, 7, 45),
        text="Morning light over the Clyde before the summit. #Photography #Glasgow "
        "https://t.co/Ph0T0XyZ12",
        hashtags=["photography", "glasgow"],
        media=["1453362780000000001", "1453362780000000002"],
    ),
    # compatibility mode, truncated, no extended_tweet: the i/web/status self-link dropped
    _event(
        event_id="1453363111745675840", actor_id="7788990011", actor_name="coal_watcher",
        actor_created=_utc(2016, 8, 28, 11, 0),
        ts=_utc(2021, 10, 27, 14, 9, 2),
        text="Thread on what the #COP26 draft text actually says about coal, methane and "
        "finance. Short version: less than prom… https://t.co/SeLf1234Ab",
        hashtags=["cop26"],
    ),
    # a retweet of a quote: retweet wins over quote
    _event(
        event_id="1453363523722797632", **AMP,
        ts=_utc(2021, 10, 27, 14, 10, 40, 901000), kind="repost",
        object_id="1453362097189675584",
        text="RT @skeptic_sam: Not sure these numbers add up. Where is the baseline? "
        "#climateaction https://t.co/QtPrmLnk01",
        urls=["https://twitter.com/eco_watch/status/1453361637217133120"],
        hashtags=["climateaction"],
    ),
]  # fmt: skip


def test_v1_fixture_values_rejects_and_accounting() -> None:
    result = ingest(V1)
    assert result.inputs[0]["format"] == "twitter-v1"
    # 12 lines, one blank (not a record): 7 statuses, a delete and a limit notice, a cut
    # line, and a stream duplicate of the reply.
    assert result.rows == {"input": 11, "accepted": 7, "rejected": 3, "duplicates": 1}
    assert_accounting(result.rows)
    assert _rejects(result) == [
        (5, "not a tweet (delete notice)"),
        (6, "not a tweet (limit notice)"),
        (7, "not valid JSON (malformed or truncated line)"),
    ]
    events = validate_events(result.events)
    assert _rows(events) == V1_EXPECTED
    assert set(events["platform"].cast(pl.String)) == {"twitter"}
    assert events["x_lang"].to_list() == ["en"] * 7
    assert events["x_mention_names"].to_list() == [
        ["ClimateDesk"],
        [],
        [],
        ["eco_watch"],
        [],
        [],
        [],
    ]
    assert result.notes["delete_notices"] == 1
    assert result.notes["limit_notices"] == 1
    assert result.notes["urls_shortened"] == 1  # the t.co fallback


def test_v1_non_status_lines_and_wrong_types_are_rejects(tmp_path: Path) -> None:
    path = tmp_path / "stream.jsonl"
    lines = [
        '{"scrub_geo":{"user_id":14090452,"user_id_str":"14090452","up_to_status_id":23260136625,"up_to_status_id_str":"23260136625"}}',
        '{"status_withheld":{"id":1234567890,"user_id":123456,"withheld_in_countries":["DE"]}}',
        '{"disconnect":{"code":4,"stream_name":"sample","reason":"duplicate stream"}}',
        '{"friends":[1,2,3]}',
        "[1, 2]",
        '{"created_at":"Wed Oct 27 14:03:11 +0000 2021","id_str":"11","text":"no user"}',
        '{"created_at":"Wed Oct 27 14:03:11 +0000 2021","id_str":"12","text":"x",'
        '"user":{"id_str":"7","screen_name":"a"},"entities":"oops"}',
        '{"created_at":"Wed Oct 27 14:03:11 +0000 2021","id":13,"text":"ok","user":{"id":7,'
        '"screen_name":"a","created_at":"Mon Jul 06 12:00:01 +0000 2009"},'
        '"in_reply_to_status_id":9,"is_quote_status":true}',
    ]  # fmt: skip
    path.write_text("\n".join(lines) + "\n")
    result = ingest(path, format="twitter-v1")
    assert result.rows == {"input": 8, "accepted": 1, "rejected": 7, "duplicates": 0}
    assert_accounting(result.rows)
    reasons = _rejects(result)
    assert reasons[:6] == [
        (1, "not a tweet (scrub geo notice)"),
        (2, "not a tweet (status withheld notice)"),
        (3, "not a tweet (disconnect notice)"),
        (4, "not a tweet (no id_str or user)"),
        (5, "JSON line is not an object"),
        (6, "missing actor_id"),
    ]
    assert reasons[6][0] == 7
    assert reasons[6][1].startswith("fields do not have the types of an X/Twitter v1.1 status")
    # numeric ids are read as text; is_quote_status alone makes a quote (object unknown),
    # and a quote wins over a reply
    assert _rows(result.events) == [
        _event(event_id="13", actor_id="7", actor_name="a", ts=_utc(2021, 10, 27, 14, 3, 11),
               kind="quote", text="ok", actor_created=_utc(2009, 7, 6, 12, 0, 1)),
    ]  # fmt: skip


def test_v1_file_without_any_json_object_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text('{"created_at": "Wed Oct\n[1]\n')
    with pytest.raises(InputError, match=r"bad\.jsonl, record 1: not JSON lines"):
        list(twitter_v1.read(str(path)).pieces)  # errors come as the file is read


# ---------------------------------------------------------------------------------------
# v2


ANNA = {"actor_id": "892345671", "actor_name": "dev_anna",
        "actor_created": _utc(2009, 10, 2, 8, 0)}  # fmt: skip
BOT = {"actor_id": "1495500000000000001", "actor_name": "boost_bot_01",
       "actor_created": _utc(2022, 2, 20, 23, 59, 1)}  # fmt: skip
GRUMPY = {"actor_id": "44556677", "actor_name": "grumpy_coder",
          "actor_created": _utc(2008, 4, 15, 17, 30)}  # fmt: skip

V2_PAGES_EXPECTED = [
    # data[0]: its author is not in includes.users: no name, no creation time
    _event(event_id="1498629497287634944", actor_id="1111111111",
           ts=_utc(2022, 3, 1, 12, 1, 30), text="Anyone else upgrading today? #python",
           hashtags=["python"]),
    # data[1]: replied_to (listed first) and quoted: the quote wins
    _event(event_id="1498629159646162944", **GRUMPY, ts=_utc(2022, 3, 1, 12, 0, 9, 500000),
           kind="quote", object_id="1498406402257874944",
           text="@dev_anna Funny, the newsletter said the same about 2.0 https://t.co/QtQt0987Ab",
           urls=["https://twitter.com/PyWeekly/status/1498406402257874944"],
           mentions=["892345671"]),
    # data[2]: a retweet: lists from the retweeted tweet in includes.tweets; its photo
    # link (with a media_key) is media, not a URL
    _event(event_id="1498629150208978944", **BOT, ts=_utc(2022, 3, 1, 12, 0, 7, 250000),
           kind="repost", object_id="1498406402257874944",
           text="RT @PyWeekly: This week: a faster JSON parser, typed dataframes and a #Python "
           "packaging guide. All links in one place: https://t.co/Lk5Mn6Op7Q #PyData…",
           urls=["https://pyweekly.example.net/issue/42"],
           hashtags=["python", "pydata", "dataframes"], mentions=["892345671"],
           media=["3_1498406390000000001"]),
    # data[3]: unwound_url wins over the bit.ly expanded_url; utm_* and fragment dropped
    _event(event_id="1498628616483794944", **ANNA, ts=_utc(2022, 3, 1, 11, 58),
           text="Release day! Version 3.0 of our parser is out. Changelog: "
           "https://t.co/Ab12Cd34Ef and the benchmarks: https://t.co/Zy98Xw76Vu #OpenSource "
           "#Python @PyWeekly",
           urls=["https://example.org/Changelog.html?v=3",
                 "https://bench.example.com/parser/v3"],
           hashtags=["opensource", "python"], mentions=["1346789012345678848"]),
    # line 4, data[0]: media keys from attachments
    _event(event_id="1498630126433234944", **ANNA, ts=_utc(2022, 3, 1, 12, 4),
           text="Before and after https://t.co/Md1Md2Md3M",
           media=["3_1498630100000000001", "7_1498630100000000002"]),
]  # fmt: skip


def test_v2_pages_values_rejects_and_accounting() -> None:
    result = ingest(V2_PAGES)
    assert result.inputs[0]["format"] == "twitter-v2"
    # line 1: 5 tweets; line 2: errors only; line 3: cut; line 4: 2 tweets, one already
    # seen on line 1; line 5: result_count 0.
    assert result.rows == {"input": 8, "accepted": 5, "rejected": 2, "duplicates": 1}
    assert_accounting(result.rows)
    assert _rejects(result) == [
        (1, "data[4]: missing created_at"),
        (3, "not valid JSON (malformed or truncated line)"),
    ]
    events = validate_events(result.events)
    assert _rows(events) == V2_PAGES_EXPECTED
    assert result.notes["pages"] == 4
    assert result.notes["pages_without_data"] == 2
    assert result.notes["page_errors"] == 3
    assert events["x_conversation_id"].to_list() == [
        "1498629497287634944", "1498628616483794944", "1498629150208978944",
        "1498628616483794944", "1498630126433234944",
    ]  # fmt: skip
    assert events["x_mention_names"].to_list() == [[], ["dev_anna"], ["dev_anna"], ["PyWeekly"], []]
    assert events["x_lang"].to_list() == ["en"] * 5


V2_FLAT_EXPECTED = [
    _event(event_id="1498630378091474944", actor_id="1400000000000000001",
           actor_name="data_dora", actor_created=_utc(2021, 5, 2, 3, 4, 5),
           ts=_utc(2022, 3, 1, 12, 5),
           text="New blog post: profiling polars pipelines https://t.co/Pp1Qq2Rr3S "
           "#DataEngineering #Rust https://t.co/PiC0000001",
           urls=["https://blog.example.dev/posts/profiling-polars"],
           hashtags=["dataengineering", "rust"], media=["3_1498630370000000001"]),
    # a retweet: lists from the referenced tweet that flatten embedded (not the retweet's
    # own mention of @data_dora)
    _event(event_id="1498630629749714944", **BOT, ts=_utc(2022, 3, 1, 12, 6),
           kind="repost", object_id="1498630378091474944",
           text="RT @data_dora: New blog post: profiling polars pipelines "
           "https://t.co/Pp1Qq2Rr3S #DataEngineering #Rust https://t.co/PiC0000001",
           urls=["https://blog.example.dev/posts/profiling-polars"],
           hashtags=["dataengineering", "rust"], media=["3_1498630370000000001"]),
    _event(event_id="1498630881407954944", **GRUMPY, ts=_utc(2022, 3, 1, 12, 7),
           kind="reply", object_id="1498630378091474944",
           text="@data_dora Nice, but did you try the streaming engine?",
           mentions=["1400000000000000001"]),
    # the quoted tweet is not available: a stub reference still gives kind and object
    _event(event_id="1498630900000000000", **ANNA, ts=_utc(2022, 3, 1, 12, 7, 4, 512000),
           kind="quote", object_id="1498400000000000000",
           text="This aged well https://t.co/Qt9Xx8Yy7Z",
           urls=["https://twitter.com/someone/status/1498400000000000000"]),
    # a retweet of an unavailable tweet: its own entities; a mention without id is a handle
    _event(event_id="1498631000000000000", **BOT, ts=_utc(2022, 3, 1, 12, 8),
           kind="repost", object_id="1498399999999999999",
           text="RT @Gone_User: We are moving to a new home! #Archive",
           hashtags=["archive"], mentions=["gone_user"]),
]  # fmt: skip


def test_v2_flattened_values_rejects_and_accounting() -> None:
    result = ingest(V2_FLAT)
    assert result.inputs[0]["format"] == "twitter-v2"
    # 7 lines, one blank: 5 tweets and a cut line
    assert result.rows == {"input": 6, "accepted": 5, "rejected": 1, "duplicates": 0}
    assert_accounting(result.rows)
    assert _rejects(result) == [(7, "not valid JSON (malformed or truncated line)")]
    events = validate_events(result.events)
    assert _rows(events) == V2_FLAT_EXPECTED
    assert "pages" not in result.notes
    assert events["x_mention_names"].to_list() == [[], [], ["data_dora"], [], ["Gone_User"]]


def test_v2_page_tweets_rejected_with_their_index(tmp_path: Path) -> None:
    page = (
        '{"data":[{"id":"1","author_id":"10","created_at":"2022-03-01T12:00:00.000Z","text":"a"},'
        '{"id":"2","created_at":"2022-03-01T12:00:01.000Z","text":"b"},'
        '{"id":"3","author_id":"10","created_at":"yesterday","text":"c"},'
        '{"author_id":"10","created_at":"2022-03-01T12:00:03.000Z","text":"d"}],'
        '"includes":{"users":[{"id":"10","username":"ten","created_at":"2020-01-01T00:00:00.000Z"}]},'
        '"meta":{"result_count":4}}'
    )
    flat = (
        '{"id":"5","author_id":"11","created_at":"2022-03-01T12:00:05.000Z","text":"e",'
        '"author":{"id":"11","username":"eleven"}}'
    )
    path = tmp_path / "mixed.jsonl"
    path.write_text("\n".join([page, "{}", flat, '{"errors":[{"title":"x"}]}']) + "\n")
    result = ingest(path, format="twitter-v2")
    assert result.rows == {"input": 6, "accepted": 2, "rejected": 4, "duplicates": 0}
    assert_accounting(result.rows)
    assert _rejects(result) == [
        (1, "data[1]: missing author_id"),
        (1, "data[2]: field 'created_at': timestamp not understood: 'yesterday'"),
        (1, "data[3]: missing id"),
        (2, "not a tweet or API page (no 'id' or 'data')"),
    ]
    assert result.events.select("event_id", "actor_name").rows() == [("1", "ten"), ("5", "eleven")]
    assert result.notes["pages"] == 2
    assert result.notes["pages_without_data"] == 1
    assert result.notes["page_errors"] == 1


def test_v2_reads_gzip_by_content(tmp_path: Path) -> None:
    path = tmp_path / "flat.data"  # the name says nothing; the content is gzip
    path.write_bytes(gzip.compress(V2_FLAT.read_bytes()))
    assert detect_format(str(path)) == "twitter-v2"
    result = ingest(path)
    assert result.rows == {"input": 6, "accepted": 5, "rejected": 1, "duplicates": 0}
    assert _rows(result.events) == V2_FLAT_EXPECTED


def test_decode_ignores_extra_fields_and_nulls_missing_ones(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text(
        '{"id":"1","unknown":{"deep":[1,{"x":2}]},"public_metrics":{"like_count":3},'
        '"entities":{"hashtags":[{"start":0,"end":2,"tag":"a","extra":true}]}}\n'
        "\n"
        '{"id":2}\n'
    )
    (decoded,) = iter_decoded(str(path), twitter_v2.LINE_DTYPE, what="a tweet")  # one block
    frame = decoded.frame
    assert decoded.bad.height == 0
    assert frame["_record"].to_list() == [1, 3]
    assert frame.columns == ["_record", *(f.name for f in twitter_v2.LINE_DTYPE.fields)]
    assert frame["id"].to_list() == ["1", "2"]  # a JSON number read as its text
    assert frame["entities"].to_list()[0]["hashtags"] == [{"tag": "a"}]
    assert frame["author_id"].to_list() == [None, None]
    assert frame["entities"].to_list()[1] is None


@pytest.mark.parametrize(("path", "expected"), [(V1, V1_EXPECTED), (V2_PAGES, V2_PAGES_EXPECTED)])
def test_tiny_chunks_give_the_same_result(
    path: Path, expected: list[dict[str, Any]], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two lines a chunk: many chunks on several threads; order, rejects, counters kept.
    whole = ingest(path)
    monkeypatch.setattr(_twitter_common, "CHUNK_LINES", 2)
    chunked = ingest(path)
    assert chunked.rows == whole.rows
    assert _rejects(chunked) == _rejects(whole)
    assert chunked.notes == whole.notes
    assert _rows(chunked.events) == expected


def test_type_mismatches_are_rejects_up_to_a_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = '{"id":"1","author_id":"2","created_at":"2022-03-01T12:00:00.000Z","text":"ok"}'
    wrong = '{"id":"3","author_id":"2","created_at":"2022-03-01T12:00:00.000Z","entities":[]}'
    path = tmp_path / "t.jsonl"
    path.write_text("\n".join([wrong, good, wrong, wrong]) + "\n")
    result = ingest(path, format="twitter-v2")
    assert result.rows == {"input": 4, "accepted": 1, "rejected": 3, "duplicates": 0}
    assert [r for r, _ in _rejects(result)] == [1, 3, 4]
    reason = _rejects(result)[0][1]
    # the reason ends with polars' own message in parentheses
    assert reason.startswith("fields do not have the types of an X/Twitter v2 tweet or API page (")
    monkeypatch.setattr(_twitter_common, "MAX_TYPE_MISMATCHES", 2)
    with pytest.raises(InputError, match=r"record 1: more than 2 lines do not have the fields"):
        list(twitter_v2.read(str(path)).pieces)
    path.write_text(wrong + "\n")
    with pytest.raises(InputError, match=r"record 1: no line has the fields of an X/Twitter v2"):
        list(twitter_v2.read(str(path)).pieces)


@pytest.mark.parametrize("module", [twitter_v1, twitter_v2])
@pytest.mark.parametrize("content", ["", "\n   \n"])
def test_empty_and_blank_files_give_no_rows(module: Any, content: str, tmp_path: Path) -> None:
    path = tmp_path / "empty.jsonl"
    path.write_text(content)
    result = ingest(path, format=module.FORMAT)
    assert result.rows == {"input": 0, "accepted": 0, "rejected": 0, "duplicates": 0}
    validate_events(result.events)


# ---------------------------------------------------------------------------------------
# sniffing and detection


CSV_HEAD = "object_id,account_id,content_id,timestamp_share\n1,2,3,1609459200\n"
GENERIC_JSONL = '{"event_id":"1","actor_id":"a","ts":"2024-03-01T10:00:00Z","text":"hi"}\n'
TELEGRAM_HEAD = (
    '{\n "name": "Channel",\n "type": "public_channel",\n "id": 1234567890,\n'
    ' "messages": [\n  {\n   "id": 1,\n'
)


@pytest.mark.parametrize("size", [1 << 16, 700])
def test_sniffers_tell_v1_from_v2(size: int) -> None:
    v1, pages, flat = _head(V1, size), _head(V2_PAGES, size), _head(V2_FLAT, size)
    assert twitter_v1.sniff(v1)
    assert not twitter_v1.sniff(pages)
    assert not twitter_v1.sniff(flat)
    assert twitter_v2.sniff(pages)
    assert twitter_v2.sniff(flat)
    assert not twitter_v2.sniff(v1)


@pytest.mark.parametrize("head", [CSV_HEAD, GENERIC_JSONL, TELEGRAM_HEAD, "", "   \n"])
def test_sniffers_refuse_other_content(head: str) -> None:
    assert not twitter_v1.sniff(head)
    assert not twitter_v2.sniff(head)


def test_sniffers_on_notices_and_error_pages() -> None:
    delete = (
        '{"delete":{"status":{"id":1,"id_str":"1","user_id":2,"user_id_str":"2"},'
        '"timestamp_ms":"1635343700000"}}\n'
    )
    errors = (
        '{"errors":[{"value":"1","detail":"Could not find tweet with ids: [1].","title":'
        '"Not Found Error","resource_type":"tweet","parameter":"ids","resource_id":"1",'
        '"type":"https://api.twitter.com/2/problems/resource-not-found"}]}\n'
    )
    assert twitter_v1.sniff(delete) and not twitter_v2.sniff(delete)
    assert twitter_v2.sniff(errors) and not twitter_v1.sniff(errors)


@pytest.mark.parametrize(
    ("path", "name"), [(V1, "twitter-v1"), (V2_PAGES, "twitter-v2"), (V2_FLAT, "twitter-v2")]
)
def test_detect_format(path: Path, name: str) -> None:
    assert detect_format(str(path)) == name


# ---------------------------------------------------------------------------------------
# writers


def _canonical(rows: list[dict[str, Any]]) -> pl.DataFrame:
    frame = pl.DataFrame(rows, schema={k: v for k, v in EVENT_SCHEMA.items() if k != "platform"})
    frame = frame.with_columns(pl.lit("twitter").cast(pl.Categorical).alias("platform"))
    return validate_events(frame.select(list(EVENT_SCHEMA)))


def _round_trip_events() -> pl.DataFrame:
    base = {"channel": None}
    return _canonical(
        [
            {**base, "event_id": "1001", "actor_id": "11", "actor_name": "alice",
             "ts": _utc(2024, 3, 1, 10, 0, 0, 123000), "kind": "post", "object_id": None,
             "text": "Links! #one", "urls": ["https://example.com/a", "https://t.co/xyz"],
             "hashtags": ["one", "two"], "mentions": ["22", "bob_handle"], "media": ["m1"],
             "actor_created": _utc(2015, 5, 5, 5, 5, 5)},
            {**base, "event_id": "1002", "actor_id": "22", "actor_name": "bob",
             "ts": _utc(2024, 3, 1, 10, 0, 30), "kind": "repost", "object_id": "1001",
             "text": "RT @alice: Links!", "urls": ["https://example.com/a"], "hashtags": ["one"],
             "mentions": [], "media": [], "actor_created": None},
            {**base, "event_id": "1003", "actor_id": "33", "actor_name": None,
             "ts": _utc(2024, 3, 1, 10, 1, 0, 5000), "kind": "quote", "object_id": "1001",
             "text": None, "urls": [], "hashtags": [], "mentions": ["11"],
             "media": ["3_77", "7_78"], "actor_created": _utc(2020, 1, 1)},
            {**base, "event_id": "1004", "actor_id": "11", "actor_name": "alice",
             "ts": _utc(2024, 3, 1, 10, 2, 0), "kind": "reply", "object_id": "1003",
             "text": "@x \"quoted\" and a\nnewline ✓", "urls": [], "hashtags": ["ünï"],
             "mentions": ["x"], "media": [], "actor_created": _utc(2015, 5, 5, 5, 5, 5)},
        ]
    )  # fmt: skip


@pytest.mark.parametrize("module", [twitter_v1, twitter_v2])
@pytest.mark.parametrize("name", ["out.jsonl", "out.jsonl.gz"])
def test_round_trip(module: Any, name: str, tmp_path: Path) -> None:
    events = _round_trip_events()
    path = tmp_path / name
    get_format(module.FORMAT).write(events, str(path))
    assert detect_format(str(path)) == module.FORMAT
    result = ingest(path)
    assert result.inputs[0]["format"] == module.FORMAT
    assert result.rows == {"input": 4, "accepted": 4, "rejected": 0, "duplicates": 0}
    assert _rows(result.events) == _rows(events)


def test_v1_writer_shape(tmp_path: Path) -> None:
    path = tmp_path / "v1.jsonl"
    writers.twitter_v1.write(_round_trip_events(), str(path))
    first, second, third, fourth = pl.read_ndjson(path, infer_schema_length=None).to_dicts()
    assert first["created_at"] == "Fri Mar 01 10:00:00 +0000 2024"
    assert first["timestamp_ms"] == "1709287200123"
    assert first["user"] == {"id_str": "11", "screen_name": "alice",
                             "created_at": "Tue May 05 05:05:05 +0000 2015"}  # fmt: skip
    assert first["entities"]["user_mentions"] == [
        {"id_str": "22", "screen_name": None},
        {"id_str": None, "screen_name": "bob_handle"},
    ]
    assert first["extended_entities"] == {"media": [{"id_str": "m1", "type": "photo"}]}
    assert first["retweeted_status"] is None and first["is_quote_status"] is False
    assert second["retweeted_status"] == {"id_str": "1001"}
    assert (third["is_quote_status"], third["quoted_status_id_str"]) == (True, "1001")
    assert fourth["in_reply_to_status_id_str"] == "1003"


def test_v2_writer_shape(tmp_path: Path) -> None:
    path = tmp_path / "v2.jsonl"
    writers.twitter_v2.write(_round_trip_events(), str(path))
    first, second, third, fourth = pl.read_ndjson(path, infer_schema_length=None).to_dicts()
    assert first["created_at"] == "2024-03-01T10:00:00.123Z"
    assert first["author"] == {"id": "11", "username": "alice",
                               "created_at": "2015-05-05T05:05:05.000Z"}  # fmt: skip
    assert first["entities"]["mentions"] == [
        {"username": None, "id": "22"},
        {"username": "bob_handle", "id": None},
    ]
    assert first["attachments"] == {"media_keys": ["m1"]}
    assert first["referenced_tweets"] is None
    assert first["edit_history_tweet_ids"] == ["1001"]
    assert second["referenced_tweets"] == [{"type": "retweeted", "id": "1001"}]
    assert third["referenced_tweets"] == [{"type": "quoted", "id": "1001"}]
    assert fourth["referenced_tweets"] == [{"type": "replied_to", "id": "1003"}]
    assert fourth["conversation_id"] == "1003"


@pytest.mark.parametrize("module", [twitter_v1, twitter_v2])
def test_round_trip_of_simulated_events(module: Any, tmp_path: Path) -> None:
    # Times as the formats carry them: milliseconds (v2 created_at; v1 timestamp_ms),
    # account creation to the millisecond (v2) or the second (v1 created_at).
    events, _ = simulate("organic", seed=5, size="tiny")
    path = tmp_path / "sim.jsonl"
    get_format(module.FORMAT).write(events, str(path))
    result = ingest(path)
    assert result.inputs[0]["format"] == module.FORMAT
    n = events.height
    assert result.rows == {"input": n, "accepted": n, "rejected": 0, "duplicates": 0}
    created = "1s" if module is twitter_v1 else "1ms"
    expected = events.with_columns(
        pl.col("ts").dt.truncate("1ms"), pl.col("actor_created").dt.truncate(created)
    )
    assert result.events.select(FIELDS).equals(expected.select(FIELDS))


@pytest.mark.parametrize("module", [twitter_v1, twitter_v2])
def test_writers_map_kinds_without_a_twitter_form(module: Any, tmp_path: Path) -> None:
    rows = [
        {"event_id": str(i), "actor_id": "1", "actor_name": "a", "ts": _utc(2024, 1, 1, 0, i),
         "kind": kind, "object_id": "99", "text": "t", "urls": [], "hashtags": [],
         "mentions": [], "media": [], "channel": None, "actor_created": None}
        for i, kind in enumerate(["forward", "comment", "reaction"])
    ]  # fmt: skip
    path = tmp_path / "k.jsonl"
    get_format(module.FORMAT).write(_canonical(rows), str(path))
    result = ingest(path, format=module.FORMAT)
    assert result.events.select("kind", "object_id").rows() == [
        ("repost", "99"),
        ("reply", "99"),
        ("post", None),
    ]
