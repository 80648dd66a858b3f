"""The report's pictures: matplotlib (Agg) figures encoded as PNG ``data:`` URIs.

Every figure is drawn from aggregated or capped data (the caps live in
:mod:`coordscope.report`), never from a whole input table. Output is deterministic: fixed
font, no date or software name in the PNG metadata, seeded layouts. Data-derived labels
(account names, keys) are drawn as plain text (``text.parse_math`` off, so a ``$`` in a
name is not TeX) after control characters are replaced and long labels shortened.
"""

from __future__ import annotations

import base64
import io
import re
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Final

import matplotlib as mpl
import networkx as nx
import numpy as np
import polars as pl
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.collections import LineCollection
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.typing import RcKeyType

from coordscope.report._data import Activity, densest_window
from coordscope.schema import US

__all__ = [
    "CLUSTER_COLOURS",
    "KEY_COLOURS",
    "activity_png",
    "duration_label",
    "label",
    "network_png",
    "timeline_png",
]

#: Colours of the clusters in the network picture (rank 1 first; repeats after 10).
CLUSTER_COLOURS: Final = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd",
    "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#393b79",
)  # fmt: skip
#: Colours of a cluster's top keys in its timeline; other keys are grey.
KEY_COLOURS: Final = (
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#e377c2", "#17becf",
)  # fmt: skip
_OTHER: Final = "#b0b4ba"
_FLAGGED: Final = "#c0392b"
_ALL: Final = "#aab2bd"
_DPI: Final = 100

_RC: Final[dict[RcKeyType, Any]] = {
    "text.parse_math": False,
    "text.usetex": False,
    "svg.hashsalt": "coordscope",
    "font.family": "DejaVu Sans",
    "font.size": 9,
    "axes.titlesize": 10,
    "axes.titleweight": "bold",
    "axes.titlelocation": "left",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "axes.grid": True,
    "grid.color": "#e6e8eb",
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    "timezone": "UTC",
}
_CONTROL: Final = re.compile(r"[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2066-\u2069]")


def label(text: str | None, limit: int = 28) -> str:
    """Make a data-derived string safe to draw.

    Whitespace runs become one space, then control and bidi characters become ``·``; at
    most ``limit`` characters are kept (``…`` marks a cut).
    """
    if text is None:
        return "(none)"
    clean = _CONTROL.sub("·", " ".join(text.split()))
    return clean if len(clean) <= limit else clean[: limit - 1] + "…"


@contextmanager
def _style() -> Iterator[None]:
    """Apply fixed rcParams, and silence glyphs the bundled font lacks (emoji, scripts)."""
    with mpl.rc_context(_RC), warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=r"Glyph .* missing from")
        warnings.filterwarnings("ignore", message=r"Matplotlib currently does not support")
        yield


def _png(fig: Figure) -> str:
    """Encode ``fig`` as a PNG ``data:`` URI (no date or software in the metadata)."""
    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=_DPI, metadata={"Software": None})
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _dates(axis: Any) -> None:
    locator = AutoDateLocator(minticks=4, maxticks=10)  # type: ignore[no-untyped-call]
    axis.set_major_locator(locator)
    axis.set_major_formatter(ConciseDateFormatter(locator))  # type: ignore[no-untyped-call]


