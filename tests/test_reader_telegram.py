"""The Telegram Desktop reader and writer on hand-made exports shaped like real ones:
every value checked, every message accounted for, the writer round-tripped."""

from __future__ import annotations

import gzip
import json
from pathlib import Path
from typing import Any

import polars as pl
import pytest

from coordscope import ingest
from coordscope.datasets import telegram, writers
from coordscope.datasets.formats import detect_format
from coordscope.datasets.simulate import simulate
from coordscope.datasets.writers._telegram_text import text_and_entities
from coordscope.errors import InputError
from coordscope.schema import EVENT_SCHEMA, validate_events
from tests.conftest import FIXTURES, assert_accounting, event_rows, expected_event
from tests.conftest import head as _head
from tests.conftest import rejects_of as _rejects
from tests.conftest import utc as _utc

CHANNEL = FIXTURES / "telegram" / "channel_result.json"
ACCOUNT = FIXTURES / "telegram" / "account_result.json"
LEGACY = FIXTURES / "telegram" / "legacy_result.json"
OTHERS = sorted(p for p in FIXTURES.glob("*/*") if p.parent.name != "telegram" and p.is_file())

NEWS = {"actor_id": "channel1234567890", "actor_name": "Новости Дня", "channel": "1234567890"}
ANNA = {"actor_id": "user5550001", "actor_name": "Анна К."}
BORIS = {"actor_id": "user5550002", "actor_name": "Борис"}
GROUP = {"channel": "1555000111"}
PERSONAL = {"channel": "5550002"}

FIELDS = tuple(EVENT_SCHEMA)


def _event(**values: Any) -> dict[str, Any]:
    return expected_event(FIELDS, **{"platform": "telegram", **values})


def _rows(events: pl.DataFrame, fields: tuple[str, ...] = FIELDS) -> list[dict[str, Any]]:
    return event_rows(events, fields)


# ---------------------------------------------------------------------------------------
# single chat export


def test_channel_export_every_value() -> None:
    result = ingest(CHANNEL)
    assert result.inputs[0]["format"] == "telegram"
    assert result.rows == {"input": 7, "accepted": 5, "rejected": 2, "duplicates": 0}
    assert_accounting(result.rows)
    assert _rejects(result) == [
        (1, "service message (create_channel)"),
        (6, "service message (pin_message)"),
    ]
    validate_events(result.events)
    # date_unixtime is UTC; "date" is the exporting computer's local time (UTC+3)
    assert _rows(result.events) == [
        _event(
            event_id="1234567890:2", **NEWS, ts=_utc(2022, 3, 1, 12, 0, 0),
            text="Срочно: мост закрыт", media=["photos/photo_1@01-03-2022_15-00-00.jpg"],
        ),
        _event(
            event_id="1234567890:3", **NEWS, ts=_utc(2022, 3, 1, 12, 0, 20),
            text="Подробности: https://example.org/news/123?utm_source=tg и видео #Мост "
            "@novosti_bot важно",
            # link: its text; text_link: its href; the tracking parameter dropped
            urls=["https://example.org/news/123", "https://youtu.be/abc123"],
            hashtags=["мост"], mentions=["novosti_bot"],
        ),
        _event(
            event_id="1234567890:4", **NEWS, ts=_utc(2022, 3, 1, 12, 1, 5), kind="forward",
            object_id="name:Другой Канал", text="Пересылаем: всё спокойно",
        ),
        # the "(File not included...)" placeholder is no media key; empty text is null
        _event(event_id="1234567890:5", **NEWS, ts=_utc(2022, 3, 1, 12, 2, 0)),
        _event(
            event_id="1234567890:7", **NEWS, ts=_utc(2022, 3, 1, 12, 10, 0),
            text="Обновление: мост открыт",
        ),
    ]  # fmt: skip
    extras = result.events.select("x_chat_name", "x_chat_type", "x_media_type").rows()
    assert extras == [
        ("Новости Дня", "public_channel", None),
        ("Новости Дня", "public_channel", None),
        ("Новости Дня", "public_channel", None),
        ("Новости Дня", "public_channel", "video_file"),
        ("Новости Дня", "public_channel", None),
    ]
    assert result.notes["naive_timestamps"] == 0
    assert result.notes["urls_shortened"] == 0  # youtu.be is a video's link, no shortener


