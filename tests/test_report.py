"""The HTML report: escaping of every data-derived field, structure, empty results,
determinism, and the small aggregation kernels behind it (hand-checked, brute force,
hypothesis)."""

from __future__ import annotations

import re
from datetime import timedelta
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from markupsafe import escape

from coordscope.errors import ParameterError
from coordscope.outputs import AuditResult
from coordscope.parts import PartedTable
from coordscope.report import _data as data
from coordscope.report import _plots as plots
from coordscope.report import render_report, write_report
from coordscope.schema import (
    AUDIT_EDGE_SCHEMA,
    BURST_SCHEMA,
    CLUSTER_SCHEMA,
    EVENT_SCHEMA,
    EVIDENCE_SCHEMA,
    NODE_SCHEMA,
)
from tests.conftest import utc

# --------------------------------------------------------------------------- fixture

#: Every data-derived string of the fixture, by field; tests replace one or all of them.
BASE: dict[str, str] = {
    "a1": "1001",
    "a2": "1002",
    "a3": "1003",
    "o1": "2001",
    "alice": "alice",
    "bob": "bob",
    "carol": "carol",
    "dave": "dave",
    "object": "9009",
    "url": "https://news.example/x",
    "text": "RT go",
    "link_text": "read https://news.example/x",
    "platform": "twitter",
    "signal": "co_share",
    "domain": "news.example",
    "burst_key": "9009",
    "burst_signal": "co_share",
    "version": "0.1.0",
    "param_name": "window_note",
    "param_value": "as given",
    "path": "data/tweets.jsonl",
    "format": "twitter-v2",
    "reason": "bad timestamp",
    "count_name": "edges",
}


def payload(tag: str) -> str:
    """A string that runs script or breaks out of markup if it is not escaped."""
    return (
        f"<script>document.title='{tag}'</script><img src=x "
        f"onerror=\"document.body.setAttribute('data-pwned','{tag}')\"></style>'\"{tag}"
    )


