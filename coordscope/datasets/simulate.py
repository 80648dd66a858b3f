"""Synthetic Twitter-like data with planted campaigns and ground truth.

:func:`simulate` returns ``(events, truth)``: canonical events
(:data:`coordscope.schema.EVENT_SCHEMA`) and one truth row per account that appears in
them. Scenarios combine an organic background with organic hard negatives and planted
coordinated campaigns (:data:`SCENARIOS`); sizes are in :data:`SIZES`.

The window is ``days`` whole days (3 by default) from 2024-03-01T00:00:00Z; the
requested size is spread over all of them (``size / days`` events per day on average).
Over a longer window the background, its cascades and its diurnal rhythm cover every
day (the pool of accounts grows as ``sqrt(days / 3)``: people come back), what the hard
negatives do per day is repeated on every day, and each campaign is active for a period
of 3 days up to the whole window (log-uniform length, uniform start), so that campaign
actions happen on many days. Event ids are Twitter-style snowflakes (they grow with
time); account ids are snowflakes of the creation time. URLs in
``events.urls`` are in normalised form (as :func:`~coordscope.datasets.normalize.normalize_urls`
gives them) unless ``raw_urls=True``.

**Background** (:mod:`.scenarios.background`): log-normal account activity, diurnal
rhythm per time zone, Zipf-like popularity of posts, words, hashtags and domains,
heavy-tailed cascades (log-normal repost delays, median 30 min), replies, quotes,
links (some shortened, some video links), mentions, media, account creation dates over
2006–2024. **Hard negatives** (:mod:`.scenarios.negatives`): flash-viral cascades,
scheduler bots, homophilous communities — organic, never coordinated; each scales to
1M events and more with ``size`` (``large``: 1M). **Campaigns**
(:mod:`.scenarios.campaigns`): one style each, see that module's table. ``mixed`` plants
the first seven (:data:`MIXED_STYLES`); the hard styles (:data:`HARD_CAMPAIGN_STYLES`:
camouflaged members, pushes diluted over signals, a large rotating pool, a Telegram
channel relayed on X, minutes between members) are scenarios of their own.

Every event is on X (platform ``twitter``, snowflake ids) except the posts of a
Telegram channel (``cross_platform_relay``): platform ``telegram``, actor
``channel{id}``, event id ``{id}:{message}``, channel ``{id}``, no creation time — as
the Telegram reader gives them.

Truth schema (:data:`~coordscope.schema.TRUTH_SCHEMA`), one row per account in ``events``, sorted by
``actor_id``:

=============  ======================  =====================================================
column         type                    meaning
=============  ======================  =====================================================
actor_id       String                  the account (as in ``events.actor_id``)
campaign       String, null            campaign name such as ``link_ring-1``; null = organic
style          String                  campaign style, or the organic role: ``organic``,
                                       ``flash_viral``, ``scheduler_bot``, ``homophily``
coordinated    Boolean                 True for campaign members (campaign not null)
keys           List(String)            what the campaign pushed, as the signal's key would
                                       read it: event ids (co_share, co_created), normalised
                                       URLs (co_link), lower-case hashtags (co_hashtag),
                                       the unedited message text (co_similar, co_text);
                                       several kinds for a campaign that pushes on several
                                       signals (ids first); ``[]`` when organic
signal         String, null            the campaign's main signal (``co_share``,
                                       ``co_link``, ``co_hashtag``, ``co_similar``,
                                       ``co_created``); null when organic
start, end     Datetime(us, UTC), null first and last campaign action (inclusive); null
                                       when organic
=============  ======================  =====================================================

Members also act like ordinary users (camouflage): not every event of a campaign member
is a campaign action. Generation is vectorized: 1M events take about 3–5 s of CPU.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from coordscope.datasets.scenarios import background, campaigns, negatives
from coordscope.datasets.scenarios._core import (
    CAMPAIGN_STYLES,
    DAY_S,
    DEFAULT_DAYS,
    HARD_CAMPAIGN_STYLES,
    MIXED_STYLES,
    STYLES,
    T0_S,
    Builder,
)
from coordscope.errors import ParameterError, check_seed
from coordscope.schema import (
    ACTOR_CREATED,
    ACTOR_ID,
    ACTOR_NAME,
    CHANNEL,
    EVENT_ID,
    EVENT_SCHEMA,
    HASHTAGS,
    KIND,
    KIND_DTYPE,
    KINDS,
    MEDIA,
    MENTIONS,
    OBJECT_ID,
    PLATFORM,
    TEXT,
    TRUTH_SCHEMA,
    TS,
    TS_DTYPE,
    URLS,
)

__all__ = [
    "CAMPAIGN_STYLES",
    "HARD_CAMPAIGN_STYLES",
    "HARD_NEGATIVES",
    "MAX_DAYS",
    "MAX_SIZE",
    "MIN_DAYS",
    "MIN_SIZE",
    "MIXED_STYLES",
    "SCENARIOS",
    "SIGNALS",
    "SIZES",
    "TRUTH_SCHEMA",
    "resolve_size",
    "simulate",
]

#: Named sizes → approximate number of events.
SIZES: Final[dict[str, int]] = {
    "tiny": 2_000,
    "small": 20_000,
    "medium": 200_000,
    "large": 1_000_000,
}
#: Smallest and largest accepted size (events).
MIN_SIZE: Final = 1_000
MAX_SIZE: Final = 30_000_000
#: Shortest and longest accepted window (days).
MIN_DAYS: Final = 1
MAX_DAYS: Final = 366

#: Organic hard negatives (scenario names) → the role written in truth ``style``.
HARD_NEGATIVES: Final[dict[str, str]] = {
    "flash_viral": "flash_viral",
    "scheduler_bots": "scheduler_bot",
    "homophily": "homophily",
}

#: Scenario name → one-line description.
SCENARIOS: Final[dict[str, str]] = {
    "organic": "organic background only: heavy-tailed activity, diurnal rhythm, cascades",
    "flash_viral": "background + breaking posts reposted by thousands within minutes",
    "scheduler_bots": "background + news bots posting the same outlet links on timers",
    "homophily": "background + interest communities sharing the same links and hashtags",
    "squad_in_cascade": "background + a squad reposting popular posts within seconds",
    "exclusive_content": "background + content reposted only by the campaign",
    "copy_paste": "background + the same message with small edits, posted within minutes",
    "link_ring": "background + accounts posting the same campaign URLs within a minute",
    "hashtag_campaign": "background + accounts pushing new hashtags in bursts",
    "rotating_subsets": "background + a large group acting in rotating 20-40 % subsets",
    "fresh_accounts": "background + accounts created within days of each other",
    "camouflaged": "background + members with ordinary lives, a third of them per push",
    "diluted": "background + pushes by a third of the members, split over four signals",
    "rotating_pool": "background + a pool of 100+ accounts, 10-20 % of it per push",
    "cross_platform_relay": "background + a Telegram channel relayed by X accounts",
    "shift_work": "background + office workers posting a link minutes apart",
    "mixed": "background + every hard negative + the first seven campaign styles",
    "demo": "the mixed scenario (small by default): what `make demo` analyses",
}

#: Signals a campaign's truth may name.
SIGNALS: Final = ("co_share", "co_link", "co_hashtag", "co_text", "co_similar", "co_created")


# Independent random streams, in a fixed order (adding one at the end keeps the others).
_STREAMS: Final = (
    "background",
    "flash_viral",
    "scheduler_bots",
    "homophily",
    *MIXED_STYLES,
    "assemble",
    "calendar",
    *HARD_CAMPAIGN_STYLES,
)
_TWITTER_EPOCH_MS: Final = 1_288_834_974_657
_ACCOUNT_EPOCH_MS: Final = 1_136_073_600_000  # 2006-01-01
_LOW_BITS: Final = (1 << 22) - 1


def resolve_size(size: str | int) -> int:
    """Return the number of events for a named (:data:`SIZES`) or integer size.

    Raises
    ------
    ParameterError
        Unknown name, or an integer outside ``[MIN_SIZE, MAX_SIZE]``.
    """
    if isinstance(size, bool) or not isinstance(size, str | int):
        raise ParameterError(f"size must be one of {sorted(SIZES)} or an integer, got {size!r}")
    if isinstance(size, str):
        if size in SIZES:
            return SIZES[size]
        if size.isdigit():
            return resolve_size(int(size))
        raise ParameterError(
            f"size: unknown size {size!r}: expected one of {list(SIZES)} or an integer"
        )
    if not MIN_SIZE <= size <= MAX_SIZE:
        raise ParameterError(f"size must be between {MIN_SIZE} and {MAX_SIZE} events, got {size}")
    return size


def check_simulate_options(
    scenario: str, *, seed: int = 0, size: str | int = "small", days: int = DEFAULT_DAYS
) -> int:
    """Raise :class:`~coordscope.errors.ParameterError` for a bad option of :func:`simulate`.

    Made before any work (the command line checks its options before it clears its
    output folder). Returns the number of events ``size`` asks for.
    """
    if scenario not in SCENARIOS:
        raise ParameterError(
            f"scenario: unknown scenario {scenario!r}: expected one of {list(SCENARIOS)}"
        )
    check_seed(seed)
    n = resolve_size(size)
    if (
        isinstance(days, bool)
        or not isinstance(days, int | np.integer)
        or not MIN_DAYS <= days <= MAX_DAYS
    ):
        raise ParameterError(
            f"days must be a whole number of days from {MIN_DAYS} to {MAX_DAYS}, got {days!r}"
        )
    if n * DEFAULT_DAYS < MIN_SIZE * days:
        least = -(-MIN_SIZE * days // DEFAULT_DAYS)
        raise ParameterError(
            f"size: {n} events over {days} days is less than {MIN_SIZE} events per "
            f"{DEFAULT_DAYS} days; ask for at least {least} events or fewer days"
        )
    return n


def simulate(
    scenario: str,
    *,
    seed: int = 0,
    size: str | int = "small",
    days: int = DEFAULT_DAYS,
    raw_urls: bool = False,
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Generate a scenario's events and its ground truth.

    Parameters
    ----------
    scenario : str
        A key of :data:`SCENARIOS`.
    seed : int, default 0
        Non-negative seed; the same ``(scenario, seed, size, days, raw_urls)`` gives
        identical frames.
    size : str or int, default "small"
        A key of :data:`SIZES` or an approximate number of events (1,000 – 30,000,000)
        over the whole window, not per day; at least 1,000 per 3 days (below that the
        minimum sizes of the hard negatives and campaigns would swamp the background).
        The result has at most that many events when the scenario's hard negatives and
        campaigns fit in it (they are not shrunk below a minimum), and usually within a
        few percent of it.
    days : int, default 3
        Length of the window in whole days (1 – 366), from 2024-03-01T00:00:00Z: events
        fall in ``[2024-03-01, 2024-03-01 + days)``, about ``size / days`` per day. Hard
        negatives and campaigns are sized by that daily density and repeated over the
        days; each campaign is active for 3 days up to the whole window. The default is
        the window those sizes are calibrated on.
    raw_urls : bool, default False
        If True, about a third of the URLs appear as users post them (``www.``, upper-case
        host, ``utm_*`` parameters, trailing slash) instead of normalised; normalising
        them (:func:`coordscope.datasets.normalize.normalize_urls`) gives back the
        default output and the truth keys. Useful to exercise format writers + ingest.

    Returns
    -------
    events : polars.DataFrame
        Canonical events, sorted by ``ts`` then ``event_id``.
    truth : polars.DataFrame
        One row per account of ``events``; schema
        :data:`~coordscope.schema.TRUTH_SCHEMA` (see the module docstring).

    Raises
    ------
    ParameterError
        Unknown scenario or size, negative seed, ``days`` not an integer in
        ``[MIN_DAYS, MAX_DAYS]``, fewer than ``MIN_SIZE`` events per 3 days.

    Notes
    -----
    Cost ``O(n log n)`` (sorts); 1M events take about 3–5 s of CPU, 20k (``demo``) 0.2 s,
    whatever the number of days.
    """
    n = check_simulate_options(scenario, seed=seed, size=size, days=days)
    rngs = _generators(int(seed))
    b = Builder(target=n, days=int(days))
    negatives_, styles = _components(scenario)
    # Flash-viral cascades are the only large component: leave room for them; anything
    # else over the target is thinned from background leaves at the end.
    flash = 1.15 * max(300.0, 0.15 * n) if "flash_viral" in negatives_ else 0.0
    background.generate(b, rngs["background"], round(n - flash))
    for name in ("homophily", "flash_viral", "scheduler_bots"):
        if name in negatives_:
            getattr(negatives, name)(b, rngs[name])
    copies = _campaigns_per_style(n)
    first, length = _campaign_periods(rngs["calendar"], b.days, copies * len(styles))
    for j, style in enumerate(styles):
        for i in range(copies):
            c = j * copies + i
            campaigns.plant(
                b,
                rngs[style],
                style,
                f"{style}-{i + 1}",
                first_day=int(first[c]),
                days=int(length[c]),
            )
    return _assemble(b, rngs["assemble"], raw_urls=raw_urls)


