"""The ``coordscope`` command line: thin wrappers over the Python API.

Every error prints one line on stderr; the exit status says which kind it was
(:data:`EXIT_STATUS`). ``--json`` prints a machine-readable summary on stdout; progress
goes to stderr, only on a terminal.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import re
import shutil
import signal
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import polars as pl
import typer
from polars.exceptions import PanicException
from rich.console import Console, ConsoleOptions, ConsoleRenderable, RenderHook, RenderResult
from rich.filesize import decimal
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.progress import Task as ProgressTask
from rich.segment import Segment
from rich.table import Column, Table
from rich.text import Text

from coordscope._output import (
    atomic_write,
    check_event_dataset,
    check_utf8_path,
    claim_output,
    remove_temporaries,
    write_events,
    write_table,
)
from coordscope._version import __version__
from coordscope.budget import return_freed_memory
from coordscope.datasets._tables import first_line
from coordscope.datasets.formats import FORMAT_NAMES, FORMATS, get_format
from coordscope.datasets.ingest import DEFAULT_MAX_INFLATE, parse_mapping
from coordscope.datasets.ingest import ingest as ingest_files
from coordscope.datasets.pseudonym import KEY_ENV, resolve_key
from coordscope.datasets.simulate import SCENARIOS, check_simulate_options
from coordscope.datasets.simulate import simulate as run_simulation
from coordscope.engine.runners import Runner
from coordscope.engine.state import DEFAULT_HORIZON_DAYS, StateStore
from coordscope.errors import CoordscopeError, ParameterError, check_window
from coordscope.graphs.lineage import STATUSES
from coordscope.metrics.evaluate import evaluate as run_evaluate
from coordscope.metrics.scorer import fit_scorer, load_scorer
from coordscope.parts import WorkDir
from coordscope.progress import LogfmtFormatter, log, logger, showing
from coordscope.schema import SIGNALS, TEXT_RULES
from coordscope.signals.actions import actions, resolve_signals
from coordscope.signals.window import estimate_window

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from coordscope.pipeline import StageHook

__all__ = ["app", "main"]

#: What every exit status means (also in ``--help`` and the README).
EXIT_STATUS = (
    "Exit status: 0 done; 1 bad input (a file missing, unreadable or not of its format, a "
    "state in use or damaged); 2 a usage error (an unknown option, a bad option value, an "
    "output path that cannot be used); 3 an internal error (a bug: please report it); 130 "
    "interrupted; 143 terminated."
)

app = typer.Typer(
    name="coordscope",
    help="Find coordinated amplification in exported social-media data.",
    epilog=EXIT_STATUS,
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    rich_markup_mode="markdown",
)
#: Characters never written to a terminal as they are, because data (names, hashtags, post
#: text, file names) is written by the people being studied: C0 and C1 controls and DEL
#: (escape sequences that recolour, move the cursor or retitle the window; bells; carriage
#: returns that overwrite a line) and the Unicode format characters that reorder or hide
#: text (bidi embeddings, overrides and isolates; zero-width characters; line and paragraph
#: separators; the byte-order mark). Each is shown as its escape, ``\x1b`` or ``\u202e``.
_UNSAFE = re.compile("[\x00-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]")
#: The same, but a line break stays one: tables and multi-line help are laid out with them.
_UNSAFE_KEEP_NEWLINE = re.compile(
    "[\x00-\x09\x0b-\x1f\x7f-\x9f\u200b-\u200f\u2028-\u202e\u2060-\u2069\ufeff]"
)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code <= 0xFF else f"\\u{code:04x}"


def safe_text(text: str, *, keep_newlines: bool = False) -> str:
    r"""Return ``text`` with every control and invisible format character escaped.

    Examples
    --------
    >>> safe_text("#news\x1b[2J\u202etxt.exe")
    '#news\\x1b[2J\\u202etxt.exe'
    >>> safe_text("a\nb"), safe_text("a\nb", keep_newlines=True)
    ('a\\x0ab', 'a\nb')
    """
    return (_UNSAFE_KEEP_NEWLINE if keep_newlines else _UNSAFE).sub(_escape, text)


class _Escaped:
    """A renderable printed with its text (never rich's own control codes) made safe."""

    def __init__(self, inner: ConsoleRenderable) -> None:
        self.inner = inner

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        for segment in console.render(self.inner, options):
            if segment.control:
                yield segment
            else:
                yield Segment(safe_text(segment.text, keep_newlines=True), segment.style)


class _EscapeHook(RenderHook):
    """Escapes whatever a console prints: messages, table cells, file names."""

    def process_renderables(self, renderables: list[ConsoleRenderable]) -> list[ConsoleRenderable]:
        return [_Escaped(r) for r in renderables]


def _add_row(table: Table, *cells: str) -> None:
    """Add a row of text cells, made safe before the table is laid out (so it aligns)."""
    table.add_row(*(Text(safe_text(cell)) for cell in cells))


def _console(*, stderr: bool) -> Console:
    """Return a console that prints data safely.

    It never interprets rich markup in what it prints (data may hold ``[link=…]``) and it
    escapes control characters (see :func:`safe_text`).
    """
    console = Console(stderr=stderr, highlight=False, markup=False)
    console.push_render_hook(_EscapeHook())
    return console


_err = _console(stderr=True)
_out = _console(stderr=False)

_FORMAT_HELP = "Input format: auto (recognised from content) or one of: " + ", ".join(FORMAT_NAMES)
_FORMAT_EPILOG = "Formats: " + "; ".join(f"{f.name}: {f.summary}" for f in FORMATS) + "."


def _version(value: bool) -> None:
    if value:
        _out.print(f"coordscope {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Print the version.")
    ] = False,
) -> None:
    """Find coordinated amplification in exported social-media data."""


class _Count(ProgressColumn):
    """``12/40 partitions``, or sizes for bytes (``1.2/3.4 GB``); blank for a stage."""

    def render(self, task: ProgressTask) -> Text:
        unit = task.fields.get("unit", "")
        if task.total is None or not unit:
            return Text("")
        if unit == "bytes":
            return Text(f"{decimal(int(task.completed))}/{decimal(int(task.total))}")
        return Text(f"{int(task.completed):,}/{int(task.total):,} {unit}")


class _Eta(ProgressColumn):
    """``eta 0:01:23`` once the rate is known; blank for a stage or an unknown size."""

    def render(self, task: ProgressTask) -> Text:
        left = task.time_remaining
        if task.total is None or left is None or task.finished:
            return Text("")
        return Text(f"eta {dt.timedelta(seconds=round(left))}", style="cyan")


class _Bar(BarColumn):
    """A bar for a task of known size; nothing for a stage (its spinner says it runs)."""

    def render(self, task: ProgressTask) -> Any:
        return Text("") if task.total is None else super().render(task)


