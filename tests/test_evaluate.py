"""Evaluation against ground truth: metrics hand-checked on tiny tables."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.metrics import average_precision_score

from coordscope.datasets.simulate import TRUTH_SCHEMA
from coordscope.errors import InputError, ParameterError
from coordscope.metrics.evaluate import (
    account_metrics,
    burst_precision_at_k,
    campaign_recall,
    cluster_ari,
    evaluate,
    evaluate_parts,
    load_truth,
    pair_average_precision,
)
from coordscope.outputs import AuditResult
from coordscope.parts import PartedTable
from coordscope.schema import (
    ACTION_SCHEMA,
    AUDIT_EDGE_SCHEMA,
    BURST_SCHEMA,
    CLUSTER_SCHEMA,
    EVENT_SCHEMA,
    NODE_SCHEMA,
)
from tests.conftest import utc

T0 = utc(2024, 3, 1)
H = timedelta(hours=1)

# a, b, c: campaign "ring" (keys k1, k2; 00:00–02:00); d, e: campaign "squad" (key s1,
# 10:00–11:00); o1..o5 organic (o5 a flash-viral account)
TRUTH_ROWS: list[dict[str, Any]] = [
    *[
        {"actor_id": x, "campaign": "ring", "style": "link_ring", "coordinated": True,
         "keys": ["k1", "k2"], "signal": "co_link", "start": T0, "end": T0 + 2 * H}
        for x in "abc"
    ],
    *[
        {"actor_id": x, "campaign": "squad", "style": "squad_in_cascade", "coordinated": True,
         "keys": ["s1"], "signal": "co_share", "start": T0 + 10 * H, "end": T0 + 11 * H}
        for x in "de"
    ],
    *[
        {"actor_id": f"o{i}", "campaign": None, "style": "organic", "coordinated": False,
         "keys": [], "signal": None, "start": None, "end": None}
        for i in range(1, 5)
    ],
    {"actor_id": "o5", "campaign": None, "style": "flash_viral", "coordinated": False,
     "keys": [], "signal": None, "start": None, "end": None},
]  # fmt: skip


@pytest.fixture
def truth() -> pl.DataFrame:
    return pl.DataFrame(TRUTH_ROWS, schema=TRUTH_SCHEMA)


def test_account_metrics_by_hand(truth: pl.DataFrame) -> None:
    m = account_metrics(["a", "b", "d", "o1", "stranger"], truth)
    # TP a, b, d; FP o1 and "stranger" (not in truth); FN c, e
    assert (m["tp"], m["fp"], m["fn"]) == (3, 2, 2)
    assert m["precision"] == pytest.approx(3 / 5)
    assert m["recall"] == pytest.approx(3 / 5)
    assert m["f1"] == pytest.approx(3 / 5)
    assert m["organic_flagged_share"] == pytest.approx(1 / 5)  # o1 of o1..o5
    assert m["flagged_outside_truth"] == 1  # "stranger"
    # link_ring a, b of a, b, c; squad d of d, e; organic o1 of o1..o4; flash_viral o5: none
    assert m["flagged_share_by_style"] == {
        "flash_viral": 0.0, "link_ring": pytest.approx(2 / 3), "organic": 0.25,
        "squad_in_cascade": 0.5,
    }  # fmt: skip


def test_account_metrics_undefined_ratios(truth: pl.DataFrame) -> None:
    none = account_metrics([], truth)
    assert none["precision"] is None
    assert none["recall"] == 0.0
    assert none["f1"] is None
    organic = truth.filter(pl.col("campaign").is_null())
    m = account_metrics(["o1"], organic)
    assert (m["precision"], m["recall"], m["f1"]) == (0.0, None, None)


def test_pair_average_precision_by_hand(truth: pl.DataFrame) -> None:
    pairs = pl.DataFrame(
        {
            "actor_a": ["b", "a", "e", "b", "a"],
            "actor_b": ["a", "o1", "d", "c", "a"],  # (b, a) is (a, b); (a, a) is dropped
            "score": [0.9, 0.8, 0.7, 0.7, 1.0],
        }
    )
    out = pair_average_precision(pairs, truth)
    # 4 true pairs (ring 3, squad 1). Thresholds: 0.9 → P 1, R 1/4; 0.8 → P 1/2, R 1/4;
    # 0.7 → P 3/4, R 3/4. AP = 1/4·1 + 1/2·3/4 = 0.625
    assert out["true_pairs"] == 4
    assert (out["ranked"], out["ranked_true"]) == (4, 3)
    assert out["average_precision"] == pytest.approx(0.625)
    # over the ranked pairs alone: 1/3·1 + 2/3·3/4
    assert out["average_precision_observed"] == pytest.approx(5 / 6)


@settings(max_examples=60, deadline=None)
@given(
    scores=st.lists(st.integers(0, 5), min_size=1, max_size=12),
    data=st.data(),
)
def test_observed_average_precision_matches_sklearn(scores: list[int], data: Any) -> None:
    n = len(scores)
    labels = data.draw(st.lists(st.booleans(), min_size=n, max_size=n))
    if not any(labels):
        labels[0] = True
    # positives pair campaign members p{i}–q{i}; negatives pair organic accounts
    rows = [
        ("p" + str(i), "q" + str(i)) if y else ("o" + str(i), "z" + str(i))
        for i, y in enumerate(labels)
    ]
    truth = pl.DataFrame(
        [
            {"actor_id": f"{s}{i}", "campaign": f"c{i}" if y else None,
             "style": "x", "coordinated": y}
            for i, y in enumerate(labels)
            for s in (("p", "q") if y else ("o", "z"))
        ]
    )  # fmt: skip
    pairs = pl.DataFrame(
        {"actor_a": [a for a, _ in rows], "actor_b": [b for _, b in rows], "score": scores},
        schema={"actor_a": pl.String, "actor_b": pl.String, "score": pl.Float64},
    )
    out = pair_average_precision(pairs, truth)
    want = average_precision_score(np.array(labels), np.array(scores, dtype=float))
    assert out["average_precision_observed"] == pytest.approx(want)
    assert out["average_precision"] == pytest.approx(want)  # every true pair is ranked


def test_cluster_ari_by_hand() -> None:
    truth = pl.DataFrame(
        {"actor_id": ["a", "b", "c", "d"], "campaign": ["X", "X", None, None],
         "style": ["s"] * 4, "coordinated": [True, True, False, False]}
    )  # fmt: skip
    # found {a, b, c}, d alone: Σ C(n_ij, 2) = 1, rows 1, columns 3, C(4, 2) = 6:
    # expected 0.5, max 2 → ARI = (1 − 0.5) / (2 − 0.5) = 1/3
    labels = pl.DataFrame({"actor_id": ["a", "b", "c"], "cluster": [7, 7, 7]})
    assert cluster_ari(labels, truth) == pytest.approx(1 / 3)
    perfect = pl.DataFrame({"actor_id": ["a", "b", "zz"], "cluster": [1, 1, 2]})
    assert cluster_ari(perfect, truth) == pytest.approx(1.0)
    assert cluster_ari(pl.DataFrame({"actor_id": [], "cluster": []}), truth) == 0.0


def bursts_table(rows: list[tuple[int, str, str, Any, Any]]) -> pl.DataFrame:
    return pl.DataFrame(
        [{"burst": b, "signal": s, "key": k, "start": t0, "end": t1} for b, s, k, t0, t1 in rows]
    ).with_columns(pl.col("start", "end").cast(EVENT_SCHEMA["ts"]))


def test_burst_precision_at_k_by_hand(truth: pl.DataFrame) -> None:
    table = bursts_table(
        [
            (1, "co_link", "k1", T0 + H, T0 + H),  # campaign key, inside its span: true
            (2, "co_link", "k2", T0 + 5 * H, T0 + 6 * H),  # campaign key, outside: false
            (3, "co_share", "other", T0, T0),  # majority of its accounts coordinated: true
            (4, "co_share", "s1", T0 + 11 * H, T0 + 12 * H),  # meets the span at 11:00: true
            (5, "co_share", "viral", T0, T0),  # 1 of 2 coordinated: not a majority
        ]
    )
    members = pl.DataFrame({"burst": [3, 3, 3, 5, 5], "actor_id": ["a", "d", "o1", "e", "o2"]})
    out = burst_precision_at_k(table, truth, k=3, members=members)
    assert (out["k_used"], out["true"]) == (3, 2)
    assert out["precision_at_k"] == pytest.approx(2 / 3)
    assert out["n_true_bursts"] == 3  # bursts 1, 3 and 4 above
    out = burst_precision_at_k(table, truth, k=20)  # no members: the key rule alone
    assert (out["k_used"], out["true"]) == (5, 2)
    assert burst_precision_at_k(table.head(0), truth, k=5)["precision_at_k"] is None


def test_burst_key_rule_normalises_co_text(truth: pl.DataFrame) -> None:
    text = truth.with_columns(pl.lit(["Vote NOW  for   us"]).alias("keys"))
    table = bursts_table([(1, "co_text", "vote now for us", T0, T0)])
    assert burst_precision_at_k(table, text, k=1)["true"] == 1


def test_campaign_recall(truth: pl.DataFrame) -> None:
    assert campaign_recall(["a", "d", "e", "o1"], truth) == {
        "ring": {"style": "link_ring", "members": 3, "flagged": 1, "recall": pytest.approx(1 / 3)},
        "squad": {"style": "squad_in_cascade", "members": 2, "flagged": 2, "recall": 1.0},
    }


# ------------------------------------------------------------------- evaluate end to end


def audit_result() -> AuditResult:
    nodes = pl.DataFrame(
        {
            "actor_id": ["a", "b", "c", "d", "o1"],
            "cluster": [1, 1, None, 2, 2],
            "flagged": [True, True, False, True, True],
        }
    )
    nodes = nodes.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in NODE_SCHEMA.items() if c not in nodes.columns]
    ).select(list(NODE_SCHEMA))
    edges = pl.DataFrame(
        {"actor_a": ["a", "a", "d"], "actor_b": ["b", "c", "o1"], "pvalue": [1e-6, 0.2, 1e-3],
         "n_keys": [3, 1, 2]},
    )  # fmt: skip
    edges = edges.with_columns(
        [
            pl.lit(None).cast(t).alias(c)
            for c, t in AUDIT_EDGE_SCHEMA.items()
            if c not in edges.columns
        ]
    ).select(list(AUDIT_EDGE_SCHEMA))
    bursts = bursts_table([(1, "co_link", "k1", T0, T0 + H), (2, "co_share", "x", T0, T0)])
    bursts = bursts.with_columns(
        [pl.lit(None).cast(t).alias(c) for c, t in BURST_SCHEMA.items() if c not in bursts.columns]
    ).select(list(BURST_SCHEMA))
    return AuditResult(
        events=pl.DataFrame(schema=EVENT_SCHEMA),
        coaction_parts=PartedTable.of(pl.DataFrame()),
        edge_parts=PartedTable.of(edges),
        nodes=nodes,
        clusters=pl.DataFrame(schema=CLUSTER_SCHEMA),
        bursts=bursts,
    )


def check_report(report: dict[str, Any]) -> None:
    acc = report["accounts"]
    # flagged a, b, d, o1: TP a, b, d; FP o1; FN c, e
    assert (acc["tp"], acc["fp"], acc["fn"]) == (3, 1, 2)
    # pairs ranked (a, b), (d, o1), (a, c): true, false, true over 4 true pairs
    assert report["pairs"]["average_precision"] == pytest.approx((1 + 2 / 3) / 4)
    # burst 1 (k1 inside the ring's span) is true; burst 2 (key x, no members known) is not
    assert report["bursts"]["precision_at_k"] == 0.5
    assert report["summary"]["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)  # P 3/4, R 3/5
    assert report["campaigns"]["squad"]["recall"] == 0.5  # d flagged, e not
    assert -1.0 <= report["clusters"]["ari"] <= 1.0


def test_evaluate_result_and_directory(tmp_path: Path, truth: pl.DataFrame) -> None:
    result = audit_result()
    check_report(evaluate(result, truth, k=5))
    result.nodes.write_csv(tmp_path / "nodes.csv")
    result.edges.write_parquet(tmp_path / "edges.parquet")
    result.clusters.write_parquet(tmp_path / "clusters.parquet")
    result.bursts.write_parquet(tmp_path / "bursts.parquet")
    truth.write_parquet(tmp_path / "truth.parquet")
    check_report(evaluate(tmp_path, tmp_path / "truth.parquet", k=5))
    check_report(evaluate(str(tmp_path), str(tmp_path / "truth.parquet"), k=5))


def test_truth_from_csv(tmp_path: Path, truth: pl.DataFrame) -> None:
    flat = truth.with_columns(pl.col("keys").list.join(" "))
    flat.write_csv(tmp_path / "truth.csv")
    back = load_truth(tmp_path / "truth.csv")
    assert back["keys"].to_list() == truth["keys"].to_list()
    assert back["coordinated"].to_list() == truth["coordinated"].to_list()
    assert back["start"].to_list() == truth["start"].to_list()


def test_evaluate_parts_without_optional_parts(truth: pl.DataFrame) -> None:
    out = evaluate_parts(truth, flagged=["a"])
    assert out["pairs"] is None and out["bursts"] is None and out["clusters"] is None
    assert out["summary"]["precision"] == 1.0


def test_errors(tmp_path: Path, truth: pl.DataFrame) -> None:
    with pytest.raises(ParameterError, match="k must"):
        evaluate(audit_result(), truth, k=0)
    with pytest.raises(InputError, match="not found"):
        evaluate(tmp_path / "nowhere", truth)
    with pytest.raises(InputError, match=r"nodes\.csv"):
        evaluate(tmp_path, truth)
    with pytest.raises(InputError, match="truth file not found"):
        load_truth(tmp_path / "truth.parquet")
    (tmp_path / "bad.parquet").write_text("not parquet")
    with pytest.raises(InputError, match="cannot read truth"):
        load_truth(tmp_path / "bad.parquet")
    with pytest.raises(InputError, match="campaign"):
        load_truth(pl.DataFrame({"actor_id": ["a"]}))


def test_members_from_actions_feed_the_majority_rule(truth: pl.DataFrame) -> None:
    result = audit_result()
    acts = pl.DataFrame(
        [
            {"signal": "co_share", "key": "x", "actor_id": a, "ts": T0, "event_id": a, "event": i}
            for i, a in enumerate(["a", "b", "o1"])
        ],
        schema=ACTION_SCHEMA,
    )
    result.actions = acts
    assert evaluate(result, truth, k=5)["bursts"]["precision_at_k"] == 1.0


def test_audit_result_and_its_directory_score_the_same(tmp_path: Path) -> None:
    from coordscope.datasets.simulate import simulate
    from coordscope.pipeline import audit

    events, truth = simulate("rotating_subsets", seed=0, size="small")
    result = audit(events, signals=["co_share", "co_link", "co_hashtag", "co_text"])
    result.write(tmp_path, report=False)
    truth.write_parquet(tmp_path / "truth.parquet")
    direct = evaluate(result, truth)
    from_files = evaluate(tmp_path, tmp_path / "truth.parquet")
    assert direct == from_files
    assert direct["accounts"]["accounts"] == truth.height
    assert direct["bursts"]["n_bursts"] == result.bursts.height
    assert direct["pairs"]["true_pairs"] == sum(
        n * (n - 1) // 2 for n in truth.group_by("campaign").len().drop_nulls()["len"]
    )
