"""Action extraction (event → key) of every signal, worked by hand.

Each test builds a tiny canonical event table (checked with ``validate_events``), calls
``coordscope.actions`` for one signal and compares the whole result with rows written down
literally: ``(key, actor_id, ts, event_id, event)``, where ``event`` is the row number of the
event in the input table. A comment next to each expected row says why that key, and why
the rows that are not there give no action.

What ``actions`` itself does and what it leaves to the readers: the canonical table already
holds normalised URLs, lower-case hashtags and mentions (done at ingest by
``coordscope.datasets.normalize``). ``actions`` takes list items as they are; tests that
show a key normalising run the ingest normaliser first and say so.
"""

from __future__ import annotations

import inspect
from datetime import datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from coordscope import EVENT_SCHEMA, ParameterError, actions, validate_events
from coordscope.datasets.normalize import normalize_hashtags, normalize_mentions, normalize_urls
from coordscope.schema import ACTION_SCHEMA
from tests.conftest import expected_event, utc

#: The action table (``(actor, ts, key, event)``), in column order.
ACTIONS = {
    "signal": pl.String(),
    "key": pl.String(),
    "actor_id": pl.String(),
    "ts": pl.Datetime("us", "UTC"),
    "event_id": pl.String(),
    "event": pl.UInt32(),
}

EVERY_SIGNAL = (
    "co_share", "co_quote", "co_reply", "co_link", "co_domain", "co_hashtag", "co_mention",
    "co_text", "co_similar", "co_media", "co_post", "co_created",
)  # fmt: skip

Row = tuple[str, str, datetime, str | None, int]


def at(second: int) -> datetime:
    """Event times: seconds after 2024-05-01 12:00 UTC."""
    return utc(2024, 5, 1, 12, 0, second)


def ev(event_id: str, actor_id: str, second: int, **values: Any) -> dict[str, Any]:
    """One canonical event (empty lists and nulls unless named)."""
    return expected_event(
        event_id=event_id, platform="generic", actor_id=actor_id, ts=at(second), **values
    )


def table(*rows: dict[str, Any]) -> pl.DataFrame:
    """A canonical event table, validated against the canonical event schema."""
    return validate_events(pl.DataFrame(list(rows), schema=EVENT_SCHEMA))


def run(events: pl.DataFrame, signal: str, **options: Any) -> pl.DataFrame:
    """``actions`` for one signal (keyword ``signal=`` today, ``signals=`` if it is renamed)."""
    params = inspect.signature(actions).parameters
    if "signal" in params:
        return actions(events, signal=signal, **options)
    return actions(events, signals=[signal], **options)


def expect(signal: str, rows: list[Row]) -> pl.DataFrame:
    """The expected actions: ``(key, actor_id, ts, event_id, event)`` per row."""
    return pl.DataFrame([(signal, *row) for row in rows], schema=ACTIONS, orient="row")


def check(got: pl.DataFrame, signal: str, rows: list[Row]) -> None:
    """Exact comparison (schema, column order, every value), both sides sorted."""
    want = expect(signal, rows)
    order = ["event", "key"]
    assert_frame_equal(got.sort(order), want.sort(order))


# --------------------------------------------------------------------------------------
# co_share, co_quote, co_reply: the object_id of the kinds that point at an object

OBJECTS = table(
    ev("e0", "a", 0, kind="post", object_id=None),
    ev("e1", "a", 1, kind="repost", object_id="T1"),
    ev("e2", "b", 2, kind="forward", object_id="T1"),
    ev("e3", "c", 3, kind="quote", object_id="T1"),
    ev("e4", "d", 4, kind="reply", object_id="T1"),
    ev("e5", "e", 5, kind="comment", object_id="T2"),
    ev("e6", "f", 6, kind="reaction", object_id="T1"),
    ev("e7", "g", 7, kind="repost", object_id=None),
    ev("e8", "h", 8, kind="forward", object_id=""),
    ev("e9", "a", 9, kind="repost", object_id="t1"),
    ev("e10", "i", 10, kind="quote", object_id=""),
    ev("e11", "j", 11, kind="reply", object_id=None),
    ev("e12", "k", 12, kind="comment", object_id=""),
)


