"""The self-contained HTML report of an audit.

:func:`render_report` turns an :class:`~coordscope.results.AuditTables` into one HTML
page an analyst reads offline, top to bottom: what was read, the parameters, the ranked
clusters with their evidence (members, keys, a timeline, sample posts), bursts, the
activity of the whole dataset with the flagged accounts' share, and a picture of the
coordination network of the top clusters.

Safety: the page has no ``<script>`` at all and a strict Content-Security-Policy
(``default-src 'none'; img-src data:; style-src 'unsafe-inline'``); every string from the
data (account names, keys, post texts, file names, summary values) goes through jinja2
autoescaping; plots are PNG images (``data:`` URIs), never SVG with data text in it.
Output is deterministic for a given result (no wall-clock time, seeded layout, PNGs
without dates), and its cost is bounded by the caps below plus ``O(n)`` passes over the
events, co-action rows and edges.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping
from datetime import datetime
from functools import cache
from pathlib import Path
from typing import Any, Final

import jinja2
import polars as pl

from coordscope._output import atomic_write
from coordscope.errors import ParameterError
from coordscope.graphs.lineage import STATUSES
from coordscope.report import _data, _plots
from coordscope.results import AuditTables
from coordscope.schema import ACTOR_ID, ACTOR_NAME, KIND, TS, EventFrame

__all__ = ["render_report", "write_report"]

#: Members listed per cluster (the timeline shows up to :data:`TIMELINE_MEMBERS`).
MEMBER_ROWS: Final = 20
#: Members drawn in a cluster's timeline (those with the most evidence events).
TIMELINE_MEMBERS: Final = 40
#: Keys listed per cluster.
KEY_ROWS: Final = 10
#: Sample posts per cluster, and per key.
POSTS: Final = 15
POSTS_PER_KEY: Final = 5
#: Bursts listed.
BURST_ROWS: Final = 15
#: Nodes and edges drawn in the network picture.
NETWORK_NODES: Final = 400
NETWORK_EDGES: Final = 4000
#: Characters of a post text / key shown (longer ones end with "…").
TEXT_CHARS: Final = 500
KEY_CHARS: Final = 300

_TS_FORMAT: Final = "%Y-%m-%d %H:%M:%S UTC"
_TS_MS_FORMAT: Final = "%Y-%m-%d %H:%M:%S%.3f"


def render_report(result: AuditTables, *, top: int = 10) -> str:
    """Render the HTML report of an audit.

    Parameters
    ----------
    result : AuditTables
        What :func:`coordscope.audit` returned (tables as in :mod:`coordscope.results`).
    top : int, default 10
        Clusters shown in detail (≥ 1): each gets its members, keys, a timeline and
        sample posts, and a place in the network picture.

    Returns
    -------
    str
        One self-contained HTML document (UTF-8 text): no script, no network request,
        every data-derived string escaped. Same result → same bytes.

    Raises
    ------
    ParameterError
        When ``result`` is not an :class:`AuditTables` or ``top`` is not a positive int.

    Notes
    -----
    Cost: ``O(n)`` over the events (activity buckets, platform counts), ``O(C)`` hash joins
    over the co-action rows (evidence of the top clusters) and the edges (network), then
    drawing only capped data: ``top`` timelines of at most :data:`TIMELINE_MEMBERS`
    accounts, :data:`NETWORK_NODES` nodes.
    """
    _check(result, top)
    return _environment().get_template("report.html.j2").render(**_context(result, top))


def write_report(result: AuditTables, path: str | Path, *, top: int = 10) -> Path:
    """Render the report (:func:`render_report`) and write it to ``path`` atomically.

    Returns
    -------
    pathlib.Path
        ``path``. The file is complete or absent, never partial.
    """
    html = render_report(result, top=top)

    def _write(tmp: Path) -> None:
        tmp.write_text(html, encoding="utf-8")

    return atomic_write(Path(path), _write)


def _check(result: object, top: object) -> None:
    if not isinstance(result, AuditTables):
        raise ParameterError(f"result: expected an AuditResult, got {type(result).__name__}")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise ParameterError(f"top: expected a positive integer, got {top!r}")


@cache
def _environment() -> jinja2.Environment:
    return jinja2.Environment(
        loader=jinja2.PackageLoader("coordscope.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


# ---------------------------------------------------------------------------- context


def _context(result: AuditTables, top: int) -> dict[str, Any]:
    summary: Mapping[str, Any] = result.summary if isinstance(result.summary, Mapping) else {}
    # the summary as summary.json holds it (keys sorted at every level, values as JSON
    # has them): the same page from a run's own summary and from one read back
    summary = json.loads(json.dumps(summary, sort_keys=True, default=str))
    params = summary.get("parameters")
    params = params if isinstance(params, Mapping) else {}
    window = _number(params.get("window_s", params.get("window")), 60.0)
    seed = params.get("seed")
    seed = seed if isinstance(seed, int) and not isinstance(seed, bool) else 0
    alpha = params.get("alpha")

    clusters = result.clusters.sort("cluster")
    shown = clusters.head(top)
    flagged = _data.flagged_actors(result.nodes, clusters)
    ctx: dict[str, Any] = {
        "version": _text(summary.get("version", "")),
        "sources": [_text(_get(i, "path")) for i in _list(summary.get("inputs"))],
        "alpha": _text(alpha) if alpha is not None else "",
        "window": f"{window:g}",
    }
    ctx.update(_read_section(result, summary))
    ctx.update(_changes_section(result.changes, summary))
    # sorted by name: the same page whether the summary is the run's own or read back
    # from summary.json (written with sorted keys)
    ctx["parameters"] = [(_text(k), _value(v)) for k, v in sorted(params.items())]
    counts = summary.get("counts")
    ctx["counts"] = (
        [(_text(k), _value(v)) for k, v in sorted(counts.items())]
        if isinstance(counts, Mapping)
        else []
    )
    ctx["n_clusters"] = clusters.height
    ctx["n_significant"] = int(clusters["significant"].fill_null(False).sum())
    ctx["n_flagged"] = flagged.len()
    ctx["clusters"] = _cluster_rows(shown)
    ctx["blocks"] = _cluster_blocks(result, shown, window)
    ctx["n_bursts"] = result.bursts.height
    ctx["bursts"] = _burst_rows(result.bursts.sort("burst").head(BURST_ROWS))
    ctx.update(_activity_section(result.events, flagged))
    ctx.update(_network_section(shown, result.significant_edges, seed))
    return ctx


def _read_section(result: AuditTables, summary: Mapping[str, Any]) -> dict[str, Any]:
    events = result.events.lazy()  # a lazy table is read a column or two at a time
    height, n_accounts, lo, hi = (
        events.select(
            pl.len(),
            pl.col(ACTOR_ID).n_unique(),
            pl.col(TS).min().alias("lo"),
            pl.col(TS).max().alias("hi"),
        )
        .collect()
        .row(0)
    )
    rows = summary.get("rows")
    rows = rows if isinstance(rows, Mapping) else {"accepted": height}
    inputs = [
        {
            "path": _text(_get(i, "path")),
            "format": _text(_get(i, "format")),
            "rows": _value(_get(i, "rows")),
            "sha256": _text(_get(i, "sha256"))[:16],
        }
        for i in _list(summary.get("inputs"))
    ]
    span = (lo, hi)
    n = max(height, 1)
    platforms = [
        (_text(p), f"{c:,}", f"{100 * c / n:.1f} %")
        for p, c in _data.platform_counts(events).iter_rows()
    ]
    kinds = (
        events.group_by(pl.col(KIND).cast(pl.String))
        .agg(pl.len().alias("n"))
        .sort(["n", KIND], descending=[True, False])
        .collect()
    )
    rejects: list[tuple[str, str]] = []
    if result.rejects is not None and result.rejects.height and "reason" in result.rejects.columns:
        rej = (
            result.rejects.group_by(pl.col("reason").cast(pl.String))
            .agg(pl.len().alias("n"))
            .sort(["n", "reason"], descending=[True, False])
            .head(10)
        )
        rejects = [(_clip(r, TEXT_CHARS), f"{c:,}") for r, c in rej.iter_rows()]
    return {
        "rows": [(_text(k), _value(v)) for k, v in sorted(rows.items(), key=_row_order)],
        "inputs": inputs,
        "n_events": f"{height:,}",
        "n_accounts": f"{n_accounts:,}" if height else "0",
        "first_ts": _ts(span[0]),
        "last_ts": _ts(span[1]),
        "duration": _duration((span[1] - span[0]).total_seconds()) if span[0] else "",
        "platforms": platforms,
        "kinds": [(_text(k), f"{c:,}") for k, c in kinds.iter_rows()],
        "rejects": rejects,
    }


#: The row accounting in reading order: what came in, then where it went.
_ROWS: Final = ("input", "accepted", "rejected", "duplicates")


def _row_order(item: tuple[str, Any]) -> tuple[int, str]:
    key = item[0]
    return (_ROWS.index(key) if key in _ROWS else len(_ROWS), key)


def _changes_section(changes: pl.DataFrame | None, summary: Mapping[str, Any]) -> dict[str, Any]:
    """Return the "Since the last run" section of a daily run (``changes`` None: none)."""
    if changes is None:
        return {"changes": None}
    state = summary.get("state")
    state = state if isinstance(state, Mapping) else {}
    horizon = state.get("horizon")
    horizon = horizon if isinstance(horizon, Mapping) else {}
    previous = state.get("previous_run")
    order = {s: i for i, s in enumerate(STATUSES)}
    rows = sorted(
        changes.iter_rows(named=True),
        key=lambda r: (order.get(r["status"], len(order)), r["cluster"] or 0, r["campaign"]),
    )
    counts = changes.group_by("status").len()
    return {
        "changes": [
            {
                "campaign": _text(r["campaign"]),
                "status": _text(r["status"]),
                "rank": "" if r["cluster"] is None else str(r["cluster"]),
                "size": f"{r['size'] or 0:,}",
                "previous_size": "" if r["previous_size"] is None else f"{r['previous_size']:,}",
                "added": f"+{len(r['members_added'] or [])}",
                "removed": f"−{len(r['members_removed'] or [])}",
                "related": ", ".join(_text(x) for x in r["related"] or []),
                "first_seen": _text(r["first_seen"]),
                "last_seen": _text(r["last_seen"]),
            }
            for r in rows
        ],
        "status_counts": sorted(
            ((_text(s), int(n)) for s, n in counts.iter_rows()),
            key=lambda sn: order.get(sn[0], len(order)),
        ),
        "state_dir": _text(state.get("directory", "")),
        "state_added": f"{_number(state.get('added'), 0):,.0f}",
        "state_replaced": f"{_number(state.get('replaced'), 0):,.0f}",
        "horizon_first": _text(horizon.get("first", "")),
        "horizon_last": _text(horizon.get("last", "")),
        "horizon_days": _text(horizon.get("days", "")),
        "horizon_events": f"{_number(horizon.get('events'), 0):,.0f}",
        "previous_as_of": _text(_get(previous, "as_of")) if isinstance(previous, Mapping) else "",
    }


def _cluster_rows(shown: pl.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "rank": str(r["cluster"]),
            "campaign": _text(r.get("campaign") or ""),
            "score": _num(r["score"]),
            "significant": "yes" if r["significant"] else "no",
            "qvalue": _p(r["qvalue"]),
            "size": f"{r['size'] or 0:,}",
            "n_keys": f"{r['n_keys'] or 0:,}",
            "signals": ", ".join(_text(s) for s in r["signals"] or []),
            "median_dt": _seconds(r["median_dt"]),
            "first_ts": _ts(r["first_ts"]),
            "last_ts": _ts(r["last_ts"]),
        }
        for r in shown.iter_rows(named=True)
    ]


def _cluster_blocks(
    result: AuditTables, shown: pl.DataFrame, window: float
) -> list[dict[str, Any]]:
    if shown.height == 0:
        return []
    evidence = _data.evidence_events(result.member_coactions, result.events, shown)
    members = _data.cluster_members(shown, result.nodes, evidence, cap=TIMELINE_MEMBERS)
    keys = _data.cluster_keys(shown, evidence, cap=KEY_ROWS)
    posts = _data.sample_posts(evidence, keys, per_key=POSTS_PER_KEY, cap=POSTS).with_columns(
        pl.col(TS).dt.strftime(_TS_MS_FORMAT).alias("when")
    )
    blocks = []
    for r in shown.iter_rows(named=True):  # one per top cluster (≤ top)
        c = r["cluster"]
        m = members.filter(pl.col("cluster") == c)
        k = keys.filter(pl.col("cluster") == c)
        ev = evidence.filter(pl.col("cluster") == c)
        member_rows = [
            {
                "id": _clip(a, KEY_CHARS),
                "name": _clip(name, KEY_CHARS) if name is not None else "",
                "n_events": _value(n_ev),
                "sig_degree": _value(deg),
                "n_evidence": f"{n_evid:,}",
            }
            for a, name, n_ev, deg, n_evid in m.filter(pl.col("rank") < MEMBER_ROWS)
            .select(ACTOR_ID, ACTOR_NAME, "n_events", "sig_degree", "n_evidence")
            .iter_rows()
        ]
        key_rows = [
            {
                "signal": _text(s),
                "key": _clip(key, KEY_CHARS),
                "n_accounts": f"{na:,}",
                "n_events": f"{ne:,}",
                "first_ts": _ts(f),
                "last_ts": _ts(la),
            }
            for s, key, na, ne, f, la in k.select(
                "signal", "key", "n_accounts", "n_events", "first_ts", "last_ts"
            ).iter_rows()
        ]
        post_rows = [
            {
                "when": _text(w),
                "gap": "" if g is None else "+" + _seconds(g),
                "account": _clip(name if name is not None else a, KEY_CHARS),
                "account_id": _clip(a, KEY_CHARS),
                "signal": _text(s),
                "key": _clip(key, KEY_CHARS),
                "text": _clip(t, TEXT_CHARS) if t is not None else "",
            }
            for w, g, name, a, s, key, t in posts.filter(pl.col("cluster") == c)
            .select("when", "gap", ACTOR_NAME, ACTOR_ID, "signal", "key", "text")
            .iter_rows()
        ]
        timeline = ""
        if ev.height:
            labels = [
                name if name is not None else a
                for a, name in m.select(ACTOR_ID, ACTOR_NAME).iter_rows()
            ]
            top_keys = k["key"].head(len(_plots.KEY_COLOURS)).to_list()
            timeline = _plots.timeline_png(
                ev.select(ACTOR_ID, "key", TS),
                m[ACTOR_ID].to_list(),
                labels,
                top_keys,
                top_keys,
                window=max(window, 1.0),  # W = 0 (same second only): zoom on 1 s
                title=f"cluster {c}: {ev.height:,} evidence events of "
                f"{min(m.height, TIMELINE_MEMBERS)} members",
            )
        size = r["size"] or 0
        blocks.append(
            {
                "rank": str(c),
                "size": f"{size:,}",
                "significant": bool(r["significant"]),
                "facts": _cluster_facts(r),
                "members": member_rows,
                "more_members": max(0, size - len(member_rows)),
                "key_rows": key_rows,
                "more_keys": max(0, (r["n_keys"] or 0) - len(key_rows)),
                "timeline": timeline,
                "timeline_members": min(m.height, TIMELINE_MEMBERS),
                "posts": post_rows,
                "top_domains": ", ".join(_clip(d, KEY_CHARS) for d in r["top_domains"] or []),
            }
        )
    return blocks


def _cluster_facts(r: Mapping[str, Any]) -> list[tuple[str, str]]:
    return [
        ("campaign", _text(r.get("campaign") or "— (not flagged)")),
        ("score", _num(r["score"])),
        ("significant", "yes" if r["significant"] else "no"),
        ("group test", f"{_num(r['statistic'])} observed vs {_num(r['expected'])} expected"),
        ("p-value / q-value", f"{_p(r['pvalue'])} / {_p(r['qvalue'])}"),
        ("accounts", f"{r['size'] or 0:,}"),
        ("edges inside", f"{r['n_edges'] or 0:,} (density {_num(r['density'])})"),
        ("keys pushed", f"{r['n_keys'] or 0:,}"),
        ("signals", ", ".join(_text(s) for s in r["signals"] or []) or "—"),
        ("median Δt", _seconds(r["median_dt"])),
        ("active", f"{_ts(r['first_ts'])} → {_ts(r['last_ts'])}"),
        ("coordinated share", _pct(r["coordinated_share"])),
        ("mean partners / strength", f"{_num(r['mean_degree'])} / {_num(r['mean_strength'])}"),
        ("domain Gini", _num(r["domain_gini"])),
    ]


def _burst_rows(bursts: pl.DataFrame) -> list[dict[str, str]]:
    return [
        {
            "rank": _value(r["burst"]),
            "signal": _text(r["signal"]),
            "key": _clip(r["key"], KEY_CHARS),
            "start": _ts(r["start"]),
            "duration": _duration((r["end"] - r["start"]).total_seconds())
            if r["start"] is not None and r["end"] is not None
            else "—",
            "actions": _value(r["actions"]),
            "actors": _value(r["actors"]),
            "synchrony": _num(r["synchrony"]),
            "cluster_share": _pct(r["cluster_share"]),
            "recurrence": _value(r["recurrence"]),
            "cluster": _value(r["cluster"]) if r["cluster"] is not None else "—",
            "score": _num(r["score"]),
        }
        for r in bursts.iter_rows(named=True)
    ]


def _activity_section(events: EventFrame, flagged: pl.Series) -> dict[str, Any]:
    act = _data.activity(events, flagged)
    if act.total.size == 0:
        return {"activity": "", "activity_note": "No events."}
    n_flag = int(act.flagged.sum())
    total = int(act.total.sum())
    note = (
        f"{n_flag:,} of {total:,} events ({100 * n_flag / total:.1f} %) are by the "
        f"{flagged.len():,} flagged accounts; one bar per {_plots.duration_label(act.width)}."
    )
    return {"activity": _plots.activity_png(act, n_flagged=flagged.len()), "activity_note": note}


def _network_section(shown: pl.DataFrame, edges: pl.DataFrame, seed: int) -> dict[str, Any]:
    if shown.height == 0:
        return {"network": "", "network_note": ""}
    nodes, net_edges = _data.network_subgraph(
        shown, edges, node_cap=NETWORK_NODES, edge_cap=NETWORK_EDGES
    )
    if nodes.height == 0:
        return {"network": "", "network_note": ""}
    totals = {c: int(s or 0) for c, s in shown.select("cluster", "size").iter_rows()}
    note = (
        f"{nodes.height:,} accounts and {net_edges.height:,} significant edges of the top "
        f"{shown.height} clusters (at most {NETWORK_NODES} accounts and {NETWORK_EDGES:,} "
        "edges are drawn: the best-connected ones)."
    )
    return {
        "network": _plots.network_png(nodes, net_edges, totals, seed=seed),
        "network_note": note,
    }


# ------------------------------------------------------------------------- formatting


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def _clip(value: Any, limit: int) -> str:
    s = _text(value)
    return s if len(s) <= limit else s[: limit - 1] + "…"


def _value(value: Any) -> str:
    """Format a summary value as text: numbers with separators, lists joined, mappings k=v."""
    if value is None:
        return "—"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return _num(value)
    if isinstance(value, Mapping | list | tuple) and not value:
        return "—"
    if isinstance(value, Mapping):
        return ", ".join(f"{_text(k)}={_value(v)}" for k, v in value.items())
    if isinstance(value, list | tuple):
        return ", ".join(_value(v) for v in value)
    return _clip(value, TEXT_CHARS)


def _num(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    if isinstance(value, float):
        return f"{value:,.0f}" if abs(value) >= 1e5 else f"{value:.4g}"
    return _text(value)


def _p(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{value:.2g}"


def _pct(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return f"{100 * value:.1f} %"


def _seconds(value: Any) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    v = float(value)
    if abs(v) < 120:
        return f"{v:.1f} s"
    return _duration(v)


def _duration(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.1f} s"
    if seconds < 7200:
        return f"{seconds / 60:.1f} min"
    if seconds < 172_800:
        return f"{seconds / 3600:.1f} h"
    return f"{seconds / 86_400:.1f} days"


def _ts(value: datetime | None) -> str:
    return "—" if value is None else value.strftime(_TS_FORMAT)


def _number(value: Any, default: float) -> float:
    if isinstance(value, int | float) and not isinstance(value, bool) and value >= 0:
        return float(value)
    return default


def _list(value: Any) -> list[Any]:
    return list(value) if isinstance(value, list | tuple) else []


def _get(item: Any, key: str) -> Any:
    return item.get(key) if isinstance(item, Mapping) else None
