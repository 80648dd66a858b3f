"""From canonical events to actions, for any signal or several: the one entry point.

A *signal* says what counts as "the same thing": the same shared post, URL, domain,
hashtag, mention, text, near-duplicate text, image, or a constant (any post, an account's
creation). :func:`actions` turns events into rows ``signal, key, actor_id, ts, event_id,
event`` by dispatching to the signal's family: exact keys
(:func:`coordscope.signals.exact.exact_actions`), near-duplicate groups
(:func:`coordscope.signals.similar.similar_actions`) and media groups
(:func:`coordscope.signals.media.media_actions`).
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from numbers import Integral
from typing import Any, Final

import polars as pl

from coordscope.engine.runners import Runner
from coordscope.errors import ParameterError
from coordscope.parts import WorkDir
from coordscope.progress import track
from coordscope.schema import (
    ACTION_SCHEMA,
    DEFAULT_SIGNALS,
    SIGNALS,
    TEXT_RULES,
    EventFrame,
    TextRule,
)
from coordscope.signals.exact import exact_actions
from coordscope.signals.media import DEFAULT_DISTANCE, media_actions
from coordscope.signals.similar import Method, similar_actions

__all__ = [
    "MAX_MEDIA_DISTANCE",
    "MINHASH_FROM",
    "ROW_LOCAL",
    "ActionOptions",
    "action_batches",
    "actions",
    "resolve_signals",
    "runner_action_batches",
]

#: Signals whose actions each event gives on its own: their actions can be made from
#: any slice of the events (:func:`action_batches`).
ROW_LOCAL: Final = (
    "co_share", "co_quote", "co_reply", "co_link", "co_domain", "co_hashtag", "co_mention",
    "co_text", "co_post",
)  # fmt: skip


#: Largest ``media_distance`` accepted (bits of a 64-bit perceptual hash): two unrelated
#: images differ in about 32 bits, so a larger distance links images at random.
MAX_MEDIA_DISTANCE: Final = 32

#: Least ``similarity`` at which ``co_similar`` uses MinHash + LSH. Its bands are tuned for
#: 0.8, where a pair at the threshold is a candidate with probability 0.9915; at a lower
#: threshold that probability falls (0.89 at 0.7, 0.32 at 0.5), so below it every pair is
#: found exactly by prefix filtering instead (slower on large inputs of short messages).
MINHASH_FROM: Final = 0.8


@dataclass(frozen=True)
class ActionOptions:
    """The options that change which actions the signals give, checked when made.

    Attributes
    ----------
    text_rule : {"default", "toolkit", "exact"}
        ``co_text``: text normalisation (:func:`coordscope.signals.exact.normalize_text`).
    min_text_length : int
        ``co_text``: normalised texts shorter than this (characters, ``>= 0``; 0 and 1
        both mean every non-empty text) give no action.
    similarity : float
        ``co_similar``: Jaccard threshold of near duplicates, in ``(0, 1]`` (inclusive).
        From :data:`MINHASH_FROM` up the pairs are found by MinHash + LSH, below it
        exactly (see :data:`MINHASH_FROM`).
    min_shingles : int
        ``co_similar``: messages with fewer distinct words (``>= 1``) give no action.
    media_distance : int
        ``co_media``: perceptual hashes within this many bits (``0 ..``
        :data:`MAX_MEDIA_DISTANCE`, inclusive) are one image.

    Raises
    ------
    ParameterError
        A value out of range; the message starts with the option's name.
    """

    text_rule: TextRule = "default"
    min_text_length: int = 10
    similarity: float = 0.8
    min_shingles: int = 5
    media_distance: int = DEFAULT_DISTANCE

    def __post_init__(self) -> None:
        """Check every value (booleans are not numbers here)."""
        if self.text_rule not in TEXT_RULES:
            raise ParameterError(
                f"text_rule must be one of {', '.join(TEXT_RULES)}, got '{self.text_rule}'"
            )
        if not _integer(self.min_text_length) or self.min_text_length < 0:
            raise ParameterError(
                f"min_text_length must be an integer >= 0, got {self.min_text_length!r}"
            )
        if (
            isinstance(self.similarity, bool)
            or not isinstance(self.similarity, int | float)
            or not 0 < self.similarity <= 1
        ):
            raise ParameterError(
                f"similarity must be a Jaccard index in (0, 1], got {self.similarity!r}"
            )
        if not _integer(self.min_shingles) or self.min_shingles < 1:
            raise ParameterError(f"min_shingles must be an integer >= 1, got {self.min_shingles!r}")
        if not _integer(self.media_distance) or not 0 <= self.media_distance <= MAX_MEDIA_DISTANCE:
            raise ParameterError(
                f"media_distance must be an integer between 0 and {MAX_MEDIA_DISTANCE} (bits), "
                f"got {self.media_distance!r}"
            )

    def of_signal(self, signal: str) -> dict[str, Any]:
        """Return the options that change ``signal``'s actions (empty for most signals).

        A daily state compares them with those its kept actions were made with.

        Examples
        --------
        >>> ActionOptions(similarity=0.5).of_signal("co_similar")
        {'similarity': 0.5, 'min_shingles': 5}
        >>> ActionOptions(similarity=0.5).of_signal("co_link")
        {}
        """
        names = _OPTIONS_OF.get(signal, ())
        return {name: value for name, value in asdict(self).items() if name in names}

    @property
    def similar_method(self) -> Method:
        """``"minhash"`` or ``"exact"``: how ``co_similar`` finds its pairs at ``similarity``."""
        return "minhash" if self.similarity >= MINHASH_FROM else "exact"

    def parameters(self) -> dict[str, Any]:
        """Return the options as ``summary.json`` records them."""
        return {**asdict(self), "similar_method": self.similar_method}


#: Which options change which signal's actions.
_OPTIONS_OF: Final[dict[str, tuple[str, ...]]] = {
    "co_text": ("text_rule", "min_text_length"),
    "co_similar": ("similarity", "min_shingles"),
    "co_media": ("media_distance",),
}


def _integer(value: object) -> bool:
    return isinstance(value, Integral) and not isinstance(value, bool)


def resolve_signals(
    signals: Sequence[str] | str | None, *, default: Sequence[str] = DEFAULT_SIGNALS
) -> list[str]:
    """Resolve the signals asked for: checked, in order and without repeats.

    Parameters
    ----------
    signals : str, sequence of str, or None
        One name, a comma-separated string, or a sequence; None gives ``default``.
    default : sequence of str
        The signals used when none are given.

    Returns
    -------
    list of str

    Raises
    ------
    ParameterError
        No signal, or a name not in :data:`~coordscope.schema.SIGNALS`.

    Examples
    --------
    >>> resolve_signals("co_link, co_share,co_link")
    ['co_link', 'co_share']
    >>> resolve_signals(None, default=("co_share",))
    ['co_share']
    """
    if signals is None:
        return list(default)
    if isinstance(signals, str):
        signals = [s.strip() for s in signals.split(",") if s.strip()]
    if not signals:
        raise ParameterError("signals: give at least one signal")
    for s in signals:
        if s not in SIGNALS:
            raise ParameterError(
                f"signals: unknown signal '{s}'; choose from: {', '.join(SIGNALS)}"
            )
    return list(dict.fromkeys(signals))


def actions(
    events: EventFrame,
    *,
    signals: Sequence[str] | str,
    text_rule: TextRule = "default",
    min_text_length: int = 10,
    text_kinds: tuple[str, ...] = ("post", "quote", "reply", "comment"),
    similarity: float = 0.8,
    min_shingles: int = 5,
    media_distance: int = DEFAULT_DISTANCE,
) -> pl.DataFrame:
    """Actions of one or several signals: ``signal, key, actor_id, ts, event_id, event``.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events (:data:`~coordscope.schema.EVENT_SCHEMA`).
    signals : str or sequence of str
        Names from :data:`~coordscope.schema.SIGNALS` (see :func:`resolve_signals`).
    text_rule : {"default", "toolkit", "exact"}
        Text normalisation for ``co_text``
        (:func:`coordscope.signals.exact.normalize_text`).
    min_text_length : int
        ``co_text``: normalised texts shorter than this (characters) give no action.
    text_kinds : tuple of str
        ``co_text``, ``co_similar``: the kinds whose text counts (reposts and forwards
        repeat someone else's text, so they are left out by default).
    similarity : float
        ``co_similar``: the Jaccard threshold of near duplicates (inclusive; word token
        sets, :func:`coordscope.signals.similar.near_duplicate_groups`). Pairs are found
        by MinHash + LSH from :data:`MINHASH_FROM` up, exactly below it.
    min_shingles : int
        ``co_similar``: messages with fewer distinct words give no action.
    media_distance : int
        ``co_media``: perceptual hashes (16 hex digits) within this many bits are one
        image (:func:`coordscope.signals.media.media_groups`); other media ids are exact.

    Raises
    ------
    ParameterError
        An option out of range (:class:`ActionOptions`) or an unknown signal.

    Returns
    -------
    polars.DataFrame
        :data:`~coordscope.schema.ACTION_SCHEMA`; ``event`` is the row number in
        ``events``. One signal after the other, in the order given; within a signal
        sorted by event. ``co_created`` gives one action per account (its creation time,
        ``event_id`` null); ``co_post`` one constant key for every event.

    Notes
    -----
    Keys per signal: ``co_share`` object of reposts and forwards; ``co_quote`` object of
    quotes; ``co_reply`` object of replies and comments; ``co_link`` each normalised URL;
    ``co_domain`` each registrable domain (or the exported domain ids, ``x_domain_ids``);
    ``co_hashtag``, ``co_mention`` each item; ``co_media`` each media id or perceptual-hash
    group; ``co_text`` the normalised text; ``co_similar`` the near-duplicate group (the
    ``event_id`` of its first message). Cost: one lazy scan per signal, plus MinHash/LSH
    for ``co_similar`` and multi-index hashing for ``co_media``.
    """
    options = ActionOptions(
        text_rule=text_rule,
        min_text_length=min_text_length,
        similarity=similarity,
        min_shingles=min_shingles,
        media_distance=media_distance,
    )
    parts: list[pl.DataFrame] = []
    for signal in resolve_signals(signals):  # a handful of signals
        if signal == "co_similar":
            parts.append(
                similar_actions(
                    events,
                    threshold=similarity,
                    min_shingles=min_shingles,
                    text_kinds=text_kinds,
                    method=options.similar_method,
                )
            )
        elif signal == "co_media":
            parts.append(media_actions(events, distance=media_distance))
        else:
            parts.append(
                exact_actions(
                    events,
                    signal=signal,
                    text_rule=text_rule,
                    min_text_length=min_text_length,
                    text_kinds=text_kinds,
                )
            )
    if len(parts) == 1:
        return parts[0]
    return pl.concat(parts) if parts else pl.DataFrame(schema=ACTION_SCHEMA)


def action_batches(
    events: EventFrame, *, signal: str, rows: int, options: ActionOptions | None = None
) -> Iterator[pl.DataFrame]:
    """Make one signal's actions a slice of about ``rows`` events at a time.

    Parameters
    ----------
    events : polars.DataFrame or polars.LazyFrame
        Canonical events; a scan of a Parquet file is read a slice (its row groups) at
        a time.
    signal : str
        A signal name.
    rows : int
        Events per slice (>= 1), for the signals of :data:`ROW_LOCAL`; the others
        (near-duplicate texts and images, account creation) need every event at once
        and come in one frame.
    options : ActionOptions, optional
        The signals' options; default :class:`ActionOptions`'s defaults.

    Yields
    ------
    polars.DataFrame
        :data:`~coordscope.schema.ACTION_SCHEMA` rows, in event order: concatenated,
        exactly what :func:`actions` gives for ``signal`` with these options. Memory: one
        slice's actions (about 200 bytes an action, with their strings).
    """
    if isinstance(rows, bool) or not isinstance(rows, int) or rows < 1:
        raise ParameterError(f"rows must be an integer >= 1, got {rows!r}")
    (name,) = resolve_signals(signal)
    options = ActionOptions() if options is None else options
    if name not in ROW_LOCAL:
        yield actions(events, signals=name, **asdict(options))
        return
    lazy = events.lazy()
    n_events = int(lazy.select(pl.len()).collect().item())
    with track(f"{name} actions", total=n_events, unit="events") as progress:
        for start in range(0, max(n_events, 1), rows):
            made = exact_actions(
                lazy.slice(start, rows),
                signal=name,
                first_event=start,
                text_rule=options.text_rule,
                min_text_length=options.min_text_length,
            )
            progress.advance(min(rows, n_events - start))
            yield made


def runner_action_batches(
    runner: Runner,
    events: EventFrame,
    *,
    signal: str,
    rows: int,
    work: WorkDir,
    options: ActionOptions | None = None,
) -> Iterator[pl.DataFrame]:
    """Make one signal's actions with ``runner``: :func:`action_batches`' rows, in pieces.

    The local runner slices the events here (:func:`action_batches`); another runner
    (Spark) maps its own batches of them for the signals of :data:`ROW_LOCAL`, each batch
    through :func:`~coordscope.signals.exact.exact_actions` with the events' row numbers
    in the whole input; the other signals need every event at once and are made here.
    Every piece has the columns and types of
    :data:`~coordscope.schema.ACTION_SCHEMA`, whoever made it; ``options`` as for
    :func:`action_batches`.
    """
    (name,) = resolve_signals(signal)
    options = ActionOptions() if options is None else options
    if runner.name == "local" or name not in ROW_LOCAL:
        yield from action_batches(events, signal=name, rows=rows, options=options)
        return
    schema = pl.Schema(ACTION_SCHEMA)
    task = functools.partial(_batch_actions, signal=name, options=options)
    for made in runner.map_events(events, task, rows=rows, work=work):
        yield made.select(list(schema)).cast(schema)  # whatever the runner's types


def _batch_actions(
    batch: pl.DataFrame, *, signal: str, options: ActionOptions | None = None
) -> pl.DataFrame:
    """Return the actions of a batch of events with ``_event`` row numbers, and ``i``."""
    options = ActionOptions() if options is None else options
    rows = batch["_event"]
    acts = exact_actions(
        batch.drop("_event"),
        signal=signal,
        text_rule=options.text_rule,
        min_text_length=options.min_text_length,
    )
    return acts.select(
        "signal", "key", "actor_id", "ts", "event_id",
        rows.gather(acts["event"]).alias("event"),
        pl.int_range(pl.len(), dtype=pl.Int64).alias("i"),
    )  # fmt: skip