def test_co_share_keys_the_object_of_reposts_and_forwards() -> None:
    check(
        run(OBJECTS, "co_share"),
        "co_share",
        [
            ("T1", "a", at(1), "e1", 1),  # repost of T1
            ("T1", "b", at(2), "e2", 2),  # forward (Telegram) counts as a share
            # e9: object ids are ids, not text: "t1" is not lower-cased into "T1"
            ("t1", "a", at(9), "e9", 9),
            # not here: e0 post, e3 quote, e4 reply, e5 comment, e6 reaction (other
            # kinds); e7 null object; e8 empty object (never a key)
        ],
    )


def test_co_quote_keys_the_object_of_quotes_only() -> None:
    check(
        run(OBJECTS, "co_quote"),
        "co_quote",
        [
            ("T1", "c", at(3), "e3", 3),  # the only quote with an object
            # e10 quote with an empty object: no action; reposts/replies of T1: other kinds
        ],
    )


def test_co_reply_keys_the_object_of_replies_and_comments() -> None:
    check(
        run(OBJECTS, "co_reply"),
        "co_reply",
        [
            ("T1", "d", at(4), "e4", 4),  # reply
            ("T2", "e", at(5), "e5", 5),  # comment (Facebook-style) counts as a reply
            # e11 reply with null object, e12 comment with empty object: no action
        ],
    )


def test_object_signals_keep_duplicate_rows_and_whitespace_objects() -> None:
    events = table(
        ev("d0", "a", 0, kind="repost", object_id="T1"),
        # the same event twice (readers drop exact duplicates; actions
        # does not): one action per row, told apart by the row number ``event``
        ev("d0", "a", 0, kind="repost", object_id="T1"),
        # a whitespace-only object is not the empty string, so it is kept as a key
        # (SUSPECTED BUG: a blank cell that a reader did not strip becomes a key shared
        # by every such event; validate_events does not check object_id for blanks)
        ev("d2", "b", 1, kind="repost", object_id=" "),
        ev("d3", "c", 2, kind="forward", object_id=" "),
    )
    check(
        run(events, "co_share"),
        "co_share",
        [
            ("T1", "a", at(0), "d0", 0),
            ("T1", "a", at(0), "d0", 1),
            (" ", "b", at(1), "d2", 2),
            (" ", "c", at(2), "d3", 3),
        ],
    )


# --------------------------------------------------------------------------------------
# co_link, co_domain: one action per distinct URL / registrable domain of an event

LINKS = table(
    # two distinct URLs (the repeat of /a collapses): two actions
    ev(
        "l0",
        "a",
        0,
        urls=["https://example.com/a", "https://example.com/b", "https://example.com/a"],
    ),
    # any kind with URLs counts, not only posts
    ev("l1", "b", 1, kind="repost", object_id="X", urls=["https://example.com/a"]),
    ev("l2", "c", 2, urls=[]),  # no URL: no action
    ev("l3", "d", 3, urls=None),  # null list: no action
    # not normalised by ``actions`` (readers normalise): the raw string is the key
    ev("l4", "e", 4, urls=["https://Example.com/A/?utm_source=x"]),
    ev(
        "l5",
        "f",
        5,
        urls=[
            "https://news.bbc.co.uk/1",
            "https://www.bbc.co.uk/2",
            "http://user.github.io/p",
            "https://shop.example.com:8443/x",
            "example.org/no-scheme",
        ],
    ),
)


def test_co_link_one_action_per_distinct_url() -> None:
    check(
        run(LINKS, "co_link"),
        "co_link",
        [
            ("https://example.com/a", "a", at(0), "l0", 0),
            ("https://example.com/b", "a", at(0), "l0", 0),  # the second /a: same action
            ("https://example.com/a", "b", at(1), "l1", 1),  # a repost with a link
            ("https://Example.com/A/?utm_source=x", "e", at(4), "l4", 4),  # verbatim
            ("https://news.bbc.co.uk/1", "f", at(5), "l5", 5),
            ("https://www.bbc.co.uk/2", "f", at(5), "l5", 5),
            ("http://user.github.io/p", "f", at(5), "l5", 5),
            ("https://shop.example.com:8443/x", "f", at(5), "l5", 5),
            ("example.org/no-scheme", "f", at(5), "l5", 5),  # kept as written
        ],
    )