class _Bars:
    """Progress on stderr (a terminal): a spinner per stage, and under it a bar per task.

    A stage (:data:`~coordscope.pipeline.StageHook`) is a line with a spinner and its
    time; when it ends, a line ``✓ label  time`` stays. A task that a loop tracks inside
    it (:func:`coordscope.progress.track`: files, events, partitions) is a bar with its
    counts, time and estimated time left, removed when it ends. Labels come from data
    (file names), so they are made safe before they are shown.
    """

    def __init__(self) -> None:
        self.progress = Progress(
            SpinnerColumn(),
            TextColumn(
                "{task.description}",
                markup=False,
                table_column=Column(no_wrap=True, max_width=44, overflow="ellipsis"),
            ),
            _Bar(bar_width=24),
            _Count(table_column=Column(no_wrap=True)),
            TimeElapsedColumn(),
            _Eta(),
            console=_err,
            transient=True,
            speed_estimate_period=60,
        )
        self._ids: dict[int, TaskID] = {}
        self._lock = threading.Lock()
        self._stages = 0  # the display runs while a stage does (not while results print)

    def begin(self, key: int, label: str, total: float | None, unit: str) -> None:
        """Add a bar (indented under the stage)."""
        task = self.progress.add_task("  " + safe_text(label), total=total, unit=unit)
        with self._lock:
            self._ids[key] = task

    def update(self, key: int, done: float) -> None:
        """Move a bar."""
        with self._lock:
            task = self._ids.get(key)
        if task is not None:
            self.progress.update(task, completed=done)

    def end(self, key: int) -> None:
        """Remove a bar."""
        with self._lock:
            task = self._ids.pop(key, None)
        if task is not None:
            self.progress.remove_task(task)

    @contextlib.contextmanager
    def stage(self, name: str, label: str) -> Iterator[None]:
        """Show the stage ``label`` while the block runs; then a line with its time."""
        start = time.perf_counter()
        if self._stages == 0:
            self.progress.start()
        self._stages += 1
        task = self.progress.add_task(safe_text(label), total=None)
        try:
            yield
        finally:
            self.progress.remove_task(task)
            self._stages -= 1
            if self._stages == 0:
                self.progress.stop()
        took = time.perf_counter() - start
        self.progress.console.print(
            Text.assemble(("✓", "green"), f" {safe_text(label):<28} {took:7.2f} s")
        )


class _Ui:
    """What a command shows as it runs: bars, log lines, or nothing (see :func:`_ui`)."""

    def __init__(self, bars: _Bars | None) -> None:
        self.bars = bars

    @property
    def stages(self) -> StageHook | None:
        """The stage hook of an audit: the bars' stages, or None (the log has them)."""
        return self.bars.stage if self.bars is not None else None

    @contextlib.contextmanager
    def status(self, label: str) -> Iterator[None]:
        """Show a stage of a command that is not an audit (reading input, rendering)."""
        start = time.perf_counter()
        log("stage_start", stage=label)
        with self.bars.stage(label, label) if self.bars is not None else contextlib.nullcontext():
            yield
        log("stage_done", stage=label, seconds=time.perf_counter() - start)


#: The status of commands run without :func:`_ui` (quiet): no bars, no log.
_QUIET_UI = _Ui(None)


@contextlib.contextmanager
def _ui(command: str, *, quiet: bool, verbose: bool, as_json: bool = False) -> Iterator[_Ui]:
    """Set up what ``command`` shows on stderr while it runs, and what it prints.

    - ``--verbose``: structured log lines on stderr (logfmt, :mod:`coordscope.progress`):
      the run's start and end, each stage's start and end with its time and memory,
      each tracked task's progress every few seconds, the counts of the result, and an
      ``event=failed`` line before the error. For cron and log collectors; no bars.
    - ``--quiet``: nothing on stdout but ``--json``; on stderr only warnings and errors.
    - Otherwise: progress bars on stderr when it is a terminal (not with ``--json``),
      nothing in pipes; the summary on stdout.
    """
    if quiet and verbose:
        raise ParameterError("--quiet and --verbose cannot be used together")
    handler: logging.Handler | None = None
    level = logger.level
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(LogfmtFormatter())
        logger.addHandler(handler)
        logger.setLevel(logging.INFO)
    if quiet:
        _out.quiet = True
    bars = _Bars() if not (quiet or verbose or as_json) and sys.stderr.isatty() else None
    start = time.perf_counter()
    log("run_start", command=command, version=__version__, pid=os.getpid())
    try:
        with showing(bars) if bars is not None else contextlib.nullcontext():
            yield _Ui(bars)
        log("run_done", command=command, seconds=time.perf_counter() - start)
    except BaseException as exc:
        log(
            "failed", level=logging.ERROR, command=command, error=type(exc).__name__,
            message=first_line(exc) or None, seconds=time.perf_counter() - start,
        )  # fmt: skip
        raise
    finally:
        _out.quiet = False
        if handler is not None:
            logger.removeHandler(handler)
            logger.setLevel(level)


_Quiet = Annotated[
    bool,
    typer.Option(
        "--quiet", "-q", help="Print nothing but warnings and errors (and --json's output)."
    ),
]
_Verbose = Annotated[
    bool,
    typer.Option(
        "--verbose",
        "-v",
        help="Log each stage and the progress of long ones on stderr, one `key=value` line "
        "each with a UTC time stamp (for cron and log collectors), instead of progress bars.",
    ),
]


def _print_rows(rows: dict[str, int]) -> None:
    """Print the row accounting: input = accepted + rejected + duplicates."""
    _out.print(
        f"rows: {rows['input']:,} input = {rows['accepted']:,} accepted + "
        f"{rows['rejected']:,} rejected + {rows['duplicates']:,} duplicates"
    )


def _print_ingest_summary(summary: dict[str, Any], output: Path, rejects: Path | None) -> None:
    rows = summary["rows"]
    table = Table(title=None, show_header=True, header_style="bold")
    table.add_column("file")
    table.add_column("format")
    table.add_column("records", justify="right")
    for item in summary["inputs"]:
        how = " (detected)" if item["detected"] else ""
        _add_row(table, item["path"], f"{item['format']}{how}", f"{item['rows']:,}")
    _out.print(table)
    _print_rows(rows)
    span = summary["time_span"]
    _out.print(
        f"events: {summary['events']:,} by {summary['actors']:,} accounts, "
        f"{span['first']} → {span['last']}"
    )
    counters = {k: v for k, v in summary["counters"].items() if v and k != "events"}
    if counters:
        _out.print("notes: " + ", ".join(f"{k} {v:,}" for k, v in counters.items()))
    _out.print(f"wrote {output}")
    if rejects is not None:
        _out.print(f"rejects: {rejects}")