def make_result(**values: str) -> AuditResult:
    """A hand-checkable audit: accounts a1, a2, a3 co-share one post within 9 s and a1, a2
    co-link one URL 2 s apart (cluster 1, significant); o1 acts alone; one burst; one
    reject. ``values`` replace entries of :data:`BASE`."""
    v = {**BASE, **values}
    t = utc(2024, 3, 1, 12)
    s = timedelta(seconds=1)
    rows = [  # event_id, actor, name, ts, kind, object, text, urls
        ("e1", v["a1"], v["alice"], t, "repost", v["object"], v["text"], []),
        ("e2", v["a2"], v["bob"], t + 5 * s, "repost", v["object"], v["text"], []),
        ("e3", v["a3"], v["carol"], t + 9 * s, "repost", v["object"], v["text"], []),
        ("e4", v["a1"], v["alice"], t + 1800 * s, "post", None, v["link_text"], [v["url"]]),
        ("e5", v["a2"], v["bob"], t + 1802 * s, "post", None, v["link_text"], [v["url"]]),
        ("e6", v["o1"], v["dave"], t + 3600 * s, "post", None, "hello", []),
    ]
    events = pl.DataFrame(
        {
            "event_id": [r[0] for r in rows],
            "platform": [v["platform"]] * 6,
            "actor_id": [r[1] for r in rows],
            "actor_name": [r[2] for r in rows],
            "ts": [r[3] for r in rows],
            "kind": [r[4] for r in rows],
            "object_id": [r[5] for r in rows],
            "text": [r[6] for r in rows],
            "urls": [r[7] for r in rows],
            "hashtags": [[]] * 6,
            "mentions": [[]] * 6,
            "media": [[]] * 6,
            "channel": [None] * 6,
            "actor_created": [None] * 6,
        },
        schema=EVENT_SCHEMA,
    )
    ts = dict(zip(events["event_id"], events["ts"], strict=True))
    co = [  # a, b, signal, key, dt, event_a, event_b
        (v["a1"], v["a2"], v["signal"], v["object"], 5.0, "e1", "e2"),
        (v["a1"], v["a3"], v["signal"], v["object"], 9.0, "e1", "e3"),
        (v["a2"], v["a3"], v["signal"], v["object"], 4.0, "e2", "e3"),
        (v["a1"], v["a2"], "co_link", v["url"], 2.0, "e4", "e5"),
    ]
    coactions = pl.DataFrame(
        {
            "actor_a": [r[0] for r in co],
            "actor_b": [r[1] for r in co],
            "signal": [r[2] for r in co],
            "key": [r[3] for r in co],
            "n_coactions": [1] * 4,
            "dt": [r[4] for r in co],
            "event_a": [r[5] for r in co],
            "event_b": [r[6] for r in co],
            "ts_a": [ts[r[5]] for r in co],
            "ts_b": [ts[r[6]] for r in co],
        },
        schema=EVIDENCE_SCHEMA,
    )
    edges = pl.DataFrame(
        {
            "actor_a": [v["a1"], v["a1"], v["a2"]],
            "actor_b": [v["a2"], v["a3"], v["a3"]],
            "n_keys": [2, 1, 1],
            "n_coactions": [2, 1, 1],
            "min_dt": [2.0, 9.0, 4.0],
            "median_dt": [3.5, 9.0, 4.0],
            "first_ts": [t, t, t + 5 * s],
            "last_ts": [t + 1802 * s, t + 9 * s, t + 9 * s],
            "signals": [[v["signal"], "co_link"], [v["signal"]], [v["signal"]]],
            "expected": [0.1, 0.1, 0.1],
            "pvalue": [0.001, 0.01, 0.01],
            "qvalue": [0.003, 0.015, 0.015],
            "significant": [True] * 3,
            "evidence": ["sync"] * 3,
            "cluster": [1, 1, 1],
        },
        schema=AUDIT_EDGE_SCHEMA,
    )
    ids = [v["a1"], v["a2"], v["a3"], v["o1"]]
    nodes = pl.DataFrame(
        {
            "actor_id": ids,
            "actor_name": [v["alice"], v["bob"], v["carol"], v["dave"]],
            "n_events": [2, 2, 1, 1],
            "n_actions": [2, 2, 1, 1],
            "first_ts": [t, t + 5 * s, t + 9 * s, t + 3600 * s],
            "last_ts": [t + 1800 * s, t + 1802 * s, t + 9 * s, t + 3600 * s],
            "degree": [2, 2, 2, 0],
            "sig_degree": [2, 2, 2, 0],
            "strength": [3, 3, 2, 0],
            "cluster": [1, 1, 1, None],
            "flagged": [True, True, True, False],
        },
        schema=NODE_SCHEMA,
    ).sort("actor_id")
    clusters = pl.DataFrame(
        {
            "cluster": [1],
            "campaign": ["C-20240301-abcdef"],
            "members": [sorted(ids[:3])],
            "size": [3],
            "n_edges": [3],
            "density": [1.0],
            "n_keys": [2],
            "top_keys": [[v["object"], v["url"]]],
            "signals": [sorted([v["signal"], "co_link"])],
            "median_dt": [4.5],
            "first_ts": [t],
            "last_ts": [t + 1802 * s],
            "statistic": [4.0],
            "expected": [0.3],
            "pvalue": [1e-4],
            "qvalue": [1e-4],
            "significant": [True],
            "score": [12.5],
            "mean_strength": [2.67],
            "mean_degree": [2.0],
            "coordinated_share": [1.0],
            "domain_gini": [0.0],
            "top_domains": [[v["domain"]]],
        },
        schema=CLUSTER_SCHEMA,
    )
    bursts = pl.DataFrame(
        {
            "burst": [1],
            "signal": [v["burst_signal"]],
            "key": [v["burst_key"]],
            "start": [t],
            "end": [t + 9 * s],
            "actions": [3],
            "actors": [3],
            "synchrony": [0.9],
            "cluster_share": [1.0],
            "recurrence": [0],
            "cluster": [1],
            "score": [7.0],
        },
        schema=BURST_SCHEMA,
    )
    rejects = pl.DataFrame({"source": [v["path"]], "record": [3], "reason": [v["reason"]]})
    summary: dict[str, Any] = {
        "version": v["version"],
        "parameters": {
            "window": 60.0,
            "alpha": 0.05,
            "signals": [v["signal"], "co_link"],
            "seed": 0,
            v["param_name"]: v["param_value"],
        },
        "inputs": [{"path": v["path"], "format": v["format"], "sha256": "0" * 64, "rows": 7}],
        "rows": {"input": 7, "accepted": 6, "rejected": 1, "duplicates": 0},
        "counts": {v["count_name"]: 3, "clusters": 1},
        "timings": {"read": 0.5},
    }
    return AuditResult(
        events,
        PartedTable.of(coactions),
        PartedTable.of(edges),
        nodes,
        clusters,
        bursts,
        summary,
        rejects,
    )