def test_co_link_key_after_ingest_normalisation() -> None:
    # What a reader does to the list before ``actions`` sees it: scheme and
    # host lower-cased, "www." dropped, default port :443 dropped, fragment dropped,
    # tracking parameters (utm_*, fbclid) dropped, the rest of the query kept (id=7),
    # trailing slash dropped, path case kept ("/A" stays "/A"); empty items dropped.
    raw = table(
        ev("n0", "a", 0, urls=["HTTPS://www.Example.COM:443/a/?utm_source=tw&fbclid=1#top"]),
        ev("n1", "b", 1, urls=["https://example.com/a?id=7&utm_medium=social"]),
        ev("n2", "c", 2, urls=["https://example.com/A/"]),
    )
    events = validate_events(raw.with_columns(normalize_urls(pl.col("urls"))))
    check(
        run(events, "co_link"),
        "co_link",
        [
            ("https://example.com/a", "a", at(0), "n0", 0),
            ("https://example.com/a?id=7", "b", at(1), "n1", 1),  # a content parameter
            ("https://example.com/A", "c", at(2), "n2", 2),  # paths are case-sensitive
        ],
    )


def test_co_domain_registrable_domain_once_per_event() -> None:
    check(
        run(LINKS, "co_domain"),
        "co_domain",
        [
            # l0: /a and /b are one domain: one action
            ("example.com", "a", at(0), "l0", 0),
            ("example.com", "b", at(1), "l1", 1),
            ("example.com", "e", at(4), "l4", 4),  # host "Example.com" lower-cased
            # l5: news.bbc.co.uk and www.bbc.co.uk: "co" is a second-level label, so
            # three labels are kept, and both give one bbc.co.uk action
            ("bbc.co.uk", "f", at(5), "l5", 5),
            # github.io hosts user sites: "github" is in the second-level list
            ("user.github.io", "f", at(5), "l5", 5),
            # shop.example.com:8443: port and subdomain dropped
            ("example.com", "f", at(5), "l5", 5),
            # "example.org/no-scheme": no scheme, no host, no domain action (although it
            # is a co_link key)
        ],
    )


def test_co_domain_hosts_that_are_not_names() -> None:
    # Hosts that are not names, and names the Public Suffix List decides
    events = table(
        # IPv4 hosts are their own domain: 192.168.1.1 and 10.0.1.1 stay apart
        ev("i0", "a", 0, urls=["http://192.168.1.1/x"]),
        ev("i1", "b", 1, urls=["http://10.0.1.1/y"]),
        # IPv6 literals too, brackets kept, the port dropped
        ev("i2", "c", 2, urls=["http://[::1]/x", "https://[2001:db8::1]:8080/y"]),
        # docs.github.com and github.com are one registrable domain (github.io is the
        # suffix users register under, github.com is not): one action for the event
        ev("i3", "d", 3, urls=["https://docs.github.com/a", "https://github.com/b"]),
        # user info and a trailing dot in the host are ignored
        ev("i4", "e", 4, urls=["https://user:pw@Sub.Example.COM.:443/x"]),
        # no host at all: no action
        ev("i5", "f", 5, urls=["mailto:x@y.org"]),
        # private suffixes: every Netlify site is its own domain; an IDN in either form
        ev("i6", "g", 6, urls=["https://a.netlify.app/", "https://www.xn--bcher-kva.de/"]),
        ev("i7", "h", 7, urls=["https://b.netlify.app/", "https://bücher.de/"]),
    )
    check(
        run(events, "co_domain"),
        "co_domain",
        [
            ("192.168.1.1", "a", at(0), "i0", 0),
            ("10.0.1.1", "b", at(1), "i1", 1),
            ("[::1]", "c", at(2), "i2", 2),
            ("[2001:db8::1]", "c", at(2), "i2", 2),
            ("github.com", "d", at(3), "i3", 3),
            ("example.com", "e", at(4), "i4", 4),
            ("a.netlify.app", "g", at(6), "i6", 6),
            ("bücher.de", "g", at(6), "i6", 6),
            ("b.netlify.app", "h", at(7), "i7", 7),
            ("bücher.de", "h", at(7), "i7", 7),
        ],
    )