@app.command(epilog=_FORMAT_EPILOG)
def ingest(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Export files (plain, .gz or .zst), folders (read recursively) or glob patterns.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path,
        typer.Option(
            "-o",
            "--output",
            help="Event table to write (.parquet, .csv, .tsv, .jsonl), or a folder (no "
            "extension): a Parquet dataset partitioned by day, for Spark.",
        ),
    ],
    format: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option(
            "--map",
            help="Map a canonical column to a source field, COL=FIELD "
            "(e.g. --map actor_id=user_screen_name). Repeatable.",
        ),
    ] = None,
    rejects: Annotated[
        Path | None,
        typer.Option(
            "--rejects",
            help="Where to write rejected records (CSV: source, record, reason). "
            "Default: <output>.rejects.csv, written only when there are rejects.",
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    memory: Annotated[
        str,
        typer.Option(
            "--memory",
            help="Memory budget, e.g. 4GB or 512MB (at least 64MB). Files are read in pieces "
            "of 1/128 of it; accepted rows go to a work folder beside the output, removed at "
            "the end. Telegram exports, JSON arrays and CooRTweet's long tables are read "
            "whole.",
        ),
    ] = "4GB",
    max_inflate: Annotated[
        float,
        typer.Option(
            "--max-inflate",
            metavar="RATIO",
            help="Stop on a compressed file that decompresses to more than RATIO times its "
            "size (and to more than 256 MiB): a decompression bomb. Real exports compress "
            "5-15x. 0 turns the check off.",
        ),
    ] = DEFAULT_MAX_INFLATE,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Read export files into one canonical event table, accounting for every row.

    Every input row is accepted, rejected with a reason (written to the rejects file), or
    dropped as an exact duplicate: input = accepted + rejected + duplicates.
    """
    with _ui("ingest", quiet=quiet, verbose=verbose, as_json=as_json) as ui:
        mapping = parse_mapping(map_ or [])
        suffix = output.suffix.lower()
        if suffix not in ("", ".parquet", ".csv", ".tsv", ".jsonl", ".ndjson"):
            raise ParameterError(
                f"--output: unsupported extension '{suffix}' (use .parquet, .csv, .tsv or .jsonl, "
                "or a folder without one for a Parquet dataset partitioned by day)"
            )
        default_rejects = output.with_name(output.stem + ".rejects.csv")
        _claim_event_output(output, rejects or default_rejects, inputs)
        work = WorkDir(output.parent, prefix=".coordscope-work-")
        written: list[Path] = []
        try:
            with ui.status("reading input"):
                result = ingest_files(
                    [str(p) for p in inputs],
                    format=format,
                    mapping=mapping,
                    memory=memory,
                    max_inflate=max_inflate,
                    spill=work,
                )
            summary = result.summary()
            written.append(write_events(result.events, output))
            rejects_path: Path | None = None
            if rejects is not None or result.rejects.height:
                rejects_path = rejects or default_rejects
                written.append(write_table(result.rejects, rejects_path))
        except BaseException:
            # a failed or interrupted ingest leaves no event table that looks complete
            for path in written:
                if path.is_dir():
                    shutil.rmtree(path, ignore_errors=True)
                else:
                    path.unlink(missing_ok=True)
            raise
        finally:
            work.close()
        summary["output"] = str(output)
        summary["rejects_file"] = str(rejects_path) if rejects_path else None
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
        else:
            _print_ingest_summary(summary, output, rejects_path)


def _claim_event_output(output: Path, rejects: Path, inputs: list[Path]) -> None:
    """Check ``ingest``'s output paths before reading, and remove an earlier ingest's files.

    The folders must be writable; ``output`` must not be a folder when it names a file,
    nor a file or a foreign folder when it names a day-partitioned dataset. Removed: the
    old ``output`` and the old rejects file (unless one is an input of this run), and
    their temporaries (``.STEM.tmp-*.EXT``) from a killed run; nothing else of the
    folder, which may be shared.
    """
    check_utf8_path(output, "output")
    check_utf8_path(rejects, "rejects")
    if output.suffix and output.is_dir():
        raise ParameterError(
            f"output: {output} is a folder; give a file name (e.g. events.parquet)"
        )
    claim_output(output.parent, [output.name], inputs=inputs)
    if not output.suffix:
        check_event_dataset(output)
        if output.is_dir():
            shutil.rmtree(output)
    claim_output(rejects.parent, [rejects.name], inputs=inputs)


_EXPORT_NAMES = {
    "generic": "events.parquet",
    "coortweet": "events.csv",
    "cnt": "events.csv",
    "twitter-v1": "tweets.jsonl",
    "twitter-v2": "tweets.jsonl",
    "twitter-io": "tweets.csv",
    "telegram": "result.json",
    "crowdtangle": "posts.csv",
}


def _scenario_epilog() -> str:
    return "Scenarios: " + "; ".join(f"{k}: {v}" for k, v in SCENARIOS.items()) + "."


@app.command(epilog=_scenario_epilog())
def simulate(
    scenario: Annotated[str, typer.Option("--scenario", "-s", help="Scenario name (see below).")],
    output: Annotated[
        Path | None,
        typer.Option(
            "-o", "--output", help="Folder to write into (not needed with --scenario list)."
        ),
    ] = None,
    seed: Annotated[int, typer.Option("--seed", help="Random seed (same seed, same data).")] = 0,
    size: Annotated[
        str,
        typer.Option(
            "--size",
            help="tiny, small, medium, large, or a number of events (in all, not per day).",
        ),
    ] = "small",
    days: Annotated[
        int,
        typer.Option(
            "--days",
            help="Days the data spans, from 2024-03-01 (1-366): the size is spread over them "
            "(size/days events a day); background, diurnal rhythm and campaigns cover "
            "every day.",
        ),
    ] = 3,
    format: Annotated[
        str,
        typer.Option("--format", "-f", help="Export format to write: " + ", ".join(FORMAT_NAMES)),
    ] = "generic",
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Generate a synthetic dataset with planted campaigns and write it with its truth.

    Writes the events in the chosen export format (so the readers are exercised on it)
    and truth.parquet (which accounts belong to which campaign, which keys and time span
    they pushed). The scenarios are listed below.
    """
    with _ui("simulate", quiet=quiet, verbose=verbose, as_json=as_json) as ui:
        if scenario == "list":
            for name, text in SCENARIOS.items():
                _out.print(f"{name:20s} {text}", soft_wrap=True)
            return
        if scenario not in SCENARIOS:
            raise ParameterError(
                f"--scenario: unknown scenario '{scenario}'; choose one of: {', '.join(SCENARIOS)}"
            )
        if output is None:
            raise ParameterError("-o/--output is needed: the folder to write the data into")
        spec = get_format(format)
        size_arg: str | int = int(size) if size.isdigit() else size
        check_simulate_options(scenario, seed=seed, size=size_arg, days=days)
        # the events file of any format and the truth of an earlier simulation go first
        claim_output(output, [*_EXPORT_NAMES.values(), "truth.parquet"])
        with ui.status(f"simulating {scenario}"):
            events, truth = run_simulation(scenario, seed=seed, size=size_arg, days=days)
        events_path = output / _EXPORT_NAMES[spec.name]

        atomic_write(events_path, lambda tmp: spec.write(events, str(tmp)))
        truth_path = write_table(truth, output / "truth.parquet")
        coordinated = int(truth["coordinated"].sum()) if "coordinated" in truth.columns else 0
        summary = {
            "scenario": scenario,
            "seed": seed,
            "size": size,
            "days": days,
            "format": spec.name,
            "events": events.height,
            "accounts": truth.height,
            "coordinated_accounts": coordinated,
            "campaigns": int(truth["campaign"].drop_nulls().n_unique())
            if "campaign" in truth.columns
            else 0,
            "files": {"events": str(events_path), "truth": str(truth_path)},
        }
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
            return
        _out.print(
            f"{scenario} (seed {seed}, {days} days): {events.height:,} events by "
            f"{truth.height:,} accounts, "
            f"{coordinated:,} of them in {summary['campaigns']} planted campaign(s)"
        )
        _out.print(f"wrote {events_path} ({spec.name}) and {truth_path}")


_SIGNAL_HELP = (
    "Signals, comma-separated or repeated (--signal and --signals are the same option), "
    "from: co_share, co_quote, co_reply, co_link, co_domain, co_hashtag, co_mention, "
    "co_text, co_media, co_post, co_created."
)


#: ``--memory`` and ``--workers`` of the commands that count pairs (audit, detect).
_Memory = Annotated[
    str,
    typer.Option(
        "--memory",
        help="Memory budget of the run (4GB, 512MB, ...): partitions and spill files "
        "are sized from it; results do not depend on it.",
    ),
]
_Workers = Annotated[
    int | None,
    typer.Option(
        "--workers",
        help="Partition tasks run at once. Default: every core this process may use.",
        show_default=False,
    ),
]


#: Options of the signals and of partitioning, shared by audit and detect.
_TEXT_RULE_HELP = (
    "co_text normalisation: default (NFKC, lower case, URLs and @mentions dropped), toolkit "
    "(coordination-network-toolkit's) or exact (ends stripped). Default: default."
)
_MinTextLength = Annotated[
    int | None,
    typer.Option(
        "--min-text-length",
        metavar="CHARS",
        help="co_text: shortest normalised text that counts, in characters (>= 0). Default: 10.",
        show_default=False,
    ),
]
_Similarity = Annotated[
    float | None,
    typer.Option(
        "--similarity",
        metavar="J",
        help="co_similar: Jaccard threshold of near-duplicate texts (word sets), in (0, 1], "
        "inclusive. From 0.8 up pairs are found by MinHash (recall >= 0.99 at the threshold), "
        "below 0.8 exactly (slower on large inputs). Default: 0.8.",
        show_default=False,
    ),
]
_MinShingles = Annotated[
    int | None,
    typer.Option(
        "--min-shingles",
        metavar="N",
        help="co_similar: messages with fewer distinct words (>= 1) are never near "
        "duplicates. Default: 5.",
        show_default=False,
    ),
]
_MediaDistance = Annotated[
    int | None,
    typer.Option(
        "--media-distance",
        metavar="BITS",
        help="co_media: 64-bit perceptual hashes within this Hamming distance (0-32 bits, "
        "inclusive) are one image; 0 means equal hashes only. Default: 6.",
        show_default=False,
    ),
]
_PartitionMemory = Annotated[
    str | None,
    typer.Option(
        "--partition-memory",
        metavar="SIZE",
        help="Memory one partition task may use (1MB, 256MB, ...; at most --memory): smaller "
        "means more, smaller partitions; results do not depend on it. Default: a third of "
        "--memory / --workers.",
        show_default=False,
    ),
]


_Engine = Annotated[
    str,
    typer.Option(
        "--engine",
        help="Who makes the actions, codes the bursts and counts the pairs: local (threads "
        "of this process) or spark (needs coordscope[spark]; same results).",
    ),
]
_SparkMaster = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="Spark master URL for --engine spark. Default: SPARK_MASTER, else local[*].",
        show_default=False,
    ),
]