def empty_result(summary: dict[str, Any] | None = None) -> AuditResult:
    """No events, no edges, no clusters, no bursts."""
    return AuditResult(
        events=pl.DataFrame(schema=EVENT_SCHEMA),
        coaction_parts=PartedTable.of(pl.DataFrame(schema=EVIDENCE_SCHEMA)),
        edge_parts=PartedTable.of(pl.DataFrame(schema=AUDIT_EDGE_SCHEMA)),
        nodes=pl.DataFrame(schema=NODE_SCHEMA),
        clusters=pl.DataFrame(schema=CLUSTER_SCHEMA),
        bursts=pl.DataFrame(schema=BURST_SCHEMA),
        summary=summary if summary is not None else {},
    )


class _Tags(HTMLParser):
    """Every start tag with its attributes, and the text inside <title>."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.title = ""
        self._in_title = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append((tag, dict(attrs)))
        self._in_title = tag == "title"

    def handle_endtag(self, tag: str) -> None:
        self._in_title = False

    def handle_data(self, d: str) -> None:
        if self._in_title:
            self.title += d


def parse(html: str) -> _Tags:
    p = _Tags()
    p.feed(html)
    p.close()
    return p


ALLOWED_TAGS = {
    "html", "head", "meta", "title", "style", "body", "main", "header", "nav", "a", "h1",
    "h2", "h3", "h4", "p", "section", "div", "table", "tr", "th", "td", "span", "strong",
    "article", "figure", "img", "figcaption", "details", "summary", "footer", "br",
}  # fmt: skip


def assert_safe_structure(html: str) -> None:
    """Only our own markup: known tags, no event handlers, images only as PNG data URIs,
    links only to anchors in the page, one style block, the CSP meta tag."""
    p = parse(html)
    names = [t for t, _ in p.tags]
    assert set(names) <= ALLOWED_TAGS, set(names) - ALLOWED_TAGS
    assert "script" not in names
    assert names.count("style") == 1
    assert html.count("</style>") == 1
    for tag, attrs in p.tags:
        assert not any(a.startswith("on") for a in attrs), (tag, attrs)
        if tag == "img":
            assert (attrs["src"] or "").startswith("data:image/png;base64,")
        if tag == "a":
            assert (attrs["href"] or "").startswith("#")
        assert "style" not in attrs
    csp = [a for t, a in p.tags if t == "meta" and a.get("http-equiv") == "Content-Security-Policy"]
    assert csp == [
        {
            "http-equiv": "Content-Security-Policy",
            "content": "default-src 'none'; img-src data:; style-src 'unsafe-inline'",
        }
    ]
    assert p.title == "coordscope audit report"
    lower = html.lower()
    for needle in ("http://", "https://", "@import", "url("):
        # the fixture's URLs appear only as escaped text, never as a resource
        assert f'src="{needle}' not in lower and f'href="{needle}' not in lower
    assert "@import" not in lower and "url(" not in lower


# ------------------------------------------------------------------------- escaping

#: Fields and where in the report they must show (escaped, in full).
FIELDS = [
    "a1",  # account id
    "alice",  # account name
    "object",  # co_share key
    "url",  # co_link key (a URL)
    "text",  # post text
    "platform",  # platform name
    "signal",  # signal name (from the data tables)
    "domain",  # cluster top domain
    "burst_key",
    "burst_signal",
    "version",
    "param_name",
    "param_value",
    "path",
    "format",
    "reason",
    "count_name",
]


@pytest.fixture(scope="module")
def hostile_html() -> str:
    """The report with every data-derived field hostile, each with its own tag."""
    return render_report(make_result(**{f: payload(f"pwned-{f}") for f in BASE}))


@pytest.mark.parametrize("field", FIELDS)
def test_every_data_field_is_shown_escaped(hostile_html: str, field: str) -> None:
    hostile = payload(f"pwned-{field}")
    assert str(escape(hostile)) in hostile_html
    assert hostile not in hostile_html


def test_all_fields_hostile_at_once_keep_the_page_safe(hostile_html: str) -> None:
    assert_safe_structure(hostile_html)
    assert "<script" not in hostile_html.lower()
    assert "<img src=x" not in hostile_html
    assert "</style>'" not in hostile_html


def test_the_structure_check_can_fail() -> None:
    with pytest.raises(AssertionError):
        assert_safe_structure(
            render_report(make_result()).replace("<main>", "<main>" + payload("x"))
        )


def test_plot_labels_are_plain_text() -> None:
    # a "$" would start TeX in matplotlib; emoji and CJK are missing from the font (a
    # warning, which pytest turns into an error); control and bidi characters
    names = {
        "alice": r"$\frac{1}{$ \x00",
        "bob": "🤖 бот 機器人",
        "carol": "\u202eevil\x07\n",
        "object": "$x$",
    }
    html = render_report(make_result(**names))
    assert html.count('<img src="data:image/png;base64,') == 3  # timeline, activity, network
    assert plots.label("\u202eevil\x07\n tail") == "·evil· tail"
    assert plots.label("x" * 40, 10) == "x" * 9 + "…"
    assert plots.label(None) == "(none)"


# ------------------------------------------------------------------------- contents


def test_report_contents_hand_checked() -> None:
    html = render_report(make_result())
    text = " ".join(html.split())
    # what was read: 7 input rows = the 6 events e1..e6 + 1 reject
    for k, n in (("input", 7), ("accepted", 6), ("rejected", 1), ("duplicates", 0)):
        assert f'<tr><th>{k}</th><td class="num">{n}</td></tr>' in html
    assert '<tr><th>accounts</th><td class="num">4</td></tr>' in html  # a1, a2, a3, o1
    assert "<tr><th>first event</th><td>2024-03-01 12:00:00 UTC</td></tr>" in html
    assert "<tr><th>span</th><td>60.0 min</td></tr>" in html  # e1 at 12:00 to e6 at 13:00
    assert "bad timestamp" in html
    # sections in order
    order = ["What was read", "Parameters", "Top clusters", "Bursts", "Activity", "Network"]
    positions = [html.index(f"<h2>{h}</h2>") for h in order]
    assert positions == sorted(positions)
    # the cluster: 3 accounts, keys with their accounts and events
    assert "Cluster 1 — 3 accounts" in text
    # post 9009: a1, a2, a3 with one event each (e1..e3); the URL: a1, a2 (e4, e5)
    assert '<td class="wrap mono">9009</td><td class="num">3</td><td class="num">3</td>' in html
    assert (
        '<td class="wrap mono">https://news.example/x</td><td class="num">2</td>'
        '<td class="num">2</td>' in html
    )
    # sample posts: e1, e2 (+5 s), e3 (+4 s) on the post; e4, e5 (+2 s) on the URL
    for when, gap in (
        ("2024-03-01 12:00:00.000", ""),
        ("2024-03-01 12:00:05.000", "+5.0 s"),
        ("2024-03-01 12:00:09.000", "+4.0 s"),
        ("2024-03-01 12:30:00.000", ""),
        ("2024-03-01 12:30:02.000", "+2.0 s"),
    ):
        assert f'{when}</td><td class="num">{gap}</td>' in html
    # activity: 5 of the 6 events are by the 3 flagged accounts
    assert "5 of 6 events (83.3 %) are by the 3 flagged accounts; one bar per 1 min." in text
    # no wall-clock time, and timings (which vary between runs) are left out
    assert "read=" not in html and "0.5" not in html


def test_empty_result_says_so_plainly() -> None:
    html = render_report(empty_result())
    text = " ".join(html.split())
    assert "No coordinated clusters found." in text
    assert "No bursts found." in text
    assert "No events." in text
    assert "No coordination network to draw" in text
    assert "<img" not in html
    assert_safe_structure(html)


def test_events_but_no_clusters() -> None:
    full = make_result()
    result = AuditResult(
        events=full.events,
        coaction_parts=PartedTable.of(full.coactions.clear()),
        edge_parts=PartedTable.of(full.edges.clear()),
        nodes=full.nodes.with_columns(flagged=pl.lit(False), cluster=pl.lit(None, pl.Int64)),
        clusters=full.clusters.clear(),
        bursts=full.bursts.clear(),
        summary=full.summary,
    )
    html = render_report(result)
    text = " ".join(html.split())
    assert "No coordinated clusters found." in text
    assert "0 of 6 events (0.0 %) are by the 0 flagged accounts" in text
    assert html.count("<img") == 1  # the activity view only


def test_clusters_without_significance_are_called_candidates() -> None:
    full = make_result()
    result = AuditResult(
        events=full.events,
        coaction_parts=PartedTable.of(full.coactions),
        edge_parts=PartedTable.of(full.edges.with_columns(significant=pl.lit(False))),
        nodes=full.nodes.with_columns(flagged=pl.lit(False)),
        clusters=full.clusters.with_columns(significant=pl.lit(False)),
        bursts=full.bursts,
        summary=full.summary,
    )
    text = " ".join(render_report(result).split())
    assert "No cluster passes the significance test at α = 0.05." in text
    assert "not significant" in text


def test_deterministic_and_input_unchanged() -> None:
    a, b = make_result(), make_result()
    before = {k: getattr(a, k).clone() for k in ("events", "coactions", "edges", "clusters")}
    first = render_report(a)
    assert render_report(a) == first
    assert render_report(b) == first
    for k, frame in before.items():
        assert getattr(a, k).equals(frame)


def test_top_limits_the_detailed_clusters() -> None:
    full = make_result()
    two = AuditResult(
        events=full.events,
        coaction_parts=PartedTable.of(full.coactions),
        edge_parts=full.edge_parts,
        nodes=full.nodes,
        clusters=pl.concat(
            [full.clusters, full.clusters.with_columns(cluster=pl.lit(2, pl.Int64))]
        ),
        bursts=full.bursts,
        summary=full.summary,
    )
    assert 'id="cluster-2"' in render_report(two)
    assert 'id="cluster-2"' not in render_report(two, top=1)


@pytest.mark.parametrize("top", [0, -1, True, 1.5, "3"])
def test_bad_top(top: Any) -> None:
    with pytest.raises(ParameterError, match="top"):
        render_report(make_result(), top=top)


def test_bad_result() -> None:
    with pytest.raises(ParameterError, match="AuditResult"):
        render_report({"events": None})  # type: ignore[arg-type]


def test_write_report_is_atomic_and_equal(tmp_path: Path) -> None:
    result = make_result()
    out = write_report(result, tmp_path / "sub" / "report.html")
    assert out == tmp_path / "sub" / "report.html"
    assert out.read_text(encoding="utf-8") == render_report(result)
    assert [p.name for p in out.parent.iterdir()] == ["report.html"]


def test_write_report_failure_leaves_no_file(tmp_path: Path) -> None:
    with pytest.raises(ParameterError):
        write_report(make_result(), tmp_path / "report.html", top=0)
    assert list(tmp_path.iterdir()) == []


# -------------------------------------------------------------------------- kernels


def test_evidence_events_hand_checked() -> None:
    r = make_result()
    ev = data.evidence_events(r.coactions, r.events, r.clusters)
    assert ev.columns == list(data.EVIDENCE_EVENT_SCHEMA)
    assert ev.select("key", "actor_id", "event_id", "actor_name").rows() == [
        ("9009", "1001", "e1", "alice"),
        ("9009", "1002", "e2", "bob"),
        ("9009", "1003", "e3", "carol"),
        ("https://news.example/x", "1001", "e4", "alice"),
        ("https://news.example/x", "1002", "e5", "bob"),
    ]
    members = data.cluster_members(r.clusters, r.nodes, ev, cap=2)
    assert members.select("actor_id", "n_evidence").rows() == [("1001", 2), ("1002", 2)]
    keys = data.cluster_keys(r.clusters, ev, cap=10)
    assert keys.select("key", "n_accounts", "n_events").rows() == [
        ("9009", 3, 3),
        ("https://news.example/x", 2, 2),
    ]
    posts = data.sample_posts(ev, keys, per_key=2, cap=3)
    assert posts.select("event_id", "gap").rows() == [("e1", None), ("e2", 5.0), ("e4", None)]


def test_evidence_ignores_pairs_across_clusters() -> None:
    r = make_result()
    split = r.clusters.with_columns(members=pl.lit(["1001", "1002"], pl.List(pl.String)))
    other = split.with_columns(cluster=pl.lit(2, pl.Int64), members=pl.lit(["1003"]))
    ev = data.evidence_events(r.coactions, r.events, pl.concat([split, other]))
    assert sorted(ev["event_id"].to_list()) == ["e1", "e2", "e4", "e5"]
    assert set(ev["cluster"].to_list()) == {1}


@st.composite
def _coactions(draw: st.DrawFn) -> tuple[pl.DataFrame, pl.DataFrame]:
    actors = [f"u{i}" for i in range(6)]
    n = draw(st.integers(0, 25))
    rows = []
    for _ in range(n):
        a, b = sorted(draw(st.lists(st.sampled_from(actors), min_size=2, max_size=2, unique=True)))
        key = draw(st.sampled_from(["k1", "k2", "k3"]))
        ta, tb = draw(st.integers(0, 5)), draw(st.integers(0, 5))
        # an event is fixed by (actor, key, time)
        rows.append((a, b, "co_share", key, 1, float(abs(ta - tb)),
                     f"{a}-{key}-{ta}", f"{b}-{key}-{tb}", ta, tb))  # fmt: skip
    t0 = utc(2024, 1, 1)
    co = pl.DataFrame(
        {
            name: [r[i] for r in rows]
            for i, name in enumerate(["actor_a", "actor_b", "signal", "key", "n_coactions",
                                      "dt", "event_a", "event_b", "ts_a", "ts_b"])
        },
        schema={**EVIDENCE_SCHEMA, "ts_a": pl.Int64(), "ts_b": pl.Int64()},
    ).with_columns(
        (pl.lit(t0) + pl.duration(seconds=pl.col(c))).cast(EVIDENCE_SCHEMA[c]).alias(c)
        for c in ("ts_a", "ts_b")
    )  # fmt: skip
    labels = draw(st.lists(st.integers(0, 3), min_size=6, max_size=6))  # 0 = no cluster
    members = [[a for a, c in zip(actors, labels, strict=True) if c == k] for k in (1, 2, 3)]
    clusters = pl.DataFrame(
        {"cluster": [1, 2, 3], "members": members},
        schema={"cluster": pl.Int64(), "members": pl.List(pl.String())},
    )
    return co, clusters


@given(_coactions())
@settings(max_examples=60, deadline=None)
def test_evidence_events_matches_brute_force(case: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    co, clusters = case
    cluster_of = {a: c for c, ms in clusters.iter_rows() for a in ms}
    expected = set()
    for r in co.iter_rows(named=True):
        c = cluster_of.get(r["actor_a"])
        if c is not None and c == cluster_of.get(r["actor_b"]):
            for s in ("a", "b"):
                expected.add((c, r["key"], r[f"actor_{s}"], r[f"event_{s}"], r[f"ts_{s}"]))
    events = pl.DataFrame(schema=EVENT_SCHEMA)
    got = data.evidence_events(co, events, clusters)
    rows = got.select("cluster", "key", "actor_id", "event_id", "ts").rows()
    assert len(rows) == len(set(rows))
    assert set(rows) == expected
    assert got.equals(got.sort(["cluster", "key", "ts", "actor_id", "event_id", "signal"]))


def test_bucket_width_inclusive_limits() -> None:
    assert data.bucket_width(0) == 60
    assert data.bucket_width(60 * 199) == 60
    assert data.bucket_width(60 * 200) == 300  # 200 buckets is one too many
    assert data.bucket_width(3 * 86_400) == 1800  # 900 s gives 288 buckets, 1800 s 144
    assert data.bucket_width(1e12) == 365 * 86_400


def test_activity_hand_checked() -> None:
    r = make_result()
    act = data.activity(r.events, pl.Series(["1001", "1002", "1003"]))
    assert act.width == 60
    assert act.total.size == 61  # 12:00 … 13:00, one bucket a minute
    assert str(act.start[0]) == "2024-03-01T12:00:00.000000"
    nz = np.flatnonzero(act.total)
    assert nz.tolist() == [0, 30, 60]
    assert act.total[nz].tolist() == [3, 2, 1]
    assert act.flagged[nz].tolist() == [3, 2, 0]


@given(
    st.lists(st.integers(0, 10**11), min_size=1, max_size=60),
    st.lists(st.booleans(), min_size=60, max_size=60),
)
@settings(max_examples=60, deadline=None)
def test_activity_matches_brute_force(us: list[int], flags: list[bool]) -> None:
    actors = [f"u{i}" for i in range(len(us))]
    events = pl.DataFrame(
        {"actor_id": actors, "ts": us}, schema={"actor_id": pl.String(), "ts": pl.Int64()}
    ).with_columns(pl.col("ts").cast(pl.Datetime("us", "UTC")))
    flagged = pl.Series([a for a, f in zip(actors, flags, strict=False) if f], dtype=pl.String)
    act = data.activity(events, flagged)
    w = act.width * 1_000_000
    origin = min(us) // w * w
    total: dict[int, int] = {}
    fl: dict[int, int] = {}
    for t, f in zip(us, flags, strict=False):
        b = (t - origin) // w
        total[b] = total.get(b, 0) + 1
        fl[b] = fl.get(b, 0) + int(f)
    assert act.total.size == max(total) + 1
    assert {i: int(n) for i, n in enumerate(act.total) if n} == total
    assert {i: int(n) for i, n in enumerate(act.flagged) if n} == {b: n for b, n in fl.items() if n}
    assert act.total.size <= 200 or act.width == data.BUCKET_WIDTHS[-1]


@given(st.lists(st.integers(0, 1000), max_size=40), st.integers(0, 100))
@settings(max_examples=80, deadline=None)
def test_densest_window_matches_brute_force(ts: list[int], w: int) -> None:
    t = np.sort(np.array(ts, dtype=np.int64))
    got = data.densest_window(t, w)
    if t.size == 0:
        assert got == -1
        return
    counts = [sum(1 for u in t if x <= u <= x + w) for x in t]
    best = max(counts)
    assert got == counts.index(best)


def test_network_subgraph_caps() -> None:
    r = make_result()
    nodes, edges = data.network_subgraph(r.clusters, r.edges, node_cap=400, edge_cap=10)
    assert nodes.rows() == [("1001", 1, 2), ("1002", 1, 2), ("1003", 1, 2)]
    assert edges.select("actor_a", "actor_b").rows() == [
        ("1001", "1002"),
        ("1001", "1003"),
        ("1002", "1003"),
    ]
    # at least 3 nodes per cluster are kept; 1 edge: the one with most keys
    _, edges = data.network_subgraph(r.clusters, r.edges, node_cap=1, edge_cap=1)
    assert edges.select("actor_a", "actor_b", "n_keys").rows() == [("1001", "1002", 2)]


# ---------------------------------------------------------------------- demo data


def demo_report() -> tuple[str, AuditResult, pl.DataFrame]:
    """The report of a seeded demo audit (5,000 events, 7 planted campaigns) and truth."""
    from coordscope.datasets.simulate import simulate
    from coordscope.pipeline import audit

    events, truth = simulate("demo", seed=7, size=5000)
    result = audit(events)
    return render_report(result), result, truth


def test_demo_report_puts_planted_campaigns_on_top() -> None:
    html, result, truth = demo_report()
    shown = result.clusters.sort("cluster").head(5)
    assert shown["significant"].all()
    campaign = dict(zip(truth["actor_id"], truth["campaign"], strict=True))
    seen = set()
    for c, members in shown.select("cluster", "members").iter_rows():
        names = [campaign.get(m) for m in members]
        main = max(set(names), key=names.count)
        assert main is not None  # a planted campaign, not organic accounts
        assert names.count(main) >= 0.9 * len(names)
        seen.add(main)
        block = html[html.index(f'id="cluster-{c}"') :]
        block = block[: block.index("</article>")]
        # its members, keys, timeline and sample posts are in its block
        listed = re.findall(r'<td class="mono wrap">([^<]*)</td>', block)
        assert len(listed) == min(20, len(members))
        assert set(listed) <= set(members)
        assert block.count('<img src="data:image/png;base64,') == 1
        assert "Sample posts" in block
    assert len(seen) == 5  # the five clusters shown are five different planted campaigns