def test_co_domain_prefers_exported_domain_ids() -> None:
    # CooRTweet's wide tables export domain ids (``x_domain_ids``); when the column is
    # there it replaces the URL domains for EVERY row: rows with an empty or null id
    # list give no co_domain action even when they have URLs (SUSPECTED BUG for mixed
    # inputs: no fall-back to the URL's domain).
    events = table(
        ev("x0", "a", 0, urls=["https://a.example/1"]),
        ev("x1", "b", 1, urls=["https://a.example/2"]),
        ev("x2", "c", 2, urls=["https://a.example/3"]),
        ev("x3", "d", 3, urls=["https://a.example/4"]),
    ).with_columns(
        pl.Series("x_domain_ids", [["d1"], ["d1", "d2", "d1"], [], None], pl.List(pl.String))
    )
    check(
        run(validate_events(events), "co_domain"),
        "co_domain",
        [
            ("d1", "a", at(0), "x0", 0),
            ("d1", "b", at(1), "x1", 1),  # the repeated d1 collapses
            ("d2", "b", at(1), "x1", 1),
            # x2 (empty ids) and x3 (null ids): no action, their URLs are not used
        ],
    )


# --------------------------------------------------------------------------------------
# co_hashtag, co_mention: one action per distinct item


def test_co_hashtag_one_action_per_distinct_hashtag() -> None:
    events = table(
        ev("h0", "a", 0, hashtags=["vote", "election", "vote"]),  # two distinct tags
        ev("h1", "b", 1, kind="reaction", hashtags=["vote"]),  # any kind counts
        # taken as it is: lower-casing is the reader's job, so "Vote" is another key
        ev("h2", "c", 2, hashtags=["Vote"]),
        ev("h3", "d", 3, hashtags=[]),  # none
        ev("h4", "e", 4, hashtags=None),  # null list: none
    )
    check(
        run(events, "co_hashtag"),
        "co_hashtag",
        [
            ("vote", "a", at(0), "h0", 0),
            ("election", "a", at(0), "h0", 0),
            ("vote", "b", at(1), "h1", 1),
            ("Vote", "c", at(2), "h2", 2),
        ],
    )


def test_co_hashtag_key_after_ingest_normalisation() -> None:
    # the reader's step: strip, drop a leading '#' (or fullwidth '＃'), lower-case, drop
    # items that end up empty (a bare "#" must not become the key "")
    raw = pl.DataFrame(
        {"hashtags": [["#Vote", "＃ELECTION"], ["vote", "#", "  "]]},
        schema={"hashtags": pl.List(pl.String)},
    )
    normal = raw.select(normalize_hashtags(pl.col("hashtags")))["hashtags"].to_list()
    events = table(
        ev("h0", "a", 0, hashtags=normal[0]),
        ev("h1", "b", 1, hashtags=normal[1]),
    )
    check(
        run(events, "co_hashtag"),
        "co_hashtag",
        [
            ("vote", "a", at(0), "h0", 0),
            ("election", "a", at(0), "h0", 0),
            ("vote", "b", at(1), "h1", 1),  # "#" and "  " gave nothing
        ],
    )


def test_co_mention_one_action_per_distinct_mention() -> None:
    raw = pl.DataFrame(
        {"mentions": [["@Alice", "bob", "＠alice"], ["ALICE"], ["@"]]},
        schema={"mentions": pl.List(pl.String)},
    )
    # ingest normalisation: '@'/'＠' dropped, lower-case: ["alice", "bob", "alice"],
    # ["alice"], [] (a bare "@" is dropped, never the key "")
    normal = raw.select(normalize_mentions(pl.col("mentions")))["mentions"].to_list()
    events = table(
        ev("m0", "a", 0, mentions=normal[0]),
        ev("m1", "b", 1, kind="reply", object_id="m0", mentions=normal[1]),
        ev("m2", "c", 2, mentions=normal[2]),
        ev("m3", "d", 3, mentions=["12345"]),  # an account id is a key as it is
        ev("m4", "e", 4, mentions=["@Carol"]),  # not normalised by actions: verbatim
        ev("m5", "f", 5, mentions=None),
    )
    check(
        run(events, "co_mention"),
        "co_mention",
        [
            ("alice", "a", at(0), "m0", 0),  # "alice" twice in m0: one action
            ("bob", "a", at(0), "m0", 0),
            ("alice", "b", at(1), "m1", 1),
            ("12345", "d", at(3), "m3", 3),
            ("@Carol", "e", at(4), "m4", 4),
        ],
    )


# --------------------------------------------------------------------------------------
# co_text: the normalised text of non-reposts, per text rule

