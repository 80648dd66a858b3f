"""The audit pipeline end to end: outputs, accounting, determinism, pseudonyms, the CLI."""

from __future__ import annotations

import io
import json
import re
import subprocess
import sys
from pathlib import Path

import networkx as nx
import polars as pl
import pytest
from polars.testing import assert_frame_equal

import coordscope
from coordscope.datasets.formats import get_format
from coordscope.errors import InputError, ParameterError
from coordscope.outputs import OUTPUT_FILES, AuditResult, write_audit
from coordscope.pipeline import audit
from coordscope.report import render_report
from coordscope.schema import AUDIT_EDGE_SCHEMA, BURST_SCHEMA, CLUSTER_SCHEMA, NODE_SCHEMA
from tests.conftest import REFERENCE, requires_reference, shuffle_joins

DEMO_SIGNALS = ["co_share", "co_link", "co_hashtag"]


@pytest.fixture(scope="module")
def demo() -> tuple[pl.DataFrame, pl.DataFrame]:
    return coordscope.simulate("demo", seed=7)


@pytest.fixture(scope="module")
def demo_result(demo: tuple[pl.DataFrame, pl.DataFrame]) -> AuditResult:
    events, _ = demo
    return audit(events, signals=DEMO_SIGNALS)


@pytest.fixture(scope="module")
def demo_dir(demo_result: AuditResult, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("audit")
    write_audit(demo_result, out)
    return out


def test_tables_conform_to_schemas(demo_result: AuditResult) -> None:
    assert demo_result.edges.schema == pl.Schema(AUDIT_EDGE_SCHEMA)
    assert demo_result.nodes.schema == pl.Schema(NODE_SCHEMA)
    assert demo_result.clusters.schema == pl.Schema(CLUSTER_SCHEMA)
    assert demo_result.bursts.schema == pl.Schema(BURST_SCHEMA)


def test_ranking_and_flags_are_consistent(demo_result: AuditResult) -> None:
    clusters = demo_result.clusters
    assert clusters.height > 0
    assert clusters["cluster"].to_list() == list(range(1, clusters.height + 1))
    sig = clusters["significant"].to_list()
    assert sig == sorted(sig, reverse=True)  # flagged clusters first
    flagged_members = set(
        clusters.filter("significant")["members"].explode(keep_nulls=False).to_list()
    )
    nodes = demo_result.nodes
    assert set(nodes.filter("flagged")["actor_id"].to_list()) == flagged_members
    assert nodes.height == demo_result.events["actor_id"].n_unique()
    edges = demo_result.edges
    s = edges["significant"].to_list()
    assert s == sorted(s, reverse=True)  # significant edges first
    inner = edges.filter(pl.col("cluster").is_not_null()).head(50)
    of = dict(nodes.select("actor_id", "cluster").iter_rows())
    for a, b, c in inner.select("actor_a", "actor_b", "cluster").iter_rows():
        assert of[a] == of[b] == c


def test_planted_campaigns_are_on_top(
    demo: tuple[pl.DataFrame, pl.DataFrame], demo_result: AuditResult
) -> None:
    _, truth = demo
    coordinated = set(truth.filter("coordinated")["actor_id"].to_list())
    top = demo_result.clusters.head(3)
    for members in top["members"].to_list():
        share = len(coordinated & set(members)) / len(members)
        assert share >= 0.9, members


def test_cluster_evidence_has_the_lockstep(demo_result: AuditResult) -> None:
    evidence = demo_result.cluster_evidence(1)
    members = set(demo_result.clusters["members"][0].to_list())
    assert evidence.height >= 2
    assert set(evidence["actor_id"].to_list()) <= members
    assert evidence.columns == ["signal", "key", "actor_id", "actor_name", "ts", "event_id", "text"]
    per_key = evidence.group_by("signal", "key").agg(pl.col("actor_id").n_unique())
    assert per_key["actor_id"].max() >= 2  # at least two members acted on one key
    assert demo_result.cluster_evidence(10**6).height == 0


def test_output_folder(demo_dir: Path, demo_result: AuditResult) -> None:
    for name in OUTPUT_FILES:
        assert (demo_dir / name).stat().st_size > 0, name
    assert not list(demo_dir.glob(".*tmp*"))
    summary = json.loads((demo_dir / "summary.json").read_text())
    rows = summary["rows"]
    assert rows["input"] == rows["accepted"] + rows["rejected"] + rows["duplicates"]
    assert summary["version"] == coordscope.__version__
    assert summary["parameters"]["signals"] == DEMO_SIGNALS
    assert summary["parameters"]["window_s"] == 60.0  # audit()'s default window
    for stage in ("actions", "significance", "clusters", "bursts", "write", "report"):
        assert stage in summary["timings_s"], stage
    assert summary["counts"]["clusters"] == demo_result.clusters.height
    assert sorted(summary["files"]) == sorted(OUTPUT_FILES)
    back = pl.read_parquet(demo_dir / "clusters.parquet")
    assert back.equals(demo_result.clusters)


def test_graph_files_round_trip(demo_dir: Path, demo_result: AuditResult) -> None:
    sig = demo_result.edges.filter("significant")
    graphml = nx.read_graphml(demo_dir / "graph.graphml")
    # the GEXF is dynamic with date-time spells (GEXF 1.2's timeformat "dateTime", which
    # Gephi reads); networkx's reader knows only "date" for string times, so it is told so
    text = (demo_dir / "graph.gexf").read_text(encoding="utf-8")
    assert 'mode="dynamic" timeformat="dateTime"' in text
    gexf = nx.read_gexf(io.StringIO(text.replace('timeformat="dateTime"', 'timeformat="date"')))
    assert gexf.graph["mode"] == "dynamic"
    in_memory = demo_result.to_networkx()
    for graph in (graphml, gexf, in_memory):
        assert graph.number_of_edges() == sig.height
        a, b = sig.row(0)[:2]
        assert graph.edges[a, b]["n_keys"] == sig["n_keys"][0]
        assert graph.edges[a, b]["significant"] is True


def test_same_input_same_files(
    demo: tuple[pl.DataFrame, pl.DataFrame], demo_dir: Path, tmp_path: Path
) -> None:
    events, _ = demo
    write_audit(audit(events, signals=DEMO_SIGNALS), tmp_path)
    for name in OUTPUT_FILES:
        if name == "summary.json":
            continue
        assert (tmp_path / name).read_bytes() == (demo_dir / name).read_bytes(), name
    first = json.loads((demo_dir / "summary.json").read_text())
    second = json.loads((tmp_path / "summary.json").read_text())
    for run_only in ("timings_s", "resources"):  # the clock and this process's memory
        first.pop(run_only, None)
        second.pop(run_only, None)
    assert first == second


def test_same_files_whatever_order_joins_return_rows(
    demo: tuple[pl.DataFrame, pl.DataFrame],
    demo_dir: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # the network picture once drew its edges in the order of a join's rows
    events, _ = demo
    shuffle_joins(monkeypatch, seed=1)
    write_audit(audit(events, signals=DEMO_SIGNALS), tmp_path)
    monkeypatch.undo()
    for name in OUTPUT_FILES:
        if name != "summary.json":
            assert (tmp_path / name).read_bytes() == (demo_dir / name).read_bytes(), name
    first, second = (json.loads((d / "summary.json").read_text()) for d in (demo_dir, tmp_path))
    for run_only in ("timings_s", "resources"):
        first.pop(run_only, None)
        second.pop(run_only, None)
    assert first == second


def _tokens(text: str) -> set[str]:
    return {t.lower() for t in re.findall(r"\w+", text)}


def _strings_of(frame: pl.DataFrame) -> set[str]:
    out: set[str] = set()
    for name, dtype in frame.schema.items():
        col = frame[name]
        if isinstance(dtype, pl.List):
            col = col.explode(keep_nulls=False)
        out |= _tokens(" ".join(col.cast(pl.String).drop_nulls().to_list()))
    return out


def test_pseudonymize_leaves_no_raw_account_id(
    demo: tuple[pl.DataFrame, pl.DataFrame], demo_result: AuditResult, tmp_path: Path
) -> None:
    events, _ = demo
    raw = set(events["actor_id"].to_list()) | {
        n.lower() for n in events["actor_name"].drop_nulls().to_list()
    }
    result = audit(events, signals=DEMO_SIGNALS, pseudonymize="secret key")
    write_audit(result, tmp_path)
    for path in sorted(tmp_path.iterdir()):
        found = (
            _strings_of(pl.read_parquet(path))
            if path.suffix == ".parquet"
            else _tokens(path.read_text(encoding="utf-8"))
        )
        leaked = raw & found
        assert not leaked, f"{path.name}: {sorted(leaked)[:5]}"
    # the same findings under other names
    assert result.clusters["size"].to_list() == demo_result.clusters["size"].to_list()
    assert result.edges.height == demo_result.edges.height
    assert result.clusters["members"][0][0].startswith("u_")


def test_pseudonyms_depend_on_the_key(demo: tuple[pl.DataFrame, pl.DataFrame]) -> None:
    from coordscope.datasets.pseudonym import pseudonym, pseudonymize_events

    events, _ = demo
    one = pseudonymize_events(events.head(50), "k1")
    two = pseudonymize_events(events.head(50), "k2")
    assert one["actor_id"][0] == pseudonym(events["actor_id"][0], "k1")
    assert one["actor_id"][0] != two["actor_id"][0]
    assert len(one["actor_id"][0]) == 26  # "u_" + 24 hex digits of the HMAC
    with pytest.raises(ParameterError):
        pseudonymize_events(events.head(5), "")


def test_interrupted_write_leaves_no_summary(
    demo_result: AuditResult, demo_dir: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import coordscope.report

    (tmp_path / "summary.json").write_text("{}")  # a complete-looking earlier run

    def boom(*args: object, **kwargs: object) -> Path:
        raise KeyboardInterrupt

    monkeypatch.setattr(coordscope.outputs, "write_report", boom)
    with pytest.raises(KeyboardInterrupt):
        write_audit(demo_result, tmp_path)
    assert not (tmp_path / "summary.json").exists()
    assert not (tmp_path / "report.html").exists()
    assert not list(tmp_path.glob(".*tmp*"))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"alpha": 0.0}, "alpha"),
        ({"window": -1.0}, "window"),
        ({"signals": ["co_nothing"]}, "unknown signal"),
        ({"signals": []}, "at least one"),
        ({"min_actors": 1}, "min_actors"),
    ],
)
def test_bad_parameters(
    demo: tuple[pl.DataFrame, pl.DataFrame], kwargs: dict[str, object], message: str
) -> None:
    events, _ = demo
    with pytest.raises(ParameterError, match=message):
        audit(events.head(100), **kwargs)  # type: ignore[arg-type]