def timeline_png(
    events: pl.DataFrame,
    members: Sequence[str],
    member_labels: Sequence[str],
    keys: Sequence[str],
    key_labels: Sequence[str],
    *,
    window: float,
    title: str,
) -> str:
    """Timeline of one cluster: a row per member, a marker per evidence event.

    Left panel: the whole span (UTC). Right panel: the busiest ``window`` seconds
    (inclusive) of the cluster, in seconds since its first event, so lockstep shows as a
    vertical column. Colour = key (``keys``, at most len(:data:`KEY_COLOURS`)); other keys
    grey.

    Parameters
    ----------
    events : polars.DataFrame
        ``actor_id, key, ts`` of the cluster's evidence events (any order).
    members, member_labels : sequence of str
        Rows from top to bottom and their labels; events of other accounts are dropped.
    keys, key_labels : sequence of str
        Coloured keys and their legend labels.
    window : float
        Seconds, > 0.
    """
    n = len(members)
    row = pl.DataFrame({"actor_id": list(members), "y": np.arange(n, dtype=np.int64)})
    col = pl.DataFrame({"key": list(keys), "c": np.arange(len(keys), dtype=np.int64)})
    ev = (
        events.join(row, on="actor_id", how="inner")
        .join(col, on="key", how="left")
        .with_columns(pl.col("c").fill_null(-1))
        .sort("ts", "y", "c")
    )
    t = ev["ts"].dt.replace_time_zone(None).to_numpy()
    t_us = ev["ts"].cast(pl.Int64).to_numpy()
    y = ev["y"].to_numpy()
    c = ev["c"].to_numpy()
    palette = np.array([*KEY_COLOURS[: len(keys)], _OTHER])
    colours = palette[np.where(c < 0, len(keys), c)]
    n_keys = min(len(key_labels), len(KEY_COLOURS)) + 1
    legend_rows = -(-n_keys // 3)
    top_in, bottom_in, left_in, right_in, gap_in, width_in = (
        0.4,
        0.75 + 0.2 * legend_rows,
        1.9,
        0.25,
        0.3,
        10.5,
    )
    plot_in = max(1.2, 0.2 * n)
    height_in = top_in + plot_in + bottom_in
    usable = width_in - left_in - right_in - gap_in
    with _style():
        fig = Figure(figsize=(width_in, height_in), dpi=_DPI)
        y0, h = bottom_in / height_in, plot_in / height_in
        left = fig.add_axes((left_in / width_in, y0, 0.75 * usable / width_in, h))
        right = fig.add_axes(
            ((left_in + 0.75 * usable + gap_in) / width_in, y0, 0.25 * usable / width_in, h),
            sharey=left,
        )
        right.tick_params(axis="y", labelleft=False)
        left.scatter(t, y, c=colours, s=18, marker="o", linewidths=0, alpha=0.85)
        _dates(left.xaxis)
        left.set_title(title)
        left.set_yticks(np.arange(n), [label(s, 24) for s in member_labels])
        left.set_ylim(n - 0.5, -0.5)
        left.tick_params(axis="y", labelsize=8)
        w_us = round(window * US)
        i = densest_window(t_us, w_us)
        if i >= 0:
            t0 = t_us[i]
            lo, hi = t0 - w_us // 2, t0 + w_us + w_us // 2
            sel = (t_us >= lo) & (t_us <= hi)
            right.scatter(
                (t_us[sel] - t0) / US, y[sel], c=colours[sel], s=26, linewidths=0, alpha=0.9
            )
            right.axvspan(0, window, color="#f3e3b5", alpha=0.6, zorder=0)
            right.set_xlim((lo - t0) / US, (hi - t0) / US)
            stamp = np.datetime64(int(t0), "us").astype(str).replace("T", " ")[:19]
            right.set_xlabel(f"seconds after {stamp}")
            right.set_title(f"busiest {window:g} s: {int(sel.sum())} events", fontsize=9)
        left.set_xlabel("time (UTC)")
        handles = [
            Line2D([], [], marker="o", linestyle="", color=KEY_COLOURS[i], label=label(k, 40))
            for i, k in enumerate(key_labels[: len(KEY_COLOURS)])
        ]
        handles.append(Line2D([], [], marker="o", linestyle="", color=_OTHER, label="other keys"))
        fig.legend(
            handles=handles,
            loc="lower left",
            bbox_to_anchor=(left_in / width_in, 0.02),
            ncol=3,
            fontsize=8,
        )
        return _png(fig)


def activity_png(act: Activity, *, n_flagged: int) -> str:
    """Draw the events per time bucket and the flagged share per bucket (%).

    All accounts in grey, flagged accounts in red; the share (percent of each bucket's
    events) in a strip below.
    """
    width_days = act.width / 86_400
    share = np.divide(
        act.flagged * 100.0, act.total, out=np.zeros(act.total.size), where=act.total > 0
    )
    with _style():
        fig = Figure(figsize=(10.5, 4.2), dpi=_DPI)
        top, bottom = fig.subplots(2, 1, height_ratios=[3, 1.2], sharex=True)
        fig.subplots_adjust(left=0.08, right=0.98, top=0.97, bottom=0.12, hspace=0.12)
        top.bar(
            act.start, act.total, width=width_days, align="edge", color=_ALL, label="all events"
        )
        top.bar(
            act.start,
            act.flagged,
            width=width_days,
            align="edge",
            color=_FLAGGED,
            label=f"events by the {n_flagged:,} flagged accounts",
        )
        top.set_ylabel(f"events per {duration_label(act.width)}")
        top.legend(loc="upper left", fontsize=8)
        bottom.bar(act.start, share, width=width_days, align="edge", color=_FLAGGED)
        bottom.set_ylabel("flagged %")
        bottom.set_ylim(0, max(1.0, float(share.max(initial=0.0)) * 1.1))
        bottom.set_xlabel("time (UTC)")
        _dates(bottom.xaxis)
        return _png(fig)


def network_png(
    nodes: pl.DataFrame,
    edges: pl.DataFrame,
    totals: dict[int, int],
    *,
    seed: int,
) -> str:
    """Draw the coordination network: nodes coloured by cluster, significant edges in grey.

    Each cluster is laid out on its own with :func:`networkx.spring_layout`
    (Fruchterman–Reingold, seeded), scaled to a disc whose area grows with its node count,
    and the discs are placed in rank order on a grid, numbered; edges between clusters
    are drawn too. Node size grows with the number of partners.

    Parameters
    ----------
    nodes : polars.DataFrame
        ``actor_id, cluster, degree``, sorted by cluster (see
        :func:`._data.network_subgraph`).
    edges : polars.DataFrame
        ``actor_a, actor_b`` between nodes.
    totals : dict
        Cluster → its full size (for "n of N shown" in the legend).
    seed : int
        Layout seed.
    """
    ids = nodes["actor_id"].to_list()
    index = pl.DataFrame({"actor_id": ids, "i": np.arange(len(ids), dtype=np.int64)})
    # in the edges' order: segments are drawn in it, and antialiased overlaps blend in it
    ea = edges.join(
        index.rename({"actor_id": "actor_a"}), on="actor_a", maintain_order="left"
    ).join(index.rename({"actor_id": "actor_b", "i": "j"}), on="actor_b", maintain_order="left")
    ei, ej = ea["i"].to_numpy(), ea["j"].to_numpy()
    clusters = nodes["cluster"].to_numpy()
    order = sorted({int(c) for c in clusters})
    xy = np.zeros((len(ids), 2), dtype=np.float64)
    cols = max(1, int(np.ceil(np.sqrt(len(order)))))
    radius = {c: float(np.sqrt(np.count_nonzero(clusters == c))) for c in order}
    cell = 2.0 * max(radius.values(), default=1.0) + 1.0
    centres = {}
    for pos, c in enumerate(order):  # one layout per cluster shown (at most ``top``)
        members = np.flatnonzero(clusters == c)
        inner = (clusters[ei] == c) & (clusters[ej] == c)
        g = nx.Graph()
        g.add_nodes_from(members.tolist())
        g.add_edges_from(zip(ei[inner].tolist(), ej[inner].tolist(), strict=True))
        layout = nx.spring_layout(g, seed=seed, iterations=50) if members.size > 1 else {}
        pts = np.array([layout.get(int(v), (0.0, 0.0)) for v in members], dtype=np.float64)
        pts = pts.reshape(-1, 2) - pts.reshape(-1, 2).mean(axis=0)
        span = float(np.abs(pts).max(initial=0.0))
        scale = radius[c] / span if span > 0 else 0.0
        centre = np.array([(pos % cols) * cell, -(pos // cols) * cell])
        xy[members] = pts * scale + centre
        centres[c] = centre + np.array([-radius[c] - 0.3, radius[c] + 0.3])
    colours = np.array(CLUSTER_COLOURS)[(clusters - 1) % len(CLUSTER_COLOURS)]
    boost = float(np.clip(150 / max(len(ids), 1), 1.0, 4.0))  # small graphs: bigger dots
    sizes = boost * (10 + 5 * np.sqrt(nodes["degree"].to_numpy().astype(np.float64)))
    segs = np.stack([xy[ei], xy[ej]], axis=1)
    rows = -(-len(order) // cols)
    height_in = min(7.5, 1.0 + 3.0 * rows)
    tags = np.array(list(centres.values()), dtype=np.float64).reshape(-1, 2)
    everything = np.vstack([xy, tags])
    lo, hi = everything.min(axis=0), everything.max(axis=0)
    pad = 0.06 * float((hi - lo).max(initial=1.0)) + 0.3
    with _style():
        fig = Figure(figsize=(10.5, height_in), dpi=_DPI)
        ax = fig.add_axes((0.01, 0.01, 0.74, 0.98))
        ax.add_collection(
            LineCollection(list(segs), colors="#8a939d", linewidths=0.4, alpha=0.35, zorder=1)
        )
        ax.scatter(
            xy[:, 0], xy[:, 1], s=sizes, c=colours, linewidths=0.3, edgecolors="white", zorder=2
        )
        for c, (x, y) in centres.items():
            ax.text(x, y, str(c), fontsize=11, fontweight="bold", ha="right", va="bottom")
        ax.set_xlim(lo[0] - pad, hi[0] + pad)
        ax.set_ylim(lo[1] - pad, hi[1] + pad + 0.4)
        ax.set_aspect("equal", adjustable="box")
        ax.set_axis_off()
        shown = nodes.group_by("cluster").len().sort("cluster")
        handles = [
            Line2D(
                [], [], marker="o", linestyle="",
                color=CLUSTER_COLOURS[(c - 1) % len(CLUSTER_COLOURS)],
                label=_shown(c, k, totals.get(c, k)),
            )
            for c, k in shown.iter_rows()
        ]  # fmt: skip
        fig.legend(handles=handles, loc="upper left", bbox_to_anchor=(0.76, 0.98), fontsize=8)
        return _png(fig)


def _shown(cluster: int, shown: int, total: int) -> str:
    if shown == total:
        return f"cluster {cluster} ({total:,} accounts)"
    return f"cluster {cluster} ({shown:,} of {total:,} accounts)"


def duration_label(seconds: int) -> str:
    """``3600`` → ``1 h``; the unit that divides evenly."""
    for unit, size in (("d", 86_400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