TEXTS = table(
    ev("t0", "a", 0, text="Vote NOW for the park!"),
    ev("t1", "b", 1, kind="quote", text="  vote   now for THE park! https://t.co/abc @friend "),
    ev("t2", "c", 2, kind="repost", object_id="t0", text="Vote NOW for the park!"),
    ev("t3", "d", 3, kind="forward", object_id="t0", text="Vote NOW for the park!"),
    ev("t4", "e", 4, kind="reaction", object_id="t0", text="Vote NOW for the park!"),
    ev("t5", "f", 5, kind="reply", object_id="t0", text="ｖｏｔｅ ｎｏｗ for the park!"),
    ev("t6", "g", 6, kind="comment", object_id="t0", text="short one"),
    ev("t7", "h", 7, text="ten chars!"),
    ev("t8", "i", 8, text=None),
    ev("t9", "j", 9, text="   "),
    ev("t10", "k", 10, text="@a @b https://x.example/yy"),
)
# Kinds that count (default ``text_kinds``): post, quote, reply, comment. Reposts,
# forwards and reactions repeat someone else's text: t2, t3, t4 never give an action.
# ``min_text_length=10`` characters of the NORMALISED text: "short one" (9) is too short,
# "ten chars!" (10) is just long enough. Null and blank texts never give an action.


def test_co_text_default_rule() -> None:
    # default: NFKC, lower-case, http(s) URLs and @mentions removed, white space
    # collapsed, ends stripped
    check(
        run(TEXTS, "co_text"),
        "co_text",
        [
            ("vote now for the park!", "a", at(0), "t0", 0),
            # t1: lower-cased, the URL and "@friend" removed, spaces collapsed: the same
            # key as t0 (an exact copy once normalised)
            ("vote now for the park!", "b", at(1), "t1", 1),
            # t5: NFKC folds the fullwidth letters to ASCII: the same key again
            ("vote now for the park!", "f", at(5), "t5", 5),
            ("ten chars!", "h", at(7), "t7", 7),
            # t10: only mentions and a URL: "" after normalisation, never a key
        ],
    )


def test_co_text_toolkit_rule() -> None:
    # coordination-network-toolkit's message_preprocessor: lower-case, "@" and what
    # follows up to white space removed, white space collapsed; URLs kept, no NFKC
    check(
        run(TEXTS, "co_text", text_rule="toolkit"),
        "co_text",
        [
            ("vote now for the park!", "a", at(0), "t0", 0),
            # the URL stays, so t1 is NOT a copy of t0 under this rule
            ("vote now for the park! https://t.co/abc", "b", at(1), "t1", 1),
            # no NFKC: fullwidth letters stay fullwidth (lower-case is a no-op on them)
            ("ｖｏｔｅ ｎｏｗ for the park!", "f", at(5), "t5", 5),
            ("ten chars!", "h", at(7), "t7", 7),
            # t10: the mentions go, the URL (20 characters) stays and is long enough
            ("https://x.example/yy", "k", at(10), "t10", 10),
        ],
    )


def test_co_text_exact_rule() -> None:
    # exact: the text as exported, only stripped at both ends (case and inner spaces kept)
    check(
        run(TEXTS, "co_text", text_rule="exact"),
        "co_text",
        [
            ("Vote NOW for the park!", "a", at(0), "t0", 0),
            ("vote   now for THE park! https://t.co/abc @friend", "b", at(1), "t1", 1),
            ("ｖｏｔｅ ｎｏｗ for the park!", "f", at(5), "t5", 5),
            ("ten chars!", "h", at(7), "t7", 7),
            ("@a @b https://x.example/yy", "k", at(10), "t10", 10),
            # t9 "   " strips to "": no action
        ],
    )


def test_co_text_toolkit_mention_removal_takes_the_whole_word() -> None:
    events = table(
        # toolkit: "@someone!" goes with its "!", and the tail of an e-mail address goes
        # from its "@": "write to name@example.org now @someone! ok" → "write to name now ok"
        ev("k0", "a", 0, text="Write to name@example.org now @someone! ok"),
    )
    check(
        run(events, "co_text", text_rule="toolkit"),
        "co_text",
        [("write to name now ok", "a", at(0), "k0", 0)],
    )
    # default: only "@" + word characters go, replaced by a space: "name@example.org" →
    # "name .org", "@someone!" → " !"; then spaces collapse
    check(
        run(events, "co_text"),
        "co_text",
        [("write to name .org now ! ok", "a", at(0), "k0", 0)],
    )