def _runner(engine: str, master: str | None, ui: _Ui) -> Runner | None:
    """Return the runner asked for (None: the local default); Spark starts here."""
    if engine not in ("local", "spark"):
        raise ParameterError(f"--engine must be local or spark, got '{engine}'")
    if engine == "local":
        if master is not None:
            raise ParameterError("--spark-master needs --engine spark")
        return None
    # the optional extra: imported only when asked for
    from coordscope.engine.spark import SparkRunner, spark_session

    def start() -> SparkSession:
        with ui.status("starting Spark"):
            return spark_session(master)

    # started when first needed: a bad input file is told before the JVM starts
    return SparkRunner(start)


@app.command(epilog=_FORMAT_EPILOG)
def detect(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Export files, folders (read recursively) or glob patterns, any supported format.",
            show_default=False,
        ),
    ],
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder to write the results into.")
    ],
    signal: Annotated[list[str], typer.Option("--signal", "--signals", "-s", help=_SIGNAL_HELP)],
    window: Annotated[
        float, typer.Option("--window", "-w", help="Coordination window W in seconds (inclusive).")
    ] = 60.0,
    mode: Annotated[
        str,
        typer.Option(
            "--mode",
            help="native (pairs with evidence), coortweet (CooRTweet's tables, identical) or "
            "cnt (coordination-network-toolkit's directed edges, identical).",
        ),
    ] = "native",
    min_participation: Annotated[
        int, typer.Option("--min-participation", help="coortweet: CooRTweet's min_participation.")
    ] = 2,
    remove_loops: Annotated[
        bool,
        typer.Option("--remove-loops/--keep-loops", help="coortweet: CooRTweet's remove_loops."),
    ] = True,
    edge_weight: Annotated[
        float,
        typer.Option("--edge-weight", help="coortweet: weight quantile for weight_threshold."),
    ] = 0.5,
    min_edge_weight: Annotated[
        int,
        typer.Option(
            "--min-edge-weight", help="native: least n_keys of an edge; cnt: least weight."
        ),
    ] = 1,
    text_rule: Annotated[
        str | None,
        typer.Option("--text-rule", help="native: " + _TEXT_RULE_HELP, show_default=False),
    ] = None,
    min_text_length: _MinTextLength = None,
    similarity: _Similarity = None,
    min_shingles: _MinShingles = None,
    media_distance: _MediaDistance = None,
    format: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Map a canonical column to a source field, COL=FIELD."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    memory: _Memory = "4GB",
    workers: _Workers = None,
    partition_memory: _PartitionMemory = None,
    engine: _Engine = "local",
    spark_master: _SparkMaster = None,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Find accounts acting on the same thing within W seconds, and their pair table.

    Writes events.parquet, coactions.parquet (evidence rows), edges.parquet, edges.csv,
    nodes.csv and summary.json into OUTPUT. In coortweet and cnt modes the tables have the
    reference tool's column names and values, and the options of the signals and
    --partition-memory are refused (usage error), except --similarity in cnt mode: the
    toolkit's own --similarity_threshold.
    """
    # the runs pull in scipy.stats and matplotlib (about 1 s): imported on first use so
    # that `--help`, `ingest` and `simulate` start without them
    with _ui("detect", quiet=quiet, verbose=verbose, as_json=as_json) as ui:
        from coordscope.runs import run_detect

        if text_rule is not None and text_rule not in TEXT_RULES:
            raise ParameterError(
                f"--text-rule must be default, toolkit or exact, got '{text_rule}'"
            )
        if engine != "local" and mode != "native":  # said before Spark starts
            raise ParameterError(
                f"--engine {engine} counts native mode only; {mode} mode runs locally"
            )
        runner = _runner(engine, spark_master, ui)
        with ui.status("detecting co-actions"):
            summary = run_detect(
                [str(p) for p in inputs],
                output,
                signals=_signal_list(signal) or [],
                window=window,
                mode=mode,
                format=format,
                mapping=parse_mapping(map_ or []),
                min_participation=min_participation,
                remove_loops=remove_loops,
                edge_weight=edge_weight,
                min_edge_weight=min_edge_weight,
                text_rule=text_rule,  # type: ignore[arg-type]
                min_text_length=min_text_length,
                similarity=similarity,
                min_shingles=min_shingles,
                media_distance=media_distance,
                memory=memory,
                workers=workers,
                partition_memory=partition_memory,
                runner=runner,
            )
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True) + "\n")
            return
        counts = summary["counts"]
        _print_rows(summary["rows"])
        _out.print(
            f"{summary['parameters']['mode']} mode, W = {window:g} s, "
            f"signals {', '.join(summary['parameters']['signals'])}: "
            f"{counts['coactions']:,} co-action rows, {counts['edges']:,} edges, "
            f"{counts['accounts_in_edges']:,} accounts in edges"
        )
        _print_top_edges(output / "edges.parquet", summary["parameters"]["mode"])
        _out.print(f"wrote {', '.join(summary['files'])} to {output}")


def _print_top_edges(path: Path, mode: str, top: int = 10) -> None:
    """Print the strongest edges of a detect run, as a small table."""
    scan = pl.scan_parquet(path)
    columns = scan.collect_schema().names()
    if mode == "native":
        cols, weight = (
            ["actor_a", "actor_b", "n_keys", "n_coactions", "min_dt", "signals"],
            "n_keys",
        )
    elif mode == "coortweet":
        cols, weight = ["from", "to", "weight", "avg_time_delta", "weight_threshold"], "weight"
    else:
        cols, weight = (
            [c for c in ("user_1", "user_2", "weight", "network") if c in columns],
            "weight",
        )
    # the first `top` rows of a stable sort by weight, without reading every edge (there
    # may be hundreds of millions): the rows above the top-th weight, then the first rows
    # at that weight, in file order
    scan = scan.select(cols).with_row_index("_row")
    weights = scan.select(pl.col(weight).top_k(top)).collect(engine="streaming")[weight]
    if weights.len() == 0:
        return
    n_edges = pl.scan_parquet(path).select(pl.len()).collect().item()
    cut = weights.min()
    above = scan.filter(pl.col(weight) > cut).collect(engine="streaming")
    at = scan.filter(pl.col(weight) == cut).head(top - above.height).collect(engine="streaming")
    shown = (
        pl.concat([above, at])
        .sort([weight, "_row"], descending=[True, False])
        .head(top)
        .drop("_row")
    )
    table = Table(title=f"strongest {shown.height} of {n_edges:,} edges", header_style="bold")
    for c in cols:
        table.add_column(c, justify="right" if shown.schema[c].is_numeric() else "left")
    for row in shown.iter_rows():
        _add_row(
            table,
            *(
                ", ".join(v)
                if isinstance(v, list)
                else f"{v:g}"
                if isinstance(v, float)
                else str(v)
                for v in row
            ),
        )
    _out.print(table)


def _signal_list(values: list[str] | None) -> list[str] | None:
    """``--signals a,b --signals c`` → ``[a, b, c]``; None when not given."""
    if not values:
        return None
    return [s.strip() for v in values for s in v.split(",") if s.strip()]


def _signal_windows(values: list[str] | None, audited: list[str]) -> dict[str, float] | None:
    """``--signal-window co_link=30,co_text=120 --signal-window …`` → ``{signal: seconds}``.

    Each item is ``SIGNAL=SECONDS``: a signal of the audit (an unknown name, one not
    audited, or one given twice is a usage error naming it) and a window checked as
    ``--window`` is. None when not given.

    Examples
    --------
    >>> _signal_windows(["co_link=30, co_text=120"], ["co_link", "co_text"])
    {'co_link': 30.0, 'co_text': 120.0}
    """
    if not values:
        return None
    flag = "--signal-window"
    windows: dict[str, float] = {}
    for item in (s.strip() for v in values for s in v.split(",") if s.strip()):
        name, sep, seconds = (part.strip() for part in item.partition("="))
        if not sep or not name or not seconds:
            raise ParameterError(f"{flag} must be SIGNAL=SECONDS, e.g. co_link=30, got '{item}'")
        if name not in SIGNALS:
            raise ParameterError(
                f"{flag}: unknown signal '{name}'; choose from: {', '.join(SIGNALS)}"
            )
        if name not in audited:
            raise ParameterError(
                f"{flag}: {name} is not an audited signal (audited: {', '.join(audited)}); "
                "add it with --signals"
            )
        if name in windows:
            raise ParameterError(f"{flag}: {name} is given twice")
        try:
            value = float(seconds)
        except ValueError:
            raise ParameterError(
                f"{flag} {name} must be a number of seconds, got '{seconds}'"
            ) from None
        windows[name] = check_window(value, f"{flag} {name}")
    return windows


@app.command(epilog=_FORMAT_EPILOG)
def audit(
    inputs: Annotated[
        list[Path] | None,
        typer.Argument(
            help="Export files, folders (read recursively) or glob patterns, any supported "
            "format. None: the bundled demo data.",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Path, typer.Option("-o", "--output", help="Folder to write the results into.")
    ] = Path("coordscope-audit"),
    signals: Annotated[
        list[str] | None,
        typer.Option(
            "--signals",
            "--signal",
            "-s",
            help="Signals, comma-separated or repeated (--signal and --signals are the same "
            "option), from: co_share, co_quote, co_reply, "
            "co_link, co_domain, co_hashtag, co_mention, co_text, co_similar, co_media, co_post, "
            "co_created. Default: the audit's default set (see summary.json).",
        ),
    ] = None,
    window: Annotated[
        float, typer.Option("--window", "-w", help="Coordination window W in seconds (inclusive).")
    ] = 60.0,
    signal_window: Annotated[
        list[str] | None,
        typer.Option(
            "--signal-window",
            metavar="SIGNAL=SECONDS",
            help="A window of its own for one audited signal, overriding --window for it, "
            "e.g. co_hashtag=600; repeated or comma-separated (co_link=30,co_text=120).",
            show_default=False,
        ),
    ] = None,
    text_rule: Annotated[
        str | None, typer.Option("--text-rule", help=_TEXT_RULE_HELP, show_default=False)
    ] = None,
    min_text_length: _MinTextLength = None,
    similarity: _Similarity = None,
    min_shingles: _MinShingles = None,
    media_distance: _MediaDistance = None,
    alpha: Annotated[
        float, typer.Option("--alpha", help="False discovery rate for pairs and clusters.")
    ] = 0.05,
    seed: Annotated[int, typer.Option("--seed", help="Seed of the key split and Louvain.")] = 0,
    min_actors: Annotated[
        int, typer.Option("--min-actors", help="Bursts need this many distinct accounts.")
    ] = 3,
    pseudonymize: Annotated[
        str | None,
        typer.Option(
            "--pseudonymize",
            metavar="KEY",
            help="Replace every value that names an account (ids, handles, @mentions, "
            "account links, Telegram chat ids) in every output by its HMAC-SHA256 with KEY. "
            "The command line shows KEY to `ps` and the shell history: prefer "
            "--pseudonymize-key-file or the environment variable "
            "COORDSCOPE_PSEUDONYMIZE_KEY.",
        ),
    ] = None,
    pseudonymize_key_file: Annotated[
        Path | None,
        typer.Option(
            "--pseudonymize-key-file",
            metavar="FILE",
            help="Pseudonymise as --pseudonymize, with the key on the first line of FILE.",
            show_default=False,
        ),
    ] = None,
    scorer: Annotated[
        Path | None,
        typer.Option("--scorer", help="A learned cluster scorer written by fit-scorer."),
    ] = None,
    format: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Map a canonical column to a source field, COL=FIELD."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the summary as JSON.")] = False,
    memory: _Memory = "4GB",
    workers: _Workers = None,
    partition_memory: _PartitionMemory = None,
    work_dir: Annotated[
        Path | None,
        typer.Option(
            "--work-dir",
            help="Folder for spill files (a hidden subfolder, removed at the end, also after "
            "an error or Ctrl-C). Default: inside OUTPUT.",
            show_default=False,
        ),
    ] = None,
    engine: _Engine = "local",
    spark_master: _SparkMaster = None,
    state: Annotated[
        Path | None,
        typer.Option(
            "--state",
            metavar="STATE_DIR",
            help="Daily state: add the INPUT events to STATE_DIR (created when missing), "
            "audit its last --horizon days, keep campaign ids from the last run and write "
            "changes.parquet. Without INPUT: audit the state as it is.",
            show_default=False,
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon",
            metavar="DAYS",
            help="With --state: days audited, back from the newest day held. Default: 30.",
            show_default=False,
        ),
    ] = None,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Find coordinated accounts, clusters and bursts, and write the report.

    Runs ingest → signals → significant pairs → clusters → bursts → outputs, and writes
    events.parquet, coactions.parquet, edges.parquet/.csv, nodes.csv, clusters.parquet,
    bursts.parquet, graph.graphml, graph.gexf, report.html and summary.json into OUTPUT.
    With no INPUT it audits the bundled demo data. With --state, the run adds to a daily
    state and audits its rolling horizon (see `coordscope state`).
    """
    with _ui("audit", quiet=quiet, verbose=verbose, as_json=as_json) as ui:
        # deferred: the runs pull in scipy.stats and matplotlib (about 1 s to import)
        from coordscope.runs import run_audit, run_state_audit

        if horizon is not None and state is None:
            raise ParameterError("--horizon needs --state")
        chosen = _signal_list(signals)
        # the signals' options given; the others keep audit's defaults
        made_with: dict[str, Any] = {
            name: value
            for name, value in (
                ("windows", _signal_windows(signal_window, resolve_signals(chosen))),
                ("text_rule", text_rule),
                ("min_text_length", min_text_length),
                ("similarity", similarity),
                ("min_shingles", min_shingles),
                ("media_distance", media_distance),
                ("partition_memory", partition_memory),
            )
            if value is not None
        }
        loaded = load_scorer(scorer) if scorer is not None else None
        runner = _runner(engine, spark_master, ui)
        daily: dict[str, Any] = (
            {}
            if state is None
            else {"state": state, "horizon": DEFAULT_HORIZON_DAYS if horizon is None else horizon}
        )
        result = (run_audit if state is None else run_state_audit)(
            [str(p) for p in inputs or []],
            output,
            **daily,
            format=format,
            mapping=parse_mapping(map_ or []),
            progress=ui.stages,
            signals=chosen,
            window=window,
            **made_with,
            alpha=alpha,
            seed=seed,
            min_actors=min_actors,
            pseudonymize=_pseudonymize_key(pseudonymize, pseudonymize_key_file),
            scorer=loaded,
            memory=memory,
            workers=workers,
            work_dir=work_dir,
            runner=runner,
        )
        summary = result.summary
        if as_json:
            sys.stdout.write(json.dumps(summary, indent=2, sort_keys=True, default=str) + "\n")
            return
        counts = summary["counts"]
        _print_rows(summary["rows"])
        _out.print(
            f"W = {window:g} s, alpha = {alpha:g}, "
            f"signals {', '.join(summary['parameters']['signals'])}: "
            f"{counts['edges']:,} account pairs co-acted, "
            f"{counts['significance'].get('edge_candidates', 0):,} of them repeatedly (testable), "
            f"{counts['significant_edges']:,} significant; "
            f"{counts['flagged_clusters']:,} of {counts['clusters']:,} clusters flagged "
            f"({counts['flagged_accounts']:,} accounts); {counts['bursts']:,} bursts"
        )
        if "state" in summary:
            _print_state_run(summary["state"], result.changes)
        _print_top_clusters(result.clusters)
        _out.print(f"wrote {len(summary['files'])} files to {output}")
        _out.print(f"report: {output / 'report.html'}")