def test_empty_and_tiny_inputs(demo: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path) -> None:
    events, _ = demo
    for frame in (events.clear(), events.head(1)):
        result = audit(frame, signals=DEMO_SIGNALS)
        assert result.clusters.height == 0
        assert result.edges.height == 0
        write_audit(result, tmp_path)
        assert (tmp_path / "report.html").exists()


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "coordscope", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_cli_audit_file_json_and_rejects(
    demo: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    events, _ = demo
    path = tmp_path / "tweets.jsonl"
    get_format("twitter-v2").write(events, str(path))
    with path.open("a") as fh:
        fh.write("{not json\n")
    out = tmp_path / "out"
    done = _cli("audit", str(path), "-o", str(out), "--signals", "co_share,co_link", "--json")
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    rows = summary["rows"]
    assert rows["rejected"] == 1
    assert rows["input"] == rows["accepted"] + rows["rejected"] + rows["duplicates"]
    assert summary["inputs"][0]["format"] == "twitter-v2"
    assert summary["parameters"]["signals"] == ["co_share", "co_link"]
    assert (out / "rejects.csv").exists()
    assert (out / "report.html").exists()


@pytest.mark.parametrize(
    ("args", "message", "status"),
    [
        (["--signals", "co_bogus"], "unknown signal 'co_bogus'", 2),  # usage
        (["--alpha", "1.5"], "alpha", 2),
        (["/nonexistent/file.csv"], "file.csv", 1),  # input
    ],
)
def test_cli_audit_errors_are_one_line(
    tmp_path: Path, args: list[str], message: str, status: int
) -> None:
    done = _cli("audit", *args, "-o", str(tmp_path / "o"))
    assert done.returncode == status
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), done.stderr
    assert message in lines[0]