def test_co_text_length_and_kinds_are_parameters() -> None:
    # text_kinds=("repost", "comment"): only the repost t2 and the comment t6 count (the
    # posts, the quote, the reply and the forward no longer do); min_text_length=0 lets
    # the 9-character "short one" through (an empty text still never becomes a key: see
    # test_blank_events_give_no_action)
    check(
        run(TEXTS, "co_text", min_text_length=0, text_kinds=("repost", "comment")),
        "co_text",
        [
            ("vote now for the park!", "c", at(2), "t2", 2),
            ("short one", "g", at(6), "t6", 6),
        ],
    )
    # min_text_length=23: "vote now for the park!" is 22 characters: nothing is left
    check(run(TEXTS, "co_text", min_text_length=23), "co_text", [])


def test_co_text_unknown_rule_is_an_error() -> None:
    with pytest.raises(ParameterError, match=r"^text_rule must be one of"):
        run(TEXTS, "co_text", text_rule="fuzzy")


# --------------------------------------------------------------------------------------
# co_similar: the near-duplicate group (Jaccard of word sets ≥ 0.8, ≥ 5 distinct words)

#: the message of the near-duplicate group
W = "vote early vote often friends of the city"

SIMILAR = table(
    # a repost of the message: reposts are left out (as for co_text), even though it is
    # row 0 and would otherwise name the group
    ev("r0", "z", 0, kind="repost", object_id="p1", text=W),
    # word set W = {vote, early, often, friends, of, the, city}: 7 distinct words
    # (punctuation dropped, case folded)
    ev("p1", "a", 1, text="Vote early, vote often, friends of the city!"),
    # after URL and @mention removal and lower-casing, exactly W: Jaccard 1
    ev("p2", "b", 2, text="VOTE early vote OFTEN friends of the city https://t.co/x @bob"),
    # W + {today}: Jaccard 7/8 = 0.875 ≥ 0.8 (a reply counts)
    ev("p3", "c", 3, kind="reply", object_id="p1", text=W + " today"),
    # {vote, early, friends, of, the, town}: 5 shared of 8 in the union, 0.625 < 0.8
    ev("p4", "d", 4, text="vote early friends of the town"),
    # two identical texts of 4 distinct words: fewer than min_shingles=5, no group
    ev("p5", "e", 5, text="one two three four"),
    ev("p6", "f", 6, text="one two three four"),
    # a reaction with W: not a text kind
    ev("p7", "g", 7, kind="reaction", object_id="p1", text=W),
    ev("p8", "h", 8, text=None),
)


def test_co_similar_groups_near_duplicates() -> None:
    # one group {p1, p2, p3}; its key is the event_id of its first message in input
    # order among the messages that count (p1)
    check(
        run(SIMILAR, "co_similar"),
        "co_similar",
        [
            ("p1", "a", at(1), "p1", 1),
            ("p1", "b", at(2), "p2", 2),
            ("p1", "c", at(3), "p3", 3),
            # p4 is in no group of two; p5, p6 are too short; p8 has no text
        ],
    )


def test_co_similar_threshold_and_min_words_are_parameters() -> None:
    # similarity=1.0: only identical word sets, p1 and p2 (p3 has 0.875)
    check(
        run(SIMILAR, "co_similar", similarity=1.0),
        "co_similar",
        [("p1", "a", at(1), "p1", 1), ("p1", "b", at(2), "p2", 2)],
    )
    # min_shingles=4: p5 and p6 (4 words each, identical) form a second group, keyed p5
    check(
        run(SIMILAR, "co_similar", min_shingles=4),
        "co_similar",
        [
            ("p1", "a", at(1), "p1", 1),
            ("p1", "b", at(2), "p2", 2),
            ("p1", "c", at(3), "p3", 3),
            ("p5", "e", at(5), "p5", 5),
            ("p5", "f", at(6), "p6", 6),
        ],
    )


# --------------------------------------------------------------------------------------
# co_media: exact media ids, or groups of perceptual hashes within d bits