# ---------------------------------------------------------------------------------------
# whole-account export


def test_account_export_reads_every_chat_and_left_chats() -> None:
    result = ingest(ACCOUNT)
    assert result.inputs[0]["format"] == "telegram"
    assert result.rows == {"input": 10, "accepted": 7, "rejected": 3, "duplicates": 0}
    assert_accounting(result.rows)
    # records count messages across the file: chat 1 has 6, chat 2 has 3, left chat 1
    assert _rejects(result) == [
        (1, "service message (invite_members)"),
        (5, "unsupported message (Telegram Desktop exported no content)"),
        (9, "service message (phone_call)"),
    ]
    assert _rows(result.events) == [
        _event(
            event_id="1555000111:2", **BORIS, **GROUP, ts=_utc(2022, 3, 2, 6, 5, 0),
            text="Всем привет! Смотрите https://example.com/a", urls=["https://example.com/a"],
        ),
        _event(
            event_id="1555000111:3", **ANNA, **GROUP, ts=_utc(2022, 3, 2, 6, 6, 30),
            kind="reply", object_id="1555000111:2", text="Спасибо, Борис",
            mentions=["user5550002"],  # mention_name: the user id, in from_id's form
        ),
        _event(
            event_id="1555000111:4", **BORIS, **GROUP, ts=_utc(2022, 3, 2, 6, 7, 0),
            kind="forward", object_id="channel1234567890", text="Срочно: мост закрыт",
        ),
        _event(
            event_id="1555000111:6", **BORIS, **GROUP, ts=_utc(2022, 3, 2, 6, 10, 0),
            # reply_to_peer_id: the replied-to message is in another chat
            kind="reply", object_id="1234567890:3", text="#мост опять", hashtags=["мост"],
        ),
        _event(
            event_id="5550002:1", **ANNA, **PERSONAL, ts=_utc(2022, 3, 2, 7, 0, 0),
            text="Привет",
        ),
        _event(
            event_id="5550002:2", **BORIS, **PERSONAL, ts=_utc(2022, 3, 2, 7, 0, 45),
            kind="reply", object_id="5550002:1", text="Привет!",
        ),
        _event(
            event_id="1444000222:1", actor_id="channel1444000222", actor_name="Старый канал",
            channel="1444000222", ts=_utc(2021, 12, 31, 20, 59, 59), text="Архивная запись",
        ),
    ]  # fmt: skip
    assert result.events["x_chat_type"].to_list() == (
        ["private_supergroup"] * 4 + ["personal_chat"] * 2 + ["public_channel"]
    )


def test_message_ids_are_only_unique_per_chat() -> None:
    events = ingest(ACCOUNT).events
    ids = events["event_id"].to_list()
    assert "5550002:1" in ids
    assert "1444000222:1" in ids
    assert len(set(ids)) == len(ids)


# ---------------------------------------------------------------------------------------
# exports by old versions: no text_entities, no date_unixtime, numeric from_id


