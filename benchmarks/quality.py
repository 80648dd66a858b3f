"""Detection quality on every simulated scenario: ``python -m benchmarks.quality [--quick]``.

For each scenario of :data:`coordscope.datasets.simulate.SCENARIOS` except ``demo`` (every
planted campaign style, every organic hard negative, and ``mixed``), seeds 0, 1, 2 at
size ``small`` and seed 0 at size ``medium`` (``--quick``: seed 0, small only), three
methods run on the same events and are scored by :func:`coordscope.metrics.evaluate`:

- ``coordscope``: :func:`coordscope.audit` at its defaults (significance-based: accounts
  in significant clusters are flagged; pairs ranked by p-value; bursts by score);
- ``coortweet``: the CooRTweet-style rule — ``detect_coortweet(...)`` edges
  whose ``weight_threshold`` is 1 (weight above the median weight); pairs ranked by
  weight; groups = connected components of the kept edges; no bursts;
- ``cnt``: the coordination-network-toolkit-style rule — ``detect_cnt(...)``
  edges with weight >= 2 in either direction; pairs ranked by their largest weight;
  groups = connected components; no bursts;
- ``pacheco2021``: Pacheco et al. 2021 (ICWSM), co-retweet and 30-minute co-activity
  TF-IDF cosine networks, top 0.5 % of pairs kept, groups = connected components
  (:func:`benchmarks.baselines.pacheco2021`); no bursts;
- ``iannucci2025``: Iannucci et al. 2025, time-aware collaboration layers combined as a
  multiplex, multiplex communities; flagged = endpoints of the top 0.5 % of pairs by
  multiplex weight, groups = their communities (:func:`benchmarks.baselines.iannucci2025`,
  whose docstring says which parts of each paper are implemented and with which
  parameters); no bursts.

The rules use the audit's default signals that their mode supports
(:data:`coordscope.stats.significance.DEFAULT_SIGNALS`: ``co_similar`` has no rule
mode; the toolkit has no hashtag network). Windows are 60 s for all three. The
literature baselines use their papers' traces and time scales, whatever ``--signals``
says.

Writes ``benchmarks/results/quality.json`` (every run, plus the mean per scenario, size
and method) and prints a table: scenario, size, method, precision, recall, F1, organic
flagged %, pair AP, ARI, burst P@20, seconds. Benchmarks measure; tests check.
"""

from __future__ import annotations

import argparse
import math
import platform
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import polars as pl

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results"
WINDOW = 60.0
K = 20
METHODS = ("coordscope", "coortweet", "cnt", "pacheco2021", "iannucci2025")
COLUMNS = (
    "precision",
    "recall",
    "f1",
    "organic_flagged_share",
    "pair_ap",
    "ari",
    "burst_precision_at_k",
)


def rule_signals(chosen: Sequence[str] | None = None) -> tuple[list[str], list[str]]:
    """Signals of the coortweet and cnt baselines (the audit's signals they support)."""
    from coordscope.compat.cnt import CNT_NETWORKS
    from coordscope.schema import EXACT_SIGNALS

    if chosen:
        defaults = list(chosen)
    else:
        try:
            from coordscope.schema import DEFAULT_SIGNALS

            defaults = list(DEFAULT_SIGNALS)
        except ImportError:  # before the significance stage exists
            defaults = ["co_share", "co_link", "co_hashtag", "co_text"]
    coortweet = [s for s in defaults if s in EXACT_SIGNALS]
    cnt = [s for s in coortweet if s in CNT_NETWORKS.values()]
    return coortweet, cnt


def run_coordscope(
    events: pl.DataFrame, truth: pl.DataFrame, signals: list[str] | None = None
) -> dict[str, Any]:
    from coordscope.metrics.evaluate import evaluate
    from coordscope.pipeline import audit

    result = audit(events, signals=signals)
    return evaluate(result, truth, k=K)


def _rule_report(truth: pl.DataFrame, kept: pl.DataFrame, ranked: pl.DataFrame) -> dict[str, Any]:
    """Flagged = endpoints of kept edges; groups = their components; pairs by weight."""
    from coordscope.metrics.evaluate import evaluate_parts
    from coordscope.stats.communities import components

    kept = kept.filter(pl.col("actor_a") != pl.col("actor_b"))
    flagged = pl.concat([kept["actor_a"], kept["actor_b"]]).unique()
    labels = (
        components(kept).rename({"component": "cluster"})
        if kept.height
        else pl.DataFrame(schema={"actor_id": pl.String, "cluster": pl.Int64})
    )
    return evaluate_parts(truth, flagged=flagged, pairs=ranked, labels=labels, k=K)