def _generators(seed: int) -> dict[str, np.random.Generator]:
    """Turn a seed into random generators, one independent stream per part (the one place)."""
    children = np.random.SeedSequence(seed).spawn(len(_STREAMS))
    return {
        name: np.random.default_rng(child) for name, child in zip(_STREAMS, children, strict=True)
    }


def _components(scenario: str) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if scenario in ("mixed", "demo"):
        return tuple(HARD_NEGATIVES), MIXED_STYLES
    if scenario in HARD_NEGATIVES:
        return (scenario,), ()
    if scenario in CAMPAIGN_STYLES:
        return (), (scenario,)
    return (), ()


def _campaigns_per_style(n: int) -> int:
    """1 up to 20k events, then one more per half decade (200k: 3, 1M: 4)."""
    return max(1, 1 + int(np.floor(2.0 * np.log10(n / 20_000.0))))


def _campaign_periods(rng: np.random.Generator, days: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """First day (0-based) and length (days) of ``n`` campaigns' active periods.

    A window of up to :data:`DEFAULT_DAYS` days is every campaign's period (no draw).
    Over a longer one, lengths are log-uniform between :data:`DEFAULT_DAYS` days and
    the window, rounded to whole days (30 days: median about 9.5), and the first day is
    uniform among those where the period fits.
    """
    if days <= DEFAULT_DAYS:
        return np.zeros(n, np.int64), np.full(n, days, np.int64)
    log_len = rng.uniform(np.log(DEFAULT_DAYS), np.log(days), n)
    length = np.clip(np.rint(np.exp(log_len)), DEFAULT_DAYS, days).astype(np.int64)
    first = rng.integers(0, days - length + 1)
    return first.astype(np.int64), length


def _assemble(
    b: Builder, rng: np.random.Generator, *, raw_urls: bool
) -> tuple[pl.DataFrame, pl.DataFrame]:
    """Turn the internal frames into canonical events and the truth table.

    Steps: copy originals into reposts/replies, drop repeated reposts, thin background
    leaves to the requested size, sort by time, give snowflake ids. Consumes
    ``b.events`` (the list is emptied so that its frames are freed once sorted) and
    frees each intermediate as soon as it is used: peak memory stays under about twice
    the final table.
    """
    ev = pl.concat(b.events)
    b.events.clear()
    if not np.array_equal(ev["uid"].to_numpy(), np.arange(ev.height)):
        raise RuntimeError("internal error: event uids are not the row numbers")
    keep = _first_reposts(ev)
    keep &= _thin_mask(ev, rng, int(keep.sum()) - b.target, keep)
    ev = ev.filter(pl.Series(keep)).sort(["ts", "uid"])
    _inherit(ev, b)
    n = ev.height
    ms = ev["ts"].to_numpy() // 1000
    snow = ((ms - _TWITTER_EPOCH_MS) << 22) | (np.arange(n, dtype=np.int64) & _LOW_BITS)
    id_by_uid = np.full(b.next_uid, -1, np.int64)
    id_by_uid[ev["uid"].to_numpy()] = snow
    obj = ev["obj"].fill_null(-2).to_numpy()
    external = obj == -1
    n_ext = int(external.sum())
    ext_ms = (T0_S * 1000) - rng.integers(DAY_S * 1000, 30 * DAY_S * 1000, n_ext)
    obj_id = id_by_uid[np.maximum(obj, 0)]
    obj_id[external] = ((ext_ms - _TWITTER_EPOCH_MS) << 22) | rng.integers(0, _LOW_BITS, n_ext)
    object_id = pl.Series(obj_id).cast(pl.String).scatter(np.flatnonzero(obj == -2), None)
    del ms, obj, obj_id, external
    if raw_urls:
        ev = _rawify_urls(ev, rng)
    accounts = _accounts(b)
    truth = _truth(b, ev, accounts, id_by_uid)
    del id_by_uid
    actor = ev["actor"]
    event_id, platform, channel = _ids_and_platforms(b, actor.to_numpy(), snow)
    ev = ev.select("ts", "kind", "text", "urls", "hashtags", "mentions", "media")
    events = pl.DataFrame(
        {
            EVENT_ID: event_id,
            PLATFORM: platform,
            ACTOR_ID: accounts["actor_id"].gather(actor),
            ACTOR_NAME: accounts["actor_name"].gather(actor),
            TS: ev["ts"].cast(TS_DTYPE),
            KIND: _KIND_SERIES.gather(ev["kind"]),
            OBJECT_ID: object_id,
            TEXT: ev["text"],
            URLS: ev["urls"],
            HASHTAGS: ev["hashtags"],
            MENTIONS: ev["mentions"],
            MEDIA: ev["media"],
            CHANNEL: channel,
            ACTOR_CREATED: accounts["created"].gather(actor),
        }
    )
    events = events.cast(dict(EVENT_SCHEMA))  # type: ignore[arg-type]
    return events, truth


_KIND_SERIES: Final = pl.Series("kind", list(KINDS)).cast(KIND_DTYPE)


def _ids_and_platforms(
    b: Builder, actor: np.ndarray, snow: np.ndarray
) -> tuple[pl.Series, pl.Series, pl.Series]:
    """Event ids, platforms and channels of the sorted events (``actor``: account index).

    X events get their snowflake ``snow``, platform ``twitter`` and no channel. Events of
    a Telegram channel (:attr:`~.scenarios._core.Builder.chat_id`) get the ids the
    Telegram reader gives: ``"{chat id}:{message id}"``, messages numbered 1, 2, … in time
    order within the channel, platform ``telegram`` and the chat id as channel.
    """
    n = actor.shape[0]
    event_id = pl.Series(snow).cast(pl.String)
    chat = b.chat_id[actor]
    tg = np.flatnonzero(chat >= 0)
    if tg.shape[0] == 0:
        return (
            event_id,
            pl.repeat("twitter", n, dtype=pl.Categorical(), eager=True),
            pl.repeat(None, n, dtype=pl.String, eager=True),
        )
    tg_chat = chat[tg]
    # message number: rank within the chat, in time order (events are sorted by time)
    order = np.lexsort((tg, tg_chat))
    sorted_chat = tg_chat[order]
    start = np.flatnonzero(np.r_[True, sorted_chat[1:] != sorted_chat[:-1]])
    rank = np.arange(tg.shape[0]) - np.repeat(start, np.diff(np.r_[start, tg.shape[0]]))
    message = np.empty(tg.shape[0], np.int64)
    message[order] = rank + 1
    chat_str = pl.Series(tg_chat).cast(pl.String)
    tg_ids = chat_str + ":" + pl.Series(message).cast(pl.String)
    is_tg = np.zeros(n, bool)
    is_tg[tg] = True
    platform = pl.Series(np.where(is_tg, "telegram", "twitter")).cast(pl.Categorical())
    channel = pl.repeat(None, n, dtype=pl.String, eager=True).scatter(tg, chat_str)
    return event_id.scatter(tg, tg_ids), platform, channel


def _first_reposts(ev: pl.DataFrame) -> np.ndarray:
    """Return the keep mask: an account reposts a post at most once.

    The campaign action is kept first, then the earliest uid; other events are kept.
    """
    kind = ev["kind"].to_numpy()
    obj = ev["obj"].fill_null(-2).to_numpy()
    idx = np.flatnonzero((kind == 1) & (obj >= 0))
    key = ev["actor"].to_numpy()[idx] * ev.height + obj[idx]
    organic = ev["camp"].is_null().to_numpy()[idx]
    order = np.lexsort((idx, organic, key))
    skey = key[order]
    dup = np.concatenate([[False], skey[1:] == skey[:-1]])
    keep = np.ones(ev.height, bool)
    keep[idx[order][dup]] = False
    return keep


def _thin_mask(
    ev: pl.DataFrame, rng: np.random.Generator, excess: int, kept: np.ndarray
) -> np.ndarray:
    """Keep mask dropping ``excess`` random background leaves (nothing refers to them)."""
    keep = np.ones(ev.height, bool)
    if excess <= 0:
        return keep
    leaves = np.flatnonzero(ev["leaf"].to_numpy() & kept)
    keep[rng.choice(leaves, min(excess, leaves.shape[0]), replace=False)] = False
    return keep


def _inherit(ev: pl.DataFrame, b: Builder) -> None:
    """Give reposts and replies what they inherit from the post they answer, in place.

    Reposts copy their original's text (``RT @author: …``), URLs, hashtags and media and
    mention its author; replies mention and address the author they reply to.

    Originals are never reposts and are always kept. Each column is rebuilt by one
    gather (polars cannot scatter into list columns) and swapped into ``ev`` before the
    next one (:meth:`polars.DataFrame.replace_column`), so memory peaks at about one
    column above the table, not a second table.
    """
    n = ev.height
    row_of_uid = np.full(b.next_uid, -1, np.int64)
    row_of_uid[ev["uid"].to_numpy()] = np.arange(n)
    obj = ev["obj"].fill_null(-2).to_numpy()
    kind = ev["kind"].to_numpy()
    rep = (obj >= 0) & (kind == 1)
    target = (obj >= 0) & ((kind == 1) | (kind == 3))
    changed = np.flatnonzero(target)
    # source row: the answered post for reposts and replies, the row itself otherwise
    row = np.arange(n)
    row[changed] = row_of_uid[obj[changed]]
    if (row < 0).any():
        raise RuntimeError("internal error: a referenced post was dropped")
    del row_of_uid, obj, kind
    name = b.handles().gather(ev["actor"].to_numpy()[row[changed]])
    is_rep = rep[changed]
    parts = pl.DataFrame({"name": name, "i": changed, "r": row[changed]})
    reposts = parts.filter(pl.Series(is_rep))
    replies = parts.filter(pl.Series(~is_rep))
    text = ev["text"]
    said = pl.concat(
        [
            pl.DataFrame({"name": reposts["name"], "o": text.gather(reposts["r"])}).select(
                pl.lit("RT @") + pl.col("name") + pl.lit(": ") + pl.col("o")
            ),
            pl.DataFrame({"name": replies["name"], "own": text.gather(replies["i"])}).select(
                pl.lit("@") + pl.col("name") + pl.lit(" ") + pl.col("own")
            ),
        ],
        how="vertical_relaxed",
    ).to_series()
    order = np.concatenate([reposts["i"].to_numpy(), replies["i"].to_numpy()])
    del parts, reposts, replies
    _replace(ev, "text", _with_rows(text, order, said))
    del text, said, order
    # Reposts copy their original's lists: one gather per column.
    copy_from = np.where(rep, row, np.arange(n))
    del row
    for column in ("urls", "hashtags", "media"):
        _replace(ev, column, ev[column].gather(copy_from))
    # Mentions of changed rows: the author first, then the copied/own mentions.
    mentions = ev["mentions"].gather(copy_from)
    del copy_from
    both = (
        pl.DataFrame({"a": name.str.to_lowercase(), "o": mentions.gather(changed)})
        .select(pl.concat_list("a", "o").list.unique(maintain_order=True))
        .to_series()
    )
    _replace(ev, "mentions", _with_rows(mentions, changed, both))


def _replace(frame: pl.DataFrame, name: str, values: pl.Series) -> None:
    """Swap column ``name`` of ``frame`` for ``values`` in place (the old one is freed)."""
    frame.replace_column(frame.get_column_index(name), values.alias(name))


def _with_rows(values: pl.Series, idx: np.ndarray, new: pl.Series) -> pl.Series:
    """Return ``values`` with rows ``idx`` (distinct) replaced by ``new``, in that order.

    A gather, so it works for list columns (which polars cannot scatter into); on one
    chunk, as gathering from several is many times slower and larger for lists.
    """
    order = np.arange(values.len(), dtype=np.int64)
    order[idx] = values.len() + np.arange(idx.shape[0], dtype=np.int64)
    return pl.concat([values, new.cast(values.dtype)], rechunk=True).gather(order)


def _rawify_urls(ev: pl.DataFrame, rng: np.random.Generator) -> pl.DataFrame:
    """Turn about a third of the URLs into forms users post (undone by normalisation)."""
    flat = (
        ev.select(pl.col("uid"), pl.col("urls"))
        .explode("urls")
        .filter(pl.col("urls").is_not_null())
    )
    k = flat.height
    variant = rng.integers(0, 6, k)
    url = pl.col("urls")
    has_q = url.str.contains(r"\?")
    utm = pl.lit("utm_source=twitter&utm_medium=social")
    raw = flat.with_columns(pl.Series("v", variant)).select(
        pl.col("uid"),
        pl.when(pl.col("v") == 0)
        .then(url.str.replace(r"^https://", "https://www."))
        .when(pl.col("v") == 1)
        .then(pl.when(has_q).then(url + pl.lit("&") + utm).otherwise(url + pl.lit("?") + utm))
        .when((pl.col("v") == 2) & ~has_q)
        .then(url + pl.lit("/"))
        .when(pl.col("v") == 3)
        .then(
            pl.lit("https://")
            + url.str.extract(r"^https://([^/?]+)", 1).str.to_uppercase()
            + url.str.replace(r"^https://[^/?]+", "")
        )
        .otherwise(url)
        .alias("urls"),
    )
    lists = raw.group_by("uid", maintain_order=True).agg(pl.col("urls"))
    return (
        ev.drop("urls")
        .join(lists, on="uid", how="left", maintain_order="left")
        .with_columns(pl.col("urls").fill_null(pl.lit([], dtype=pl.List(pl.String))))
    )


def _accounts(b: Builder) -> pl.DataFrame:
    """actor_id (snowflake of the creation time), actor_name, created, by account index."""
    created_ms = np.round((T0_S + b.created_s) * 1000.0).astype(np.int64)
    index = np.arange(b.n_accounts, dtype=np.int64)
    ids = ((created_ms - _ACCOUNT_EPOCH_MS) << 22) | (index & _LOW_BITS)
    actor_id = pl.Series(ids).cast(pl.String)
    created = pl.Series(created_ms * 1000).cast(TS_DTYPE)
    channels = np.flatnonzero(b.chat_id >= 0)
    if channels.shape[0]:
        # A Telegram channel is "channel{id}" (as the export's from_id); exports do not
        # say when a channel was created.
        name = "channel" + pl.Series(b.chat_id[channels]).cast(pl.String)
        actor_id = actor_id.scatter(channels, name)
        created = created.scatter(channels, None)
    return pl.DataFrame({"actor_id": actor_id, "actor_name": b.handles(), "created": created})


def _truth(
    b: Builder, ev: pl.DataFrame, accounts: pl.DataFrame, id_by_uid: np.ndarray
) -> pl.DataFrame:
    present = np.unique(ev["actor"].to_numpy())
    camp_idx = b.campaign[present]
    names = [c.name for c in b.campaigns]
    keys: list[list[str]] = []
    for c in b.campaigns:
        pushed: list[str] = []
        if c.key_uids is not None:
            pushed = pl.Series(id_by_uid[c.key_uids]).cast(pl.String).to_list()
        keys.append(pushed + list(c.key_strings or []))
    spans = (
        ev.filter(pl.col("camp").is_not_null())
        .group_by("camp")
        .agg(pl.col("ts").min().alias("start"), pl.col("ts").max().alias("end"))
    )
    table = pl.DataFrame(
        {
            "cid": pl.Series(np.arange(len(names)), dtype=pl.Int32),
            "campaign": pl.Series(names, dtype=pl.String),
            "keys": pl.Series(keys, dtype=pl.List(pl.String)),
            "signal": pl.Series([c.signal for c in b.campaigns], dtype=pl.String),
        }
    ).join(spans, left_on="cid", right_on="camp", how="left")
    style_names = pl.Series(list(STYLES))
    truth = (
        pl.DataFrame(
            {
                "actor_id": accounts["actor_id"].gather(present),
                "style": style_names.gather(b.style[present].astype(np.int64)),
                "cid": pl.Series(camp_idx, dtype=pl.Int32),
            }
        )
        .with_columns(pl.when(pl.col("cid") >= 0).then(pl.col("cid")).alias("cid"))
        .join(table, on="cid", how="left", maintain_order="left")
        .with_columns(
            pl.col("campaign").is_not_null().alias("coordinated"),
            pl.col("keys").fill_null(pl.lit([], dtype=pl.List(pl.String))),
            pl.col("start").cast(TS_DTYPE),
            pl.col("end").cast(TS_DTYPE),
        )
        .select(list(TRUTH_SCHEMA))
        .sort("actor_id")
    )
    return truth.cast(dict(TRUTH_SCHEMA))  # type: ignore[arg-type]