def _pseudonymize_key(key: str | None, key_file: Path | None) -> str | None:
    """Return the pseudonymisation key from its one source; warn when it is on the CLI.

    Sources: ``--pseudonymize KEY``, ``--pseudonymize-key-file FILE`` (first line) or the
    environment variable ``COORDSCOPE_PSEUDONYMIZE_KEY``; more than one is an error.
    """
    resolved = resolve_key(key, key_file)
    if key is not None:
        _err.print(
            "warning: --pseudonymize puts the key where `ps` and the shell history show it; "
            f"use --pseudonymize-key-file FILE or {KEY_ENV} instead",
            markup=False,
            soft_wrap=True,
        )
    return resolved


def _print_state_run(state: dict[str, Any], changes: pl.DataFrame | None) -> None:
    """Print what a daily run added to its state, and what changed since the last run."""
    h = state["horizon"]
    repeated = (
        f"; {state['replaced_in_input']:,} input rows repeated an event id, the last kept"
        if state["replaced_in_input"]
        else ""
    )
    _out.print(
        f"state {state['directory']}: added {state['added']:,} events "
        f"({state['replaced']:,} replaced an earlier version{repeated}); audited "
        f"{h['first']} to {h['last']} ({h['events']:,} events, horizon {h['days']} days)"
    )
    if changes is None or changes.height == 0:
        _out.print("since the last run: no campaigns")
        return
    order = {s: i for i, s in enumerate(STATUSES)}
    table = Table(title="since the last run", header_style="bold")
    for name, justify in (
        ("campaign", "left"), ("status", "left"), ("cluster", "right"), ("size", "right"),
        ("added", "right"), ("removed", "right"), ("related", "left"),
    ):  # fmt: skip
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    rows = sorted(changes.iter_rows(named=True), key=lambda r: (order[r["status"]], r["campaign"]))
    for r in rows:
        _add_row(
            table,
            r["campaign"],
            r["status"],
            "" if r["cluster"] is None else str(r["cluster"]),
            str(r["size"]),
            f"+{len(r['members_added'])}",
            f"-{len(r['members_removed'])}",
            ", ".join(r["related"]),
        )
    _out.print(table, markup=False)