#: The rule baselines materialise every in-window pair (CooRTweet's self-join, the
#: toolkit's edge table; Iannucci et al.'s layers, within their longest kernel cutoff);
#: above this many pairs a run is skipped and recorded as such, instead of exhausting the
#: memory (or the hours) of the 2-core, 24 GB benchmark machine.
RULE_PAIR_BUDGET = {"coortweet": 40_000_000, "cnt": 40_000_000, "iannucci2025": 40_000_000}


def _check_rule_budget(
    events: pl.DataFrame, signals: Sequence[str], rule: str, window: float = WINDOW
) -> None:
    from benchmarks.workloads import in_window_pairs
    from coordscope.signals.actions import actions

    acts = pl.concat([actions(events, signals=s) for s in signals])
    pairs = in_window_pairs(acts, window)
    if pairs > RULE_PAIR_BUDGET[rule]:
        raise MemoryError(
            f"skipped: {pairs:,} in-window pairs, over the {rule} budget of "
            f"{RULE_PAIR_BUDGET[rule]:,}"
        )


def run_coortweet(events: pl.DataFrame, truth: pl.DataFrame, signals: list[str]) -> dict[str, Any]:
    from coordscope.compat import detect_coortweet

    _check_rule_budget(events, signals, "coortweet")
    edges = detect_coortweet(events, signals=signals, window=WINDOW).edges
    table = edges.select(
        pl.col("from").cast(pl.String).alias("actor_a"),
        pl.col("to").cast(pl.String).alias("actor_b"),
        pl.col("weight").cast(pl.Float64).alias("score"),
        (pl.col("weight_threshold") == 1).alias("kept"),
    )
    return _rule_report(truth, table.filter("kept"), table.drop("kept"))


def run_cnt(events: pl.DataFrame, truth: pl.DataFrame, signals: list[str]) -> dict[str, Any]:
    from coordscope.compat import detect_cnt

    _check_rule_budget(events, signals, "cnt")
    edges = detect_cnt(events, signals=signals, window=WINDOW).edges
    table = edges.select(
        pl.col("user_1").cast(pl.String).alias("actor_a"),
        pl.col("user_2").cast(pl.String).alias("actor_b"),
        pl.col("weight").cast(pl.Float64).alias("score"),
    )
    return _rule_report(truth, table.filter(pl.col("score") >= 2), table)


def _baseline_report(truth: pl.DataFrame, found: Any) -> dict[str, Any]:
    """Score a :class:`benchmarks.baselines.BaselineResult` (flagged, pairs, groups)."""
    from coordscope.metrics.evaluate import evaluate_parts

    report = evaluate_parts(
        truth, flagged=found.flagged, pairs=found.ranked, labels=found.labels, k=K
    )
    report["method_parts"] = found.parts
    return report