def test_legacy_export_mixed_text_and_naive_dates() -> None:
    result = ingest(LEGACY)
    assert result.rows == {"input": 4, "accepted": 3, "rejected": 1, "duplicates": 0}
    assert_accounting(result.rows)
    assert _rejects(result) == [(1, "service message (create_group)")]
    # "date" only: local time without offset, taken as UTC and counted (all 4 records)
    assert result.notes["naive_timestamps"] == 4
    group = {"channel": "987654"}
    assert _rows(result.events) == [
        _event(
            event_id="987654:11", actor_id="111222", actor_name="Иван", **group,
            ts=_utc(2019, 5, 10, 14, 24, 5), text="Привет всем",
        ),
        _event(
            event_id="987654:12", actor_id="333444", actor_name="Пётр", **group,
            ts=_utc(2019, 5, 10, 14, 25, 0), kind="reply", object_id="987654:11",
            text="Читайте https://example.com/b #Новости", urls=["https://example.com/b"],
            hashtags=["новости"],
        ),
        _event(
            event_id="987654:13", actor_id="333444", actor_name="Пётр", **group,
            ts=_utc(2019, 5, 10, 14, 26, 0), kind="forward", object_id="name:Канал Х",
            text="тут", urls=["https://example.com/c"],
        ),
    ]  # fmt: skip


def test_same_events_from_polars_and_json_paths() -> None:
    """A current export read through the legacy (json module) path gives the same rows."""
    data = CHANNEL.read_bytes()
    fast = telegram._read_polars(data)
    slow = telegram._legacy_messages(str(CHANNEL), data)
    assert fast is not None
    assert fast.equals(slow)


# ---------------------------------------------------------------------------------------
# bad input