MEDIA = table(
    # 0x..ff (bits 0-7 set; "0x" prefix and upper-case hex allowed) and 0x..01 (bit 0);
    # photo_1 twice collapses to one action
    ev("m0", "a", 0, media=["0x00000000000000FF", "0000000000000001", "photo_1", "photo_1"]),
    ev("m1", "b", 1, media=["000000000000007f"]),  # bits 0-6
    ev("m2", "c", 2, media=["0000000000000fff"]),  # bits 0-11
    # exact ids are case-sensitive; all-ones is 52+ bits from every other hash
    ev("m3", "d", 3, media=["PHOTO_1", "ffffffffffffffff"]),
    ev("m4", "e", 4, media=[]),
    # any kind counts; a 3-digit hex string is not a 64-bit hash: an exact id
    ev("m5", "f", 5, kind="repost", object_id="m0", media=["0x00000000000000ff", "0x123"]),
    ev("m6", "g", 6, media=None),
)
# Hamming distances: 01–7f 6 bits, 7f–ff 1, ff–fff 4, 01–ff 7, 01–fff 11.


def test_co_media_default_distance_six_links_a_chain() -> None:
    # d = 6: 01–7f (6) and 7f–ff (1) and ff–fff (4) are links, so {01, 7f, ff, fff} is
    # one group (single linkage, although 01–ff is 7 bits); its key is the smallest
    # hash: phash:0000000000000001. In m0 both hashes fall in it: one action.
    g = "phash:0000000000000001"
    check(
        run(MEDIA, "co_media"),
        "co_media",
        [
            (g, "a", at(0), "m0", 0),
            ("photo_1", "a", at(0), "m0", 0),
            (g, "b", at(1), "m1", 1),
            (g, "c", at(2), "m2", 2),
            ("PHOTO_1", "d", at(3), "m3", 3),
            ("phash:ffffffffffffffff", "d", at(3), "m3", 3),
            (g, "f", at(5), "m5", 5),
            ("0x123", "f", at(5), "m5", 5),
        ],
    )


def test_co_media_distance_is_a_parameter() -> None:
    # d = 1: only 7f–ff (1 bit) links; the group {7f, ff} is keyed by 7f; 01 and fff
    # are alone (keys are written as 16 lower-case hex digits)
    check(
        run(MEDIA, "co_media", media_distance=1),
        "co_media",
        [
            ("phash:000000000000007f", "a", at(0), "m0", 0),
            ("phash:0000000000000001", "a", at(0), "m0", 0),
            ("photo_1", "a", at(0), "m0", 0),
            ("phash:000000000000007f", "b", at(1), "m1", 1),
            ("phash:0000000000000fff", "c", at(2), "m2", 2),
            ("PHOTO_1", "d", at(3), "m3", 3),
            ("phash:ffffffffffffffff", "d", at(3), "m3", 3),
            ("phash:000000000000007f", "f", at(5), "m5", 5),
            ("0x123", "f", at(5), "m5", 5),
        ],
    )
    # d = 0: exact hashes; "0x…FF" and "0x…ff" are still one hash
    check(
        run(MEDIA, "co_media", media_distance=0),
        "co_media",
        [
            ("phash:00000000000000ff", "a", at(0), "m0", 0),
            ("phash:0000000000000001", "a", at(0), "m0", 0),
            ("photo_1", "a", at(0), "m0", 0),
            ("phash:000000000000007f", "b", at(1), "m1", 1),
            ("phash:0000000000000fff", "c", at(2), "m2", 2),
            ("PHOTO_1", "d", at(3), "m3", 3),
            ("phash:ffffffffffffffff", "d", at(3), "m3", 3),
            ("phash:00000000000000ff", "f", at(5), "m5", 5),
            ("0x123", "f", at(5), "m5", 5),
        ],
    )


# --------------------------------------------------------------------------------------
# co_post, co_created: one constant key


def test_co_post_every_event_one_constant_key() -> None:
    events = table(
        ev("q0", "a", 0),  # a post with nothing in it still acts
        ev("q1", "a", 0, kind="repost", object_id="q9"),  # same actor, same second
        ev("q2", "b", 3, kind="reaction", object_id="q0"),
        ev("q2", "b", 3, kind="reaction", object_id="q0"),  # a duplicate row: kept
    )
    check(
        run(events, "co_post"),
        "co_post",
        [
            ("*", "a", at(0), "q0", 0),
            ("*", "a", at(0), "q1", 1),
            ("*", "b", at(3), "q2", 2),
            ("*", "b", at(3), "q2", 3),
        ],
    )