def test_cli_help_of_every_command() -> None:
    for command in ("audit", "evaluate", "fit-scorer", "ingest", "detect", "simulate", "window"):
        done = _cli(command, "--help")
        assert done.returncode == 0, command
        assert "Usage" in done.stdout, command


def test_cli_evaluate_against_truth(
    demo: tuple[pl.DataFrame, pl.DataFrame], demo_dir: Path, tmp_path: Path
) -> None:
    _, truth = demo
    truth_path = tmp_path / "truth.parquet"
    truth.write_parquet(truth_path)
    done = _cli("evaluate", str(demo_dir), "--truth", str(truth_path), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    summary = report["summary"]
    assert summary["precision"] == 1.0  # the demo audit flags planted accounts only
    assert summary["organic_flagged_share"] == 0.0
    # co_share, co_link and co_hashtag only: copy_paste (11 accounts, needs co_similar)
    # and fresh_accounts (21, ~15 min apart) are out of reach: 115 / 147 for seed 7
    planted = truth.filter("coordinated")
    reachable = planted.filter(~pl.col("style").is_in(["copy_paste", "fresh_accounts"]))
    assert summary["recall"] == pytest.approx(
        reachable["actor_id"].n_unique() / planted["actor_id"].n_unique()
    )
    shown = _cli("evaluate", str(demo_dir), "--truth", str(truth_path))
    assert shown.returncode == 0 and "precision" in shown.stdout and "link_ring-1" in shown.stdout
    missing = _cli("evaluate", str(demo_dir), "--truth", str(tmp_path / "nope.parquet"))
    assert missing.returncode == 1 and missing.stderr.startswith("error:")


def test_cli_fit_scorer_and_audit_with_it(
    demo: tuple[pl.DataFrame, pl.DataFrame], tmp_path: Path
) -> None:
    from tests.test_scorer import synthetic_clusters

    folders, truths = [], []
    for seed in (1, 2):
        clusters, truth = synthetic_clusters(seed)
        folder = tmp_path / f"audit{seed}"
        folder.mkdir()
        clusters.write_parquet(folder / "clusters.parquet")
        truth.write_parquet(folder / "truth.parquet")
        folders.append(str(folder))
        truths += ["--truth", str(folder / "truth.parquet")]
    scorer = tmp_path / "scorer.json"
    done = _cli("fit-scorer", *folders, *truths, "-o", str(scorer))
    assert done.returncode == 0, done.stderr
    assert json.loads(scorer.read_text())["format"]
    events, _ = demo
    data = tmp_path / "events.parquet"
    events.write_parquet(data)
    out = tmp_path / "scored"
    run = _cli("audit", str(data), "-o", str(out), "--signals", "co_share,co_link", "--scorer",
               str(scorer), "--json")  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert json.loads(run.stdout)["parameters"]["scorer"] is not None
    scores = pl.read_parquet(out / "clusters.parquet")["score"]
    assert scores.is_between(0.0, 1.0).all()
    one_truth = _cli("fit-scorer", *folders, "--truth", truths[1], "-o", str(scorer))
    assert one_truth.returncode == 2 and "one --truth per audit folder" in one_truth.stderr


@pytest.mark.reference
@pytest.mark.slow
@requires_reference
def test_audit_german_elections_media_signals(tmp_path: Path) -> None:
    """CooRTweet's multimodal vignette data: anonymised pHash ids are co_media keys."""
    data = REFERENCE / "coortweet" / "german_elections.csv.gz"
    out = tmp_path / "german"
    done = _cli("audit", str(data), "-o", str(out), "--signals", "co_similar,co_media,co_link",
                "--json")  # fmt: skip
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    # Brute force on the raw file: the 3 rows without a post_id are rejected, exact repeats of
    # a row are duplicates (input 218,971 = 194,791 accepted + 3 rejected + 24,177 duplicates)
    raw = pl.read_csv(data, infer_schema_length=None)
    valid = raw.filter(pl.col("post_id").is_not_null())
    rejected = raw.height - valid.height
    accepted = valid.unique().height
    assert summary["rows"] == {
        "input": raw.height, "accepted": accepted, "rejected": rejected,
        "duplicates": raw.height - rejected - accepted,
    }  # fmt: skip
    # one co_media action per distinct (post, phash id): 16,934
    media = valid.filter(pl.col("phash_id").is_not_null()).select("post_id", "phash_id")
    assert summary["counts"]["actions"]["co_media"] == media.n_unique()
    assert summary["counts"]["actions"]["co_similar"] == 0  # the data has no text
    assert summary["counts"]["flagged_clusters"] > 0
    clusters = pl.read_parquet(out / "clusters.parquet")
    assert "co_media" in set(clusters.filter("significant")["signals"].explode().to_list())
    assert (out / "report.html").stat().st_size > 0


def test_an_audit_folder_reads_back_and_renders_the_same_report(
    demo_dir: Path, demo_result: AuditResult, tmp_path: Path
) -> None:
    back = AuditResult.read(demo_dir)
    assert_frame_equal(back.nodes, demo_result.nodes)
    assert_frame_equal(back.clusters, demo_result.clusters)
    assert_frame_equal(back.bursts, demo_result.bursts)
    assert_frame_equal(back.edges, demo_result.edges)
    assert_frame_equal(back.coactions, demo_result.coactions)
    assert back.summary == json.loads((demo_dir / "summary.json").read_text())
    # the same page as the run wrote, byte for byte, and the same evidence
    assert render_report(back) == (demo_dir / "report.html").read_text(encoding="utf-8")
    # evidence: without the audit's actions (not an output), the two events of each
    # evidence row, which the run's own view (every co-acting event) holds
    first = int(demo_result.clusters["cluster"][0])
    seen = back.cluster_evidence(first)
    assert seen.height > 0
    assert seen.join(
        demo_result.cluster_evidence(first), on=list(seen.columns), how="anti"
    ).is_empty()
    # the command: another number of clusters in detail, into another file
    out = tmp_path / "top2.html"
    done = _cli("report", str(demo_dir), "--top", "2", "-o", str(out))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"report: {out}"
    assert out.read_text(encoding="utf-8") == render_report(back, top=2)
    assert render_report(back, top=2) != render_report(back)


def test_reading_a_folder_that_is_not_a_whole_audit_is_one_line(
    demo_dir: Path, tmp_path: Path
) -> None:
    partial = tmp_path / "partial"
    partial.mkdir()
    for name in ("events.parquet", "nodes.parquet"):
        (partial / name).write_bytes((demo_dir / name).read_bytes())
    with pytest.raises(InputError, match=r"no summary\.json: not a complete audit"):
        AuditResult.read(partial)
    (partial / "summary.json").write_text("{}")
    with pytest.raises(InputError, match=r"no coactions\.parquet: not an audit folder"):
        AuditResult.read(partial)
    done = _cli("report", str(tmp_path / "nowhere"))
    assert done.returncode == 1
    assert done.stderr.strip() == f"error: {tmp_path / 'nowhere'}: no such audit folder"
