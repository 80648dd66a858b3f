"""Time window, diurnal rhythm, delays and the :class:`Builder` of a simulation.

Generators work in *relative seconds* (float, seconds since :data:`T0_S`), on integer
account indices and on integer event ``uid`` s; the Builder turns them into canonical
events at the end (:mod:`coordscope.datasets.simulate`). The window is
``Builder.days`` whole days (:data:`DEFAULT_DAYS` unless asked otherwise) from
:data:`T0_S`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

import numpy as np
import polars as pl

from coordscope.datasets.scenarios import _text

__all__ = [
    "CAMPAIGN_STYLES",
    "DAY_S",
    "DEFAULT_DAYS",
    "EVENT_COLUMNS",
    "HARD_CAMPAIGN_STYLES",
    "KIND_CODES",
    "MIXED_STYLES",
    "ORGANIC_STYLES",
    "STYLES",
    "T0_S",
    "Background",
    "Builder",
    "Campaign",
    "account_ages",
    "diurnal_seconds",
    "diurnal_weight",
    "lognormal",
    "timezones",
]

#: Start of the simulated window: 2024-03-01T00:00:00Z, in epoch seconds.
T0_S: Final = 1_709_251_200
DAY_S: Final = 86_400
#: Default length of the window in days; events fall in ``[T0_S, T0_S + days·DAY_S)``.
#: Sizes of the hard negatives and campaigns are calibrated on a window of this length.
DEFAULT_DAYS: Final = 3

#: Roles of organic accounts, as written in the truth ``style`` column.
ORGANIC_STYLES: Final = ("organic", "flash_viral", "scheduler_bot", "homophily")
#: Campaign styles the ``mixed`` scenario plants (each also a scenario of its own).
MIXED_STYLES: Final = (
    "squad_in_cascade",
    "exclusive_content",
    "copy_paste",
    "link_ring",
    "hashtag_campaign",
    "rotating_subsets",
    "fresh_accounts",
)
#: Campaign styles that are hard for pair-by-pair detection: members with full ordinary
#: lives, pushes diluted over several signals, large rotating pools, a Telegram channel
#: relayed on X, minutes between members. Each is a scenario of its own only: ``mixed``
#: keeps the styles and the data it had before these existed.
HARD_CAMPAIGN_STYLES: Final = (
    "camouflaged",
    "diluted",
    "rotating_pool",
    "cross_platform_relay",
    "shift_work",
)
#: Campaign styles, as written in the truth ``style`` column.
CAMPAIGN_STYLES: Final = MIXED_STYLES + HARD_CAMPAIGN_STYLES
STYLES: Final = ORGANIC_STYLES + CAMPAIGN_STYLES

#: Internal kind codes (index into :data:`coordscope.schema.KINDS`).
KIND_CODES: Final = {"post": 0, "repost": 1, "quote": 2, "reply": 3}

_LIST = pl.List(pl.String())
#: Internal event columns: ``ts`` in microseconds since the epoch, ``obj`` the uid of the
#: referenced event (``-1``: a post from before the window), ``camp`` the campaign index of
#: a campaign action, ``leaf`` True for background events nothing refers to (they may be
#: thinned to hit the requested size).
EVENT_COLUMNS: Final[dict[str, pl.DataType]] = {
    "uid": pl.Int64(),
    "actor": pl.Int64(),
    "ts": pl.Int64(),
    "kind": pl.UInt8(),
    "obj": pl.Int64(),
    "text": pl.String(),
    "urls": _LIST,
    "hashtags": _LIST,
    "mentions": _LIST,
    "media": _LIST,
    "camp": pl.Int32(),
    "leaf": pl.Boolean(),
}

# Local-time activity profile per minute of the day: a trough at 04:00, a morning peak at
# 09:00 and a larger evening peak at 21:00 (shape of published Twitter diurnal curves).
_HOURS = np.arange(1440) / 60.0


def _circular_bump(centre: float, width: float) -> np.ndarray:
    d = np.abs(_HOURS - centre)
    d = np.minimum(d, 24.0 - d)
    return np.asarray(np.exp(-(d**2) / (2.0 * width**2)))


_PROFILE = 0.06 + 0.6 * _circular_bump(9.5, 2.5) + 1.0 * _circular_bump(21.0, 2.8)
_PROFILE_MAX = float(_PROFILE.max())
_PROFILE_CDF = np.cumsum(_PROFILE) / _PROFILE.sum()

_TZ_HOURS = np.array([-8.0, -5.0, 0.0, 1.0, 5.5])
_TZ_P = np.array([0.2, 0.42, 0.2, 0.13, 0.05])
_YEAR_S = 365.25 * DAY_S
_OLDEST_AGE_S = T0_S - 1_152_000_000.0  # 2006-07-04


def timezones(rng: np.random.Generator, n: int) -> np.ndarray:
    """UTC offsets in hours of ``n`` accounts (mostly Americas and Europe)."""
    return _TZ_HOURS[np.searchsorted(np.cumsum(_TZ_P), rng.random(n), side="right")]


def account_ages(rng: np.random.Generator, n: int) -> np.ndarray:
    """Creation times (relative seconds, negative) spread over 2006–2024, recent-heavy."""
    age = DAY_S + np.mod(rng.exponential(4.0 * _YEAR_S, n), _OLDEST_AGE_S - DAY_S)
    return -age


def diurnal_seconds(rng: np.random.Generator, tz: np.ndarray, *, days: int) -> np.ndarray:
    """One time per entry of ``tz`` (hours), following the local diurnal profile.

    Returns relative seconds in ``[0, days·DAY_S)``; the day is uniform over the ``days``
    days (local times that fall past the end wrap around to the start).
    """
    n = tz.shape[0]
    minute = np.searchsorted(_PROFILE_CDF, rng.random(n), side="right")
    day = rng.integers(0, days, n)
    local = day * DAY_S + minute * 60.0 + rng.random(n) * 60.0
    return np.asarray(np.mod(local - tz * 3600.0, days * DAY_S))


def diurnal_weight(rel_s: np.ndarray, tz: np.ndarray) -> np.ndarray:
    """Relative activity in (0, 1] at relative times ``rel_s`` for accounts in ``tz``."""
    minute = (np.mod(rel_s + tz * 3600.0, DAY_S) // 60).astype(np.int64)
    return np.asarray(_PROFILE[np.clip(minute, 0, 1439)] / _PROFILE_MAX)


def lognormal(rng: np.random.Generator, median: float, sigma: float, n: int) -> np.ndarray:
    """``n`` log-normal draws with the given median (same unit) and log-scale ``sigma``."""
    return rng.lognormal(np.log(median), sigma, n)


@dataclass
class Campaign:
    """A planted campaign: its name, style, main signal and the keys it pushed.

    ``key_uids`` holds event uids (object keys, turned into event ids at the end),
    ``key_strings`` URLs, hashtags or canonical texts; a campaign that pushes on several
    signals has both (its truth keys are the ids, then the strings).
    """

    name: str
    style: str
    signal: str
    key_uids: np.ndarray | None = None
    key_strings: list[str] | None = None
    #: Active period: ``days`` whole days from day ``first_day`` of the window (0-based).
    first_day: int = 0
    days: int = DEFAULT_DAYS

    @property
    def start_s(self) -> float:
        """Start of the active period (relative seconds, inclusive)."""
        return float(self.first_day * DAY_S)

    @property
    def end_s(self) -> float:
        """End of the active period (relative seconds, exclusive)."""
        return float((self.first_day + self.days) * DAY_S)


@dataclass
class Background:
    """The organic posts a campaign can hide in: uids, times, authors, popularity.

    Also the CDFs over background accounts by activity weight (who acts) and by
    ``weight^1.5`` (who gets mentioned).
    """

    uid: np.ndarray
    rel_s: np.ndarray
    author: np.ndarray
    popularity: np.ndarray
    reposts: np.ndarray
    cdf: np.ndarray
    n_accounts: int
    actor_cdf: np.ndarray
    popular_cdf: np.ndarray

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """Draw the indices of ``n`` posts with probability proportional to popularity."""
        return _text.pick(rng, self.cdf, n)


@dataclass
class Builder:
    """Accumulates accounts, events and campaigns of one simulation.

    Accounts are integer indices with numpy attributes; events are polars frames with
    :data:`EVENT_COLUMNS`. ``available`` marks background accounts not yet given a
    hard-negative role (so roles never overlap).

    Accounts are on Twitter/X unless ``chat_id`` holds a Telegram channel id (``>= 0``):
    such an account is that channel, and its events are Telegram channel posts.

    ``target`` is the requested number of events, ``days`` the length of the window in
    days. Components sized by density (events per day) use :attr:`density_target`, the
    number of events a :data:`DEFAULT_DAYS` window at the same daily density would hold.
    """

    target: int
    days: int = DEFAULT_DAYS
    created_s: np.ndarray = field(default_factory=lambda: np.empty(0))
    tz: np.ndarray = field(default_factory=lambda: np.empty(0))
    weight: np.ndarray = field(default_factory=lambda: np.empty(0))
    style: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int8))
    campaign: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int32))
    available: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=bool))
    chat_id: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    handle_parts: list[pl.Series] = field(default_factory=list)
    events: list[pl.DataFrame] = field(default_factory=list)
    campaigns: list[Campaign] = field(default_factory=list)
    background: Background | None = None
    url_pool: _text.UrlPool | None = None
    next_uid: int = 0
    _handles: pl.Series | None = None

    @property
    def duration_s(self) -> int:
        """Length of the window in seconds (``days · DAY_S``)."""
        return self.days * DAY_S

    @property
    def periods(self) -> float:
        """Length of the window in units of :data:`DEFAULT_DAYS` days (1.0 by default)."""
        return self.days / DEFAULT_DAYS

    @property
    def density_target(self) -> float:
        """Events a :data:`DEFAULT_DAYS`-day window holds at this density: ``target / periods``."""
        return self.target * DEFAULT_DAYS / self.days

    @property
    def activity(self) -> float:
        """Growth of an account's number of actions with the window: ``periods ** 0.5``.

        The pool of accounts grows as the square root of the window length (people come
        back on other days), so each account acts ``sqrt(periods)`` times as often as in
        a :data:`DEFAULT_DAYS`-day window; 1.0 by default.
        """
        return float(self.periods**0.5)

    @property
    def n_accounts(self) -> int:
        """Number of accounts created so far."""
        return int(self.created_s.shape[0])

    def add_accounts(
        self,
        rng: np.random.Generator,
        n: int,
        *,
        style: str,
        campaign: int = -1,
        created_s: np.ndarray | None = None,
        weight: np.ndarray | None = None,
        handle_prefix: str | None = None,
        chat_id: np.ndarray | None = None,
    ) -> np.ndarray:
        """Create ``n`` accounts and return their indices.

        Creation times default to :func:`account_ages`, activity weights to a log-normal
        with ``sigma = 1.5`` (heavy-tailed activity). ``chat_id`` (one non-negative id
        per account) makes them Telegram channels; by default they are X accounts.
        """
        start = self.n_accounts
        created = account_ages(rng, n) if created_s is None else created_s
        act = rng.lognormal(0.0, 1.5, n) if weight is None else weight
        self.created_s = np.concatenate([self.created_s, created])
        self.tz = np.concatenate([self.tz, timezones(rng, n)])
        self.weight = np.concatenate([self.weight, act])
        self.style = np.concatenate([self.style, np.full(n, STYLES.index(style), np.int8)])
        self.campaign = np.concatenate([self.campaign, np.full(n, campaign, np.int32)])
        self.available = np.concatenate([self.available, np.full(n, style == "organic")])
        chats = np.full(n, -1, np.int64) if chat_id is None else chat_id.astype(np.int64)
        self.chat_id = np.concatenate([self.chat_id, chats])
        self.handle_parts.append(_text.handles(rng, np.arange(start, start + n), handle_prefix))
        self._handles = None
        return np.arange(start, start + n, dtype=np.int64)

    @property
    def bg(self) -> Background:
        """The background posts (set by :func:`.background.generate`)."""
        if self.background is None:
            raise RuntimeError("the background must be generated first")
        return self.background

    @property
    def urls(self) -> _text.UrlPool:
        """The organic URL pool (set by :func:`.background.generate`)."""
        if self.url_pool is None:
            raise RuntimeError("the background must be generated first")
        return self.url_pool

    def handles(self) -> pl.Series:
        """Return the handles (``actor_name``) of every account, by index."""
        if self._handles is None:
            self._handles = pl.concat(self.handle_parts)
        return self._handles

    def take_available(
        self, rng: np.random.Generator, n: int, *, style: str, p: np.ndarray | None = None
    ) -> np.ndarray:
        """Draw ``n`` distinct background accounts without a role and give them ``style``.

        ``p`` optionally weights the draw (over all accounts; unavailable ones get 0).
        """
        pool = np.flatnonzero(self.available)
        n = min(n, pool.shape[0])
        w = None
        if p is not None:
            w = p[pool] / p[pool].sum()
        chosen = np.sort(rng.choice(pool, n, replace=False, p=w))
        self.available[chosen] = False
        self.style[chosen] = STYLES.index(style)
        return chosen.astype(np.int64)

    def sample_available(self, rng: np.random.Generator, n: int) -> np.ndarray:
        """``n`` distinct background accounts without a role; their role is unchanged."""
        pool = np.flatnonzero(self.available)
        return np.sort(rng.choice(pool, min(n, pool.shape[0]), replace=False)).astype(np.int64)

    def new_uids(self, n: int) -> np.ndarray:
        """``n`` fresh event uids."""
        out = np.arange(self.next_uid, self.next_uid + n, dtype=np.int64)
        self.next_uid += n
        return out

    def add_campaign(self, campaign: Campaign) -> int:
        """Register a campaign and return its index."""
        self.campaigns.append(campaign)
        return len(self.campaigns) - 1

    def add_events(
        self,
        *,
        actor: np.ndarray,
        rel_s: np.ndarray,
        kind: str,
        obj: np.ndarray | None = None,
        text: pl.Series | None = None,
        urls: pl.Series | None = None,
        hashtags: pl.Series | None = None,
        mentions: pl.Series | None = None,
        media: pl.Series | None = None,
        camp: int | None = None,
        leaf: bool = False,
    ) -> np.ndarray:
        """Append events (relative seconds, microsecond resolution) and return their uids.

        Missing list columns become empty lists; ``obj`` ``None`` means no reference.
        """
        n = int(actor.shape[0])
        uid = self.new_uids(n)
        ts = T0_S * 1_000_000 + np.round(rel_s * 1e6).astype(np.int64)
        cols: dict[str, pl.Series] = {
            "uid": pl.Series("uid", uid),
            "actor": pl.Series("actor", actor.astype(np.int64)),
            "ts": pl.Series("ts", ts),
            "kind": pl.Series("kind", np.full(n, KIND_CODES[kind], np.uint8)),
            "obj": pl.Series("obj", obj, dtype=pl.Int64)
            if obj is not None
            else pl.repeat(None, n, dtype=pl.Int64, eager=True).alias("obj"),
        }
        frame = pl.DataFrame(cols)
        extra: list[pl.Expr | pl.Series] = []
        for name, value in (
            ("text", text),
            ("urls", urls),
            ("hashtags", hashtags),
            ("mentions", mentions),
            ("media", media),
        ):
            dtype = EVENT_COLUMNS[name]
            if value is None:
                extra.append(pl.lit(None if name == "text" else [], dtype=dtype).alias(name))
            else:
                extra.append(value.cast(dtype).alias(name))
        extra.append(pl.lit(camp, dtype=pl.Int32).alias("camp"))
        extra.append(pl.lit(leaf).alias("leaf"))
        self.events.append(frame.with_columns(extra).select(list(EVENT_COLUMNS)))
        return uid