def test_not_json_is_an_input_error(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text('{\n "name": "Chat",\n "messages": [\n  {"id": 1,')
    with pytest.raises(InputError, match="not valid JSON"):
        telegram.read(str(path))


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"name": "x", "list": []}', r"no 'messages' list .* no 'chats.list'.*'name', 'list'"),
        ('[{"id": 1}]', "top level is a JSON list"),
        ('{"messages": "none"}', "'messages' is not a list"),
        ('{"about": "a", "chats": {"about": "b"}}', "'chats.list' is missing"),
    ],
)
def test_json_that_is_not_a_telegram_export(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "result.json"
    path.write_text(content)
    with pytest.raises(InputError, match=message):
        telegram.read(str(path))


def test_message_that_is_not_an_object_is_a_reject(tmp_path: Path) -> None:
    doc = {
        "name": "C", "type": "public_channel", "id": 5,
        "messages": [
            "oops",
            {"id": 2, "type": "message", "date": "2022-03-01T12:00:00",
             "date_unixtime": "1646136000", "from": "C", "from_id": "channel5", "text": "hi",
             "text_entities": [{"type": "plain", "text": "hi"}]},
        ],
    }  # fmt: skip
    path = tmp_path / "result.json"
    path.write_text(json.dumps(doc))
    result = ingest(path, format="telegram")
    assert result.rows == {"input": 2, "accepted": 1, "rejected": 1, "duplicates": 0}
    assert _rejects(result) == [(1, "message is not a JSON object")]
    assert result.events["event_id"].to_list() == ["5:2"]


def test_gzip_export(tmp_path: Path) -> None:
    path = tmp_path / "result.json.gz"
    path.write_bytes(gzip.compress(CHANNEL.read_bytes()))
    assert detect_format(str(path)) == "telegram"
    assert ingest(path).events.equals(ingest(CHANNEL).events)


# ---------------------------------------------------------------------------------------
# sniffing


@pytest.mark.parametrize("path", [CHANNEL, ACCOUNT, LEGACY], ids=lambda p: p.name)
def test_sniff_own_fixtures(path: Path) -> None:
    assert telegram.sniff(_head(path))
    assert detect_format(str(path)) == "telegram"


@pytest.mark.parametrize("path", OTHERS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_sniff_rejects_other_formats(path: Path) -> None:
    assert not telegram.sniff(_head(path))


def test_sniff_cut_mid_export() -> None:
    """A whole-account export whose contacts fill the first 64 KiB is still recognised."""
    head = '{\n "about": "Here is the data you requested.",\n "personal_information": {\n'
    assert telegram.sniff(head + '  "user_id": 1,\n' * 5000)
    assert not telegram.sniff('{"about": "x", "title": "y"}')
    assert not telegram.sniff('{"messages": [{"role": "user", "content": "hi"}]}')


# ---------------------------------------------------------------------------------------
# writing


def _canonical(rows: list[dict[str, Any]]) -> pl.DataFrame:
    return pl.DataFrame([_event(**r) for r in rows], schema=EVENT_SCHEMA)


ROUND_TRIP: list[dict[str, Any]] = [
    dict(event_id="777:1", actor_id="channel777", actor_name="Канал 777", channel="777",
         ts=_utc(2024, 3, 1, 9, 0, 0), text="Новость дня https://example.com/a #срочно",
         urls=["https://example.com/a"], hashtags=["срочно"], media=["photos/photo_1.jpg"]),
    dict(event_id="777:2", actor_id="channel777", actor_name="Канал 777", channel="777",
         ts=_utc(2024, 3, 1, 9, 0, 30), kind="forward", object_id="channel888",
         text="Переслано: смотрите @someone", mentions=["someone"]),
    dict(event_id="777:3", actor_id="channel777", actor_name="Канал 777", channel="777",
         ts=_utc(2024, 3, 1, 9, 1, 0), kind="forward", object_id="name:Старый канал",
         text='Кавычки "и" \\ обратная косая\nновая строка', media=["files/report.pdf"]),
    dict(event_id="999:5", actor_id="user1", actor_name="Ann", channel="999",
         ts=_utc(2024, 3, 1, 9, 2, 0), kind="reply", object_id="999:4", text="agree"),
    dict(event_id="999:6", actor_id="user2", actor_name=None, channel="999",
         ts=_utc(2024, 3, 1, 9, 2, 1), kind="reply", object_id="777:1", text="#Срочно? да",
         hashtags=["срочно"]),
    dict(event_id="999:7", actor_id="user1", actor_name="Ann", channel="999",
         ts=_utc(2024, 3, 1, 9, 3, 0)),
]  # fmt: skip


@pytest.mark.parametrize("suffix", ["json", "json.gz"])
def test_round_trip_account_export(tmp_path: Path, suffix: str) -> None:
    events = _canonical(ROUND_TRIP)
    path = tmp_path / f"result.{suffix}"
    writers.telegram.write(events, str(path))
    result = ingest(path)
    assert result.inputs[0]["format"] == "telegram"
    assert result.rows == {"input": 6, "accepted": 6, "rejected": 0, "duplicates": 0}
    assert_accounting(result.rows)
    back = result.events.sort("event_id").select(FIELDS)
    assert _rows(back) == _rows(events.sort("event_id"))
    raw = gzip.decompress(path.read_bytes()) if suffix.endswith("gz") else path.read_bytes()
    doc = json.loads(raw)
    assert [c["id"] for c in doc["chats"]["list"]] == [777, 999]
    assert doc["left_chats"]["list"] == []


def test_round_trip_single_chat_layout(tmp_path: Path) -> None:
    events = _canonical(ROUND_TRIP[:3])
    path = tmp_path / "result.json"
    writers.telegram.write(events, str(path))
    text = path.read_text(encoding="utf-8")
    # Telegram Desktop's layout: one-space indentation, the chat's fields first
    assert text.startswith(
        '{\n "name": "Канал 777",\n "type": "public_channel",\n "id": 777,\n "messages": [\n'
        '  {\n   "id": 1,\n   "type": "message",\n   "date": "2024-03-01T09:00:00",\n'
        '   "date_unixtime": "1709283600",\n   "from": "Канал 777",\n'
        '   "from_id": "channel777",\n   "photo": "photos/photo_1.jpg",\n   "text": [\n'
        '    "Новость дня ",\n    {\n     "type": "link",\n'
        '     "text": "https://example.com/a"\n    },\n'
    )
    doc = json.loads(text)
    messages = doc["messages"]
    # fields absent rather than null, as Telegram Desktop writes them
    assert list(messages[1]) == [
        "id", "type", "date", "date_unixtime", "from", "from_id", "forwarded_from",
        "forwarded_from_id", "text", "text_entities",
    ]  # fmt: skip
    assert messages[1]["forwarded_from"] == "channel888"
    assert list(messages[2]) == [
        "id", "type", "date", "date_unixtime", "from", "from_id", "forwarded_from", "file",
        "text", "text_entities",
    ]  # fmt: skip
    assert messages[2]["forwarded_from"] == "Старый канал"
    # text: a string when it is one plain part, else strings mixed with entity objects
    assert messages[2]["text"] == 'Кавычки "и" \\ обратная косая\nновая строка'
    assert messages[1]["text"] == ["Переслано: смотрите ", {"type": "mention", "text": "@someone"}]
    assert messages[1]["text_entities"] == [
        {"type": "plain", "text": "Переслано: смотрите "},
        {"type": "mention", "text": "@someone"},
    ]
    back = ingest(path).events
    assert _rows(back) == _rows(events)


def test_write_events_not_from_telegram(tmp_path: Path) -> None:
    """Simulated-style events: ids renumbered per chat, objects resolved, kinds mapped,
    list items missing from the text appended to it."""
    events = _canonical([
        dict(event_id="e10", actor_id="a1", actor_name="Alpha", ts=_utc(2024, 3, 1, 0, 0, 5),
             text="original post", urls=["https://news.example/x"], hashtags=["tag"]),
        dict(event_id="e11", actor_id="a2", actor_name="Beta", ts=_utc(2024, 3, 1, 0, 0, 9),
             kind="repost", object_id="e10"),
        dict(event_id="e12", actor_id="a3", ts=_utc(2024, 3, 1, 0, 0, 7), kind="quote",
             object_id="e10", text="so true", mentions=["1234"]),
        dict(event_id="e13", actor_id="a3", ts=_utc(2024, 3, 1, 0, 1, 0), kind="reply",
             object_id="gone", text="where?"),
        dict(event_id="e14", actor_id="a2", actor_name="Beta", ts=_utc(2024, 3, 1, 0, 2, 0),
             kind="reaction"),
    ])  # fmt: skip
    path = tmp_path / "result.json"
    writers.telegram.write(events, str(path))
    doc = json.loads(path.read_text(encoding="utf-8"))
    assert (doc["name"], doc["type"], doc["id"]) == ("coordscope", "public_supergroup", 1000000000)
    messages = doc["messages"]
    assert [m["id"] for m in messages] == [1, 2, 3, 4, 5]  # in time order
    assert [m["from_id"] for m in messages] == ["a1", "a3", "a2", "a3", "a2"]
    assert messages[0]["text"] == [
        "original post ",
        {"type": "link", "text": "https://news.example/x"},
        " ",
        {"type": "hashtag", "text": "#tag"},
    ]
    assert messages[1]["reply_to_message_id"] == 1  # the quote: a reply to message 1
    assert (messages[2]["forwarded_from"], messages[2]["forwarded_from_id"]) == ("Alpha", "e10")
    assert messages[3]["reply_to_message_id"] >= 2_000_000_000  # target not in the data
    assert "forwarded_from" not in messages[4] and "reply_to_message_id" not in messages[4]
    result = ingest(path)
    assert result.rows == {"input": 5, "accepted": 5, "rejected": 0, "duplicates": 0}
    back = result.events
    assert back["event_id"].to_list() == [f"1000000000:{i}" for i in range(1, 6)]
    assert back["kind"].cast(pl.String).to_list() == ["post", "reply", "forward", "reply", "post"]
    assert back["object_id"].to_list()[:3] == [None, "1000000000:1", "e10"]
    assert back["text"].to_list()[:2] == ["original post https://news.example/x #tag",
                                          "so true @1234"]  # fmt: skip
    assert back["mentions"].to_list()[1] == ["1234"]


def test_write_empty(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    writers.telegram.write(pl.DataFrame(schema=EVENT_SCHEMA), str(path))
    assert json.loads(path.read_text())["messages"] == []
    result = ingest(path, format="telegram")
    assert result.rows == {"input": 0, "accepted": 0, "rejected": 0, "duplicates": 0}


def test_text_and_entities_by_hand() -> None:
    cases: list[tuple[str | None, list[str], list[str], list[str]]] = [
        ("a https://x.com/1 #Tag @u b", ["https://x.com/1"], ["tag"], ["u"]),
        ("see https://y.com #other", ["https://y.com"], [], []),  # a token not listed
        ("https://x.com/1", ["https://x.com/1", "https://z.com"], ["h"], []),  # appended
        ("", [], ["a", "b"], []),
        ("#Tag rest", [], ["tag"], []),
        (None, ["https://q.com"], [], []),
        ("#a #a", [], ["a"], []),
        ("go https://WWW.Example.com/a?utm_source=x", ["https://example.com/a"], [], []),
        ("plain text", [], [], []),
        ('quote " and \\ and\nnewline @Bob', [], [], ["bob"]),
        ('say "hi"\nnext #Tag#b', [], ["tag", "b", "c"], []),
        ("@u https://x.com/1", ["https://x.com/1"], [], ["u"]),
        ("RT: news https://t.co/AbC", ["https://real.example/x"], [], []),  # t.co stays text
    ]
    ev = pl.DataFrame(
        {
            "_row": list(range(len(cases))),
            "text": [c[0] for c in cases],
            "urls": [c[1] for c in cases],
            "hashtags": [c[2] for c in cases],
            "mentions": [c[3] for c in cases],
        },
        schema={"_row": pl.UInt32, "text": pl.String, "urls": pl.List(pl.String),
                "hashtags": pl.List(pl.String), "mentions": pl.List(pl.String)},
    )  # fmt: skip
    rendered = text_and_entities(ev).sort("_row")
    texts = [json.loads(t) for t in rendered["_text_json"]]
    assert texts[2] == [
        {"type": "link", "text": "https://x.com/1"},
        " ",
        {"type": "link", "text": "https://z.com"},
        " ",
        {"type": "hashtag", "text": "#h"},
    ]
    assert texts[3] == [" ", {"type": "hashtag", "text": "#a"}, " ",
                        {"type": "hashtag", "text": "#b"}]  # fmt: skip
    assert texts[1] == ["see ", {"type": "link", "text": "https://y.com"}, " #other"]
    assert texts[7] == ["go ", {"type": "link", "text": "https://WWW.Example.com/a?utm_source=x"}]
    assert texts[8] == "plain text"
    entities = [json.loads(t) for t in rendered["_entities_json"]]
    assert entities[8] == [{"type": "plain", "text": "plain text"}]
    assert entities[9][-1] == {"type": "mention", "text": "@Bob"}
    assert texts[10] == [
        'say "hi"\nnext ',
        {"type": "hashtag", "text": "#Tag"},
        {"type": "hashtag", "text": "#b"},
        " ",
        {"type": "hashtag", "text": "#c"},
    ]
    assert texts[12] == [
        "RT: news https://t.co/AbC ",
        {"type": "link", "text": "https://real.example/x"},
    ]
    assert texts[11] == [
        {"type": "mention", "text": "@u"},
        " ",
        {"type": "link", "text": "https://x.com/1"},
    ]


def test_text_and_entities_of_simulated_events_say_the_same_text() -> None:
    """Every row is rendered once; ``text`` and ``text_entities`` spell the same text."""
    events, _ = simulate("mixed", seed=5, size=5000, raw_urls=True)
    rendered = text_and_entities(events.with_row_index("_row")).sort("_row")
    assert rendered["_row"].to_list() == list(range(events.height))
    for text_json, entities_json in zip(
        rendered["_text_json"], rendered["_entities_json"], strict=True
    ):
        text = json.loads(text_json)
        parts = [text] if isinstance(text, str) else text
        spelled = "".join(p if isinstance(p, str) else p["text"] for p in parts)
        assert spelled == "".join(e["text"] for e in json.loads(entities_json))