def _print_top_clusters(clusters: Any, top: int = 10) -> None:
    """Print the highest-ranked clusters, as a small table."""
    if clusters.height == 0:
        _out.print("no candidate clusters")
        return
    table = Table(
        title=f"top {min(top, clusters.height)} of {clusters.height:,} clusters",
        header_style="bold",
    )
    for name, justify in (
        ("#", "right"),
        ("score", "right"),
        ("flagged", "left"),
        ("size", "right"),
        ("keys", "right"),
        ("signals", "left"),
        ("q", "right"),
        ("top keys", "left"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for row in clusters.head(top).iter_rows(named=True):
        keys = ", ".join(row["top_keys"][:3])
        _add_row(
            table,
            str(row["cluster"]),
            f"{row['score']:.3g}" if row["score"] is not None else "",
            "yes" if row["significant"] else "no",
            str(row["size"]),
            str(row["n_keys"]),
            ", ".join(row["signals"]),
            f"{row['qvalue']:.2g}" if row["qvalue"] is not None else "",
            keys if len(keys) < 60 else keys[:57] + "…",
        )
    _out.print(table, markup=False)


@app.command()
def evaluate(
    outdir: Annotated[Path, typer.Argument(help="An audit output folder.", show_default=False)],
    truth: Annotated[
        Path, typer.Option("--truth", "-t", help="Truth table (truth.parquet or .csv of simulate).")
    ],
    k: Annotated[int, typer.Option("--k", help="Bursts counted by precision@k.")] = 20,
    as_json: Annotated[bool, typer.Option("--json", help="Print the metrics as JSON.")] = False,
) -> None:
    """Score an audit against ground truth.

    Account precision, recall and F1, pair average precision, cluster adjusted Rand
    index, burst precision@k.
    """
    metrics = run_evaluate(outdir, truth, k=k)
    if as_json:
        sys.stdout.write(json.dumps(metrics, indent=2, sort_keys=True, default=str) + "\n")
        return
    table = Table(title=f"{outdir} against {truth}", header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    for name, value in metrics.get("summary", {}).items():
        shown = "n/a" if value is None else f"{value:.4g}" if isinstance(value, float) else value
        _add_row(table, name, str(shown))
    _out.print(table, markup=False)
    campaigns = metrics.get("campaigns", {})
    if campaigns:
        per = Table(title="planted campaigns", header_style="bold")
        for name in ("campaign", "style", "members", "flagged", "recall"):
            per.add_column(name, justify="left" if name in ("campaign", "style") else "right")
        for name, value in sorted(campaigns.items()):
            recall = value.get("recall")
            _add_row(
                per,
                str(name),
                str(value.get("style", "")),
                str(value.get("members", "")),
                str(value.get("flagged", "")),
                "n/a" if recall is None else f"{recall:.3g}",
            )
        _out.print(per, markup=False)


@app.command(name="report")
def report_cmd(
    outdir: Annotated[Path, typer.Argument(help="An audit output folder.", show_default=False)],
    top: Annotated[
        int, typer.Option("--top", help="Clusters shown in detail (members, timeline, posts).")
    ] = 10,
    output: Annotated[
        Path | None,
        typer.Option("-o", "--output", help="Where to write it (default: OUTDIR/report.html)."),
    ] = None,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Render the HTML report again from an audit folder, without auditing again.

    Reads the folder's tables and summary (`AuditResult.read`) and writes the report
    they give: the same page the audit wrote, or another number of clusters in detail
    with `--top`. The folder's other files are not touched.
    """
    with _ui("report", quiet=quiet, verbose=verbose) as ui:
        from coordscope.outputs import read_audit
        from coordscope.report import write_report

        if isinstance(top, bool) or top < 1:
            raise ParameterError(f"--top must be >= 1, got {top}")
        target = outdir / "report.html" if output is None else output
        if target.is_dir():
            raise ParameterError(f"-o/--output: {target} is a folder; give a file name")
        with ui.status("reading the audit folder"):
            result = read_audit(outdir)
        with ui.status("rendering the report"):
            write_report(result, target, top=top)
        _out.print(f"report: {target}")


@app.command(name="fit-scorer")
def fit_scorer_cmd(
    outdirs: Annotated[
        list[Path], typer.Argument(help="Audit output folders to learn from.", show_default=False)
    ],
    truth: Annotated[
        list[Path],
        typer.Option("--truth", "-t", help="Truth table per folder, in the same order (repeat)."),
    ],
    output: Annotated[Path, typer.Option("-o", "--output", help="Scorer file to write (.json).")],
    seed: Annotated[int, typer.Option("--seed", help="Random seed.")] = 0,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Train a calibrated cluster scorer from audits with known truth (labelled takedowns).

    Use it with `coordscope audit --scorer FILE`.
    """
    with _ui("fit-scorer", quiet=quiet, verbose=verbose):
        if len(truth) != len(outdirs):
            raise ParameterError(
                f"give one --truth per audit folder: {len(outdirs)} folders, {len(truth)} truths"
            )
        model = fit_scorer(list(outdirs), list(truth), seed=seed)
        model.save(output)
        _out.print(f"wrote {output}: {model.describe()}")


@app.command(name="state")
def state_cmd(
    state_dir: Annotated[
        Path, typer.Argument(help="A state directory (audit --state).", show_default=False)
    ],
    drop_day: Annotated[
        list[str] | None,
        typer.Option(
            "--drop-day",
            metavar="YYYY-MM-DD",
            help="Remove every event of this UTC day from the state (repeatable).",
            show_default=False,
        ),
    ] = None,
    prune_before: Annotated[
        str | None,
        typer.Option(
            "--prune-before",
            metavar="YYYY-MM-DD",
            help="Remove every event of the days before this UTC date.",
            show_default=False,
        ),
    ] = None,
    horizon: Annotated[
        int | None,
        typer.Option(
            "--horizon",
            metavar="DAYS",
            help="The horizon to show. Default: the last run's, else 30.",
            show_default=False,
        ),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the description as JSON.")] = False,
) -> None:
    """Show a daily state: days held, events per day, the horizon, size on disk.

    With --drop-day or --prune-before, remove those days first (one atomic change; the
    campaign registry is kept). A state in use by a running audit is refused.
    """
    changing = bool(drop_day) or prune_before is not None
    if horizon is not None and horizon < 1:
        raise ParameterError(f"--horizon must be >= 1 day, got {horizon}")
    with StateStore(state_dir, create=False) as store:
        dropped = 0
        if changing:
            for day in drop_day or []:
                dropped += store.drop_day(_iso_day(day, "--drop-day"))
            if prune_before is not None:
                dropped += store.prune_before(_iso_day(prune_before, "--prune-before"))
            store.commit()
        m = store.committed
        runs = m.runs
        shown = horizon or (runs[-1]["horizon_days"] if runs else DEFAULT_HORIZON_DAYS)
        in_horizon = m.horizon(shown)
        registry = store.campaigns()
        info: dict[str, Any] = {
            "directory": str(store.path),
            "generation": m.generation,
            "days": {d: m.days[d]["events"] for d in sorted(m.days)},
            "events": sum(v["events"] for v in m.days.values()),
            "horizon": {
                "days": shown,
                "first": in_horizon[0] if in_horizon else None,
                "last": in_horizon[-1] if in_horizon else None,
                "events": sum(m.days[d]["events"] for d in in_horizon),
            },
            "size_bytes": store.size_bytes(),
            "campaigns": {
                "active": int(registry["active"].sum()) if registry is not None else 0,
                "known": registry.height if registry is not None else 0,
            },
            "last_run": runs[-1] if runs else None,
            "dropped_events": dropped,
        }
    if as_json:
        sys.stdout.write(json.dumps(info, indent=2, sort_keys=True) + "\n")
        return
    if changing:
        _out.print(f"removed {dropped:,} events")
    if not m.days:
        _out.print(f"{store.path}: no events held (generation {m.generation})")
        return
    table = Table(title=f"{store.path}: {len(m.days)} days held", header_style="bold")
    table.add_column("day")
    table.add_column("events", justify="right")
    table.add_column("in horizon")
    for day in sorted(m.days):
        _add_row(table, day, f"{m.days[day]['events']:,}", "yes" if day in in_horizon else "")
    _out.print(table, markup=False)
    h = info["horizon"]
    _out.print(
        f"{info['events']:,} events; horizon {shown} days: {h['first']} to {h['last']} "
        f"({h['events']:,} events); {_size(info['size_bytes'])} on disk; "
        f"{info['campaigns']['active']} active campaigns ({info['campaigns']['known']} known)"
    )
    if runs:
        last = runs[-1]
        _out.print(f"last run: as of {last['as_of']}, wrote {last['output']}")


def _iso_day(text: str, flag: str) -> str:
    """Check a YYYY-MM-DD date given on the command line."""
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise ParameterError(f"{flag} must be a date YYYY-MM-DD, got '{text}'") from None


def _size(n: int) -> str:
    """Return a byte count for people (1.2 GB)."""
    value = float(n)
    for unit in ("B", "kB", "MB"):
        if value < 1000:
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1000
    return f"{value:.1f} GB"


@app.command(name="window", epilog=_FORMAT_EPILOG)
def window_cmd(
    inputs: Annotated[
        list[Path],
        typer.Argument(
            help="Export files, folders (read recursively) or glob patterns, any supported format.",
            show_default=False,
        ),
    ],
    signal: Annotated[
        str,
        typer.Option(
            "--signal",
            "--signals",
            "-s",
            help="The one signal whose keys are timed: co_share, co_quote, co_reply, co_link, "
            "co_domain, co_hashtag, co_mention or co_text.",
        ),
    ] = "co_link",
    q: Annotated[
        float, typer.Option("--q", help="Quantile of quickest second shares kept (0-1).")
    ] = 0.1,
    p: Annotated[
        float, typer.Option("--p", help="Fraction of a key's shares to reach (0-1).")
    ] = 0.5,
    format: Annotated[str, typer.Option("--format", "-f", help=_FORMAT_HELP)] = "auto",
    map_: Annotated[
        list[str] | None,
        typer.Option("--map", help="Map a canonical column to a source field, COL=FIELD."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the estimate as JSON.")] = False,
    quiet: _Quiet = False,
    verbose: _Verbose = False,
) -> None:
    """Estimate the coordination window W from the data, as CooRnet does.

    Keeps the keys shared a second time fastest (quantile q of second-share delays), measures
    how long each takes to pass the fraction p of its shares, and prints the median of those
    times in seconds (CooRnet's estimate_coord_interval with its 2023 correction).
    """
    with _ui("window", quiet=quiet, verbose=verbose, as_json=as_json) as ui:
        with ui.status("reading input"):
            result = ingest_files(
                [str(x) for x in inputs], format=format, mapping=parse_mapping(map_ or [])
            )
            est = estimate_window(actions(result.events, signals=signal), q=q, p=p)
        if as_json:
            payload = {"rows": result.rows, "signal": signal, "q": q, "p": p, **est.as_dict()}
            sys.stdout.write(json.dumps(payload, indent=2, sort_keys=True) + "\n")
            return
        sm = est.summary
        _out.print(
            f"{signal}: {est.keys_shared_twice:,} keys shared at least twice; the quickest "
            f"{est.quick_keys:,} (second share within {est.rank2_cutoff:g} s) reach {p:g} of their "
            f"shares in {sm['min']:g}–{sm['max']:g} s (median {sm['median']:g} s)"
        )
        _out.print(f"estimated window: {est.window:g} s")


def main() -> None:
    """Entry point: run the app, turning every error into one line on stderr.

    Exit status (:data:`EXIT_STATUS`): 0 done; 1 the input (a file missing, unreadable or
    not of its format, a state in use or damaged); 2 a usage error (an unknown option, a
    bad option value, an output path that cannot be used); 3 an internal error (a bug:
    the line says so and how to see the traceback); 130 interrupted; 143 terminated. Set
    ``COORDSCOPE_DEBUG=1`` to see the traceback of an unexpected error.
    """
    debug = bool(os.environ.get("COORDSCOPE_DEBUG"))
    # SIGTERM unwinds like Ctrl-C: work directories and temporary files are removed
    signal.signal(signal.SIGTERM, _terminated)
    signal.signal(signal.SIGINT, _interrupted)
    return_freed_memory()
    try:
        code = app(standalone_mode=False)
    except typer.TyperException as exc:  # usage errors: unknown option, missing argument
        message = exc.format_message() if hasattr(exc, "format_message") else str(exc)
        lines = [line for line in message.splitlines() if line.strip()]
        if not lines:  # no command at all: the help was printed
            raise SystemExit(USAGE_ERROR) from None
        _exit_with(f"{lines[0]} (see --help)")
        raise SystemExit(USAGE_ERROR) from None
    except (typer.Abort, KeyboardInterrupt):
        _err.print("aborted")
        raise SystemExit(130) from None
    except _Terminated:
        _err.print("terminated")
        raise SystemExit(143) from None
    except (Exception, PanicException) as exc:  # a polars panic is not an Exception
        # a signal inside a Python function that polars calls comes back wrapped in
        # polars' own error: still a termination, not an error quoting a traceback
        if _TERMINATED.is_set():
            _err.print("terminated")
            raise SystemExit(143) from None
        if _INTERRUPTED.is_set():
            _err.print("aborted")
            raise SystemExit(130) from None
        if debug:
            raise
        if isinstance(exc, CoordscopeError):
            _exit_with(_as_flags(exc))
            raise SystemExit(USAGE_ERROR if isinstance(exc, ParameterError) else 1) from None
        raise SystemExit(_internal_error(exc)) from None
    finally:
        # a temporary whose writer's own cleanup a signal cut short
        remove_temporaries()
    raise SystemExit(code if isinstance(code, int) else 0)


#: Exit status of a usage error: an unknown option, a missing argument, an option value
#: out of range or inconsistent with another, an output path that cannot be used
#: (click's convention).
USAGE_ERROR = 2
#: Exit status of an internal error (a bug), apart from 1 (bad input) and 2 (usage).
INTERNAL_ERROR = 3


def _internal_error(exc: BaseException) -> int:
    """Print one line for an error coordscope did not expect, and return its exit status."""
    try:
        text = str(exc).strip().splitlines()
    except Exception:  # an exception whose message cannot be had (a dead JVM's)
        text = []
    _exit_with(
        f"unexpected {type(exc).__name__}: {text[0] if text else ''} — this is a bug in "
        f"coordscope {__version__}; rerun with COORDSCOPE_DEBUG=1 to see the traceback, and "
        "report it with that output (README: Reporting problems)"
    )
    return INTERNAL_ERROR


class _Terminated(BaseException):
    """Raised in the main thread on SIGTERM, so that ``finally`` blocks clean up."""


#: Set by SIGTERM: an error raised after it is the termination, whatever wraps it.
_TERMINATED = threading.Event()


def _terminated(signum: int, frame: object) -> None:
    _TERMINATED.set()
    raise _Terminated


#: Set by Ctrl-C (SIGINT), for the same reason.
_INTERRUPTED = threading.Event()


def _interrupted(signum: int, frame: object) -> None:
    _INTERRUPTED.set()
    raise KeyboardInterrupt


#: A Python parameter named at the start of an error message, and what follows it.
_PARAMETER = re.compile(r"^([a-z][a-z0-9_]*)((?:\[[^\]]*\])?(?: must|:))")


def _as_flags(exc: CoordscopeError) -> str:
    """Return the message of an error, with a leading Python parameter name as its CLI flag.

    The API names its parameters (``min_edge_weight must be >= 1``); on the command line
    the user typed flags (``--min-edge-weight must be >= 1``).

    Examples
    --------
    >>> _as_flags(ParameterError("min_edge_weight must be >= 1, got 0"))
    '--min-edge-weight must be >= 1, got 0'
    >>> _as_flags(ParameterError("no parameter here"))
    'no parameter here'
    """
    text = str(exc)
    if not isinstance(exc, ParameterError):
        return text
    return _PARAMETER.sub(lambda m: "--" + m.group(1).replace("_", "-") + m.group(2), text, 1)


def _exit_with(message: str) -> int:
    _err.print(f"error: {safe_text(message)}", soft_wrap=True)
    return 1