def test_co_created_one_action_per_account_at_its_creation_time() -> None:
    events = table(
        ev("c0", "a", 0, actor_created=None),  # a's first row has no creation time
        ev("c1", "a", 1, actor_created=utc(2020, 1, 1)),
        ev("c2", "a", 2, actor_created=utc(2020, 1, 1)),
        ev("c3", "b", 3, actor_created=utc(2023, 6, 1, 8)),
        ev("c4", "b", 4, actor_created=utc(2019, 1, 1)),  # conflicting: first row wins
        ev("c5", "c", 5, actor_created=None),  # never exported: no action
    )
    check(
        run(events, "co_created"),
        "co_created",
        [
            # ts is actor_created, not the event time; event_id is null (the action is
            # the account, not a message); event is the first row that gave the time
            ("*", "a", utc(2020, 1, 1), None, 1),
            ("*", "b", utc(2023, 6, 1, 8), None, 3),
        ],
    )


# --------------------------------------------------------------------------------------
# every signal: empty cells never link, empty tables, unknown names

BLANK = table(
    *[
        ev(f"b{i}", f"u{i}", i, kind=kind, object_id=obj, text=text)
        for i, (kind, obj, text) in enumerate(
            [
                ("post", None, None),
                ("post", None, ""),
                ("repost", "", None),
                ("forward", None, None),
                ("quote", "", "  "),
                ("reply", None, "\t\n"),
                ("comment", "", None),
                ("reaction", None, None),
            ]
        )
    ]
)


@pytest.mark.parametrize("signal", [s for s in EVERY_SIGNAL if s != "co_post"])
def test_blank_events_give_no_action(signal: str) -> None:
    # every object, text and list is null, empty or blank, and no creation time: a key
    # made of an empty cell would link all eight accounts, so there must be none
    check(run(BLANK, signal, min_text_length=0, min_shingles=1), signal, [])


def test_blank_events_still_act_for_co_post() -> None:
    # co_post needs no content: one "*" action per event
    check(
        run(BLANK, "co_post"),
        "co_post",
        [("*", f"u{i}", at(i), f"b{i}", i) for i in range(8)],
    )


@pytest.mark.parametrize("signal", EVERY_SIGNAL)
def test_empty_table_gives_empty_actions(signal: str) -> None:
    check(run(table(), signal), signal, [])


def test_unknown_signal_is_an_error() -> None:
    with pytest.raises(ParameterError, match="co_shares"):
        run(OBJECTS, "co_shares")


@settings(max_examples=8, deadline=None)
@given(rows=st.integers(25, 600))
def test_action_batches_concatenated_are_the_actions(rows: int) -> None:
    # every signal of a simulated input, a slice of `rows` events at a time (those made
    # event by event) or whole (the others): the same rows, in the same order
    from coordscope.datasets.simulate import simulate
    from coordscope.signals.actions import ROW_LOCAL, action_batches

    events, _ = simulate("mixed", seed=3, size="tiny")
    for signal in (*ROW_LOCAL, "co_created", "co_similar"):
        whole = actions(events, signals=signal)
        parts = list(action_batches(events.lazy(), signal=signal, rows=rows))
        if signal in ROW_LOCAL:
            assert len(parts) == -(-events.height // rows)
        else:
            assert len(parts) == 1
        assert pl.concat(parts).equals(whole), signal


def test_local_runner_maps_event_batches_with_their_row_numbers(tmp_path: Path) -> None:
    # the runners' batch map (what Spark runs over its own batches) gives, concatenated,
    # exactly the actions of the whole input: 700 events in batches of 300, 300 and 100
    import functools

    from coordscope.datasets.simulate import simulate
    from coordscope.engine.runners import LocalRunner
    from coordscope.parts import WorkDir
    from coordscope.signals.actions import _batch_actions

    events, _ = simulate("mixed", seed=1, size="tiny")
    events = events.head(700)
    work = WorkDir(tmp_path)
    task = functools.partial(_batch_actions, signal="co_hashtag")
    pieces = list(LocalRunner().map_events(events, task, rows=300, work=work))
    assert len(pieces) == 3
    assert [p["event"].min() >= 300 * i for i, p in enumerate(pieces)] == [True] * 3
    mapped = pl.concat(pieces).drop("i").cast(pl.Schema(ACTION_SCHEMA))
    whole = actions(events, signals="co_hashtag")
    assert whole.height > 50
    assert mapped.equals(whole)