def run_pacheco2021(events: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    from benchmarks.baselines import pacheco2021

    return _baseline_report(truth, pacheco2021(events))


def run_iannucci2025(events: pl.DataFrame, truth: pl.DataFrame) -> dict[str, Any]:
    from benchmarks.baselines import BETAS, EPSILON, LAYERS, iannucci2025

    longest = -math.log(EPSILON) / min(BETAS) * 60.0
    _check_rule_budget(events, LAYERS, "iannucci2025", window=longest)
    return _baseline_report(truth, iannucci2025(events))


def runs(quick: bool) -> list[tuple[str, int, str]]:
    from coordscope.datasets.simulate import SCENARIOS

    names = [s for s in SCENARIOS if s != "demo"]
    plan = [(s, seed, "small") for s in names for seed in ((0,) if quick else (0, 1, 2))]
    if not quick:
        plan += [(s, 0, "medium") for s in names]
    return plan


def one(
    scenario: str,
    seed: int,
    size: str,
    signals: tuple[list[str], list[str]],
    audit_signals: list[str] | None = None,
) -> list[dict[str, Any]]:
    """Every method on one simulated data set."""
    from coordscope.datasets.simulate import simulate

    events, truth = simulate(scenario, seed=seed, size=size)
    out = []
    for method in METHODS:
        start = time.perf_counter()
        record: dict[str, Any] = {
            "scenario": scenario, "seed": seed, "size": size, "method": method,
            "events": events.height, "accounts": truth.height,
            "coordinated": int(truth["coordinated"].sum()),
        }  # fmt: skip
        try:
            if method == "coordscope":
                report = run_coordscope(events, truth, audit_signals)
            elif method == "coortweet":
                report = run_coortweet(events, truth, signals[0])
            elif method == "cnt":
                report = run_cnt(events, truth, signals[1])
            elif method == "pacheco2021":
                report = run_pacheco2021(events, truth)
            else:
                report = run_iannucci2025(events, truth)
        except Exception as exc:  # a benchmark records failures and goes on
            record["error"] = f"{type(exc).__name__}: {exc}"
            report = {"summary": dict.fromkeys(COLUMNS)}
        record["seconds"] = round(time.perf_counter() - start, 3)
        record.update(report["summary"])
        record["report"] = {k: v for k, v in report.items() if k != "summary"}
        out.append(record)
    return out


def aggregate(records: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean of every metric per (scenario, size, method) over seeds (None ignored)."""
    groups: dict[tuple[str, str, str], list[dict[str, Any]]] = {}
    for r in records:
        groups.setdefault((r["scenario"], r["size"], r["method"]), []).append(r)
    rows = []
    for (scenario, size, method), rs in groups.items():
        row: dict[str, Any] = {
            "scenario": scenario, "size": size, "method": method, "runs": len(rs),
            "seconds": sum(r["seconds"] for r in rs) / len(rs),
            "errors": sum(1 for r in rs if "error" in r),
        }  # fmt: skip
        for c in COLUMNS:
            vals = [r[c] for r in rs if isinstance(r.get(c), int | float) and r[c] is not None]
            row[c] = sum(vals) / len(vals) if vals else None
        rows.append(row)
    return rows


def _fmt(v: Any, pct: bool = False) -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "   –  "
    return f"{100 * v:5.1f}%" if pct else f"{v:6.3f}"


def table(rows: Sequence[dict[str, Any]]) -> str:
    head = (
        f"{'scenario':18s} {'size':6s} {'method':12s} {'prec':>6s} {'recall':>6s} {'F1':>6s} "
        f"{'org.fl':>6s} {'pairAP':>6s} {'ARI':>6s} {'P@20':>6s} {'sec':>6s}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        lines.append(
            f"{r['scenario']:18s} {r['size']:6s} {r['method']:12s} {_fmt(r['precision'])} "
            f"{_fmt(r['recall'])} {_fmt(r['f1'])} {_fmt(r['organic_flagged_share'], True)} "
            f"{_fmt(r['pair_ap'])} {_fmt(r['ari'])} {_fmt(r['burst_precision_at_k'])} "
            f"{r['seconds']:6.1f}" + (f"  ({r['errors']} error(s))" if r["errors"] else "")
        )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="seed 0 at size small only")
    parser.add_argument("--only", nargs="*", default=None, help="scenario names to run")
    parser.add_argument(
        "--sizes", nargs="*", default=None, help="sizes to run (default: small and medium)"
    )
    parser.add_argument(
        "--signals",
        nargs="*",
        default=None,
        help="signals of the audit and of both rules (default: the audit's defaults)",
    )
    parser.add_argument(
        "-o", "--output", type=Path, default=RESULTS / "quality.json", help="JSON to write"
    )
    args = parser.parse_args(argv)
    from benchmarks.baselines import LAYERS
    from coordscope import __version__
    from coordscope._output import write_json

    signals = rule_signals(args.signals)
    plan = [
        p
        for p in runs(args.quick)
        if (args.only is None or p[0] in args.only) and (args.sizes is None or p[2] in args.sizes)
    ]
    records: list[dict[str, Any]] = []
    start = time.perf_counter()
    for scenario, seed, size in plan:
        got = one(scenario, seed, size, signals, args.signals)
        records.extend(got)
        done = ", ".join(
            f"{r['method']} F1 {_fmt(r['f1']).strip()}" + (" ERROR" if "error" in r else "")
            for r in got
        )
        print(f"{scenario} seed {seed} {size}: {done}", file=sys.stderr, flush=True)
    summary = aggregate(records)
    print(table(summary))
    write_json(
        {
            "version": __version__,
            "python": platform.python_version(),
            "machine": platform.machine(),
            "quick": args.quick,
            "window_s": WINDOW,
            "k": K,
            "signals": {
                "coordscope": args.signals or "defaults",
                "coortweet": signals[0],
                "cnt": signals[1],
                "pacheco2021": ["co_retweet (co_share keys)", "co_activity (30-min bins)"],
                "iannucci2025": list(LAYERS),
            },
            "seconds": round(time.perf_counter() - start, 1),
            "summary": summary,
            "runs": records,
        },
        args.output,
    )
    print(f"wrote {args.output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
