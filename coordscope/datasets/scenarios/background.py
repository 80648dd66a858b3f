"""The organic background: heavy-tailed accounts, diurnal posts and viral cascades.

Model (all draws vectorized):

- accounts have a log-normal activity weight (``sigma = 1.5``: a few accounts produce a
  large share of the events, most post once or twice), a time zone and a creation date
  spread over 2006–2024 (:func:`._core.account_ages`);
- original posts are written by accounts drawn by activity at local diurnal times; they
  carry Zipf-drawn text, hashtags (25 %), URLs (30 %, Zipf-popular domains, some
  shorteners), mentions (10 %) and media (10 %);
- each post has a popularity ``(Pareto(1.2) + 1) · weight(author)^0.5``; reposts, replies
  and quotes pick their object by popularity, so cascade sizes are heavy-tailed;
- reposts follow the object after a log-normal delay (median 30 min, ``sigma = 1.8``:
  most within minutes to hours, a long tail), thinned by the reposter's diurnal rhythm;
  replies (median 20 min) and quotes (median 40 min) likewise; an account reposts a post
  at most once and never its own; 3 % of reposts refer to posts from before the window;
- over a window of ``days`` days the pool of accounts grows as ``sqrt(days / 3)`` times
  the 3-day pool, not in proportion (people come back on other days): an account acts
  :attr:`._core.Builder.activity` times as often as in a 3-day window.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import polars as pl

from coordscope.datasets.scenarios import _text
from coordscope.datasets.scenarios._core import (
    Background,
    Builder,
    diurnal_seconds,
    diurnal_weight,
    lognormal,
)

__all__ = [
    "EVENTS_PER_ACCOUNT",
    "camouflage",
    "compose_text",
    "generate",
    "make_posts",
    "make_reposts",
    "media_ids",
]

#: Background accounts created per requested event (most post rarely).
EVENTS_PER_ACCOUNT: Final = 3.0
_SHARE = {"post": 0.30, "repost": 0.55, "reply": 0.09, "quote": 0.06}
_REPOST_DELAY = (1800.0, 1.8)
_REPLY_DELAY = (1200.0, 1.6)
_QUOTE_DELAY = (2400.0, 1.7)
_EXTERNAL = 0.03


def media_ids(rng: np.random.Generator, n: int) -> pl.Series:
    """``n`` Twitter-style media keys (``3_`` followed by a 19-digit id)."""
    ids = rng.integers(1_700_000_000_000_000_000, 1_770_000_000_000_000_000, n)
    return pl.Series(ids).cast(pl.String).str.replace(r"^", "3_")


def compose_text(
    rng: np.random.Generator, words: pl.Series, hashtags: pl.Series, link: np.ndarray
) -> pl.Series:
    """Tweet text: the words, then ``#tag`` for each hashtag, then a t.co link if ``link``."""
    frame = pl.DataFrame(
        {"w": words, "h": hashtags, "l": _text.tco_links(rng, words.len()), "p": link}
    )
    tags = pl.when(pl.col("h").list.len() > 0).then(pl.lit("#") + pl.col("h").list.join(" #"))
    return frame.select(
        pl.concat_str(
            [pl.col("w"), tags, pl.when(pl.col("p")).then(pl.col("l"))],
            separator=" ",
            ignore_nulls=True,
        ).alias("text")
    ).to_series()


def make_posts(
    b: Builder,
    rng: np.random.Generator,
    authors: np.ndarray,
    rel_s: np.ndarray,
    *,
    words: tuple[int, int] = (6, 24),
    p_url: float = 0.30,
    p_tag: float = 0.25,
    p_mention: float = 0.10,
    p_media: float = 0.10,
    kind: str = "post",
    obj: np.ndarray | None = None,
    leaf: bool = False,
    camp: int | None = None,
) -> np.ndarray:
    """Original posts (or replies/quotes when ``kind``/``obj`` say so); returns uids.

    URLs come from the background :class:`._text.UrlPool`.
    """
    n = authors.shape[0]
    has_url = _text.coin(rng, n, p_url)
    urls = _text.one_item_lists(b.urls.sample(rng, n), has_url)
    tags = _text.hashtag_lists(rng, n, p_tag)
    text = compose_text(rng, _text.texts(rng, n, *words), tags, has_url)
    mentioned = _popular_accounts(b, rng, n)
    mentions = _text.one_item_lists(
        b.handles().gather(mentioned).str.to_lowercase(), _text.coin(rng, n, p_mention)
    )
    media = _text.one_item_lists(media_ids(rng, n), _text.coin(rng, n, p_media))
    return b.add_events(
        actor=authors,
        rel_s=rel_s,
        kind=kind,
        obj=obj,
        text=text,
        urls=urls,
        hashtags=tags,
        mentions=mentions,
        media=media,
        camp=camp,
        leaf=leaf,
    )


def make_reposts(
    b: Builder,
    rng: np.random.Generator,
    actors: np.ndarray,
    obj: np.ndarray,
    rel_s: np.ndarray,
    *,
    leaf: bool = False,
    camp: int | None = None,
) -> np.ndarray:
    """Reposts of the events with uids ``obj`` (``-1``: a post from before the window).

    Text, URLs, hashtags and media are copied from the original when the events are
    assembled; reposts of posts from before the window get their own ``RT @…`` text.
    """
    n = actors.shape[0]
    external = np.flatnonzero(obj < 0)
    k = external.shape[0]
    author = b.handles().gather(_popular_accounts(b, rng, k))
    said = "RT @" + author + ": " + _text.texts(rng, k, 6, 20)
    text = pl.repeat(None, n, dtype=pl.String, eager=True).scatter(external, said)
    return b.add_events(
        actor=actors, rel_s=rel_s, kind="repost", obj=obj, text=text, camp=camp, leaf=leaf
    )


def _popular_accounts(b: Builder, rng: np.random.Generator, n: int) -> np.ndarray:
    """Background accounts drawn by ``weight^1.5`` (who gets mentioned and reposted)."""
    return _text.pick(rng, b.bg.popular_cdf, n)


def _by_weight(b: Builder, rng: np.random.Generator, n: int) -> np.ndarray:
    """Background accounts drawn by activity weight."""
    return _text.pick(rng, b.bg.actor_cdf, n)


def _follow(
    b: Builder,
    rng: np.random.Generator,
    n: int,
    delay: tuple[float, float],
    *,
    thin: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Draw ``n`` candidate follow-up actions: (actor, post index, relative time), filtered.

    Candidates later than the window, reacting to their own post, or (``thin``) rejected
    by the actor's diurnal rhythm are dropped; duplicates (actor, post) too.
    """
    bg = b.bg
    post = bg.sample(rng, n)
    actor = _by_weight(b, rng, n)
    rel = bg.rel_s[post] + 1.0 + lognormal(rng, delay[0], delay[1], n)
    keep = (rel < b.duration_s) & (actor != bg.author[post])
    if thin:
        keep &= _text.coin(rng, n, 0.3 + 0.7 * diurnal_weight(rel, b.tz[actor]))
    actor, post, rel = actor[keep], post[keep], rel[keep]
    _, first = np.unique(actor * bg.uid.shape[0] + post, return_index=True)
    first = np.sort(first)
    return actor[first], post[first], rel[first]


def _subsample(rng: np.random.Generator, n_have: int, n_want: int) -> np.ndarray:
    if n_have <= n_want:
        return np.arange(n_have)
    return np.sort(rng.choice(n_have, n_want, replace=False))


def generate(b: Builder, rng: np.random.Generator, n_events: int) -> None:
    """Create the background accounts and about ``n_events`` organic events.

    Sets ``b.background`` (the posts campaigns may target) and ``b.url_pool``. Accounts
    are created for the whole requested size ``b.target`` (so hard negatives and campaign
    camouflage can draw from them): ``target / EVENTS_PER_ACCOUNT`` over 3 days, divided
    by :attr:`._core.Builder.activity` over longer windows. Cost ``O(n_events)``.
    """
    n_acc = max(100, round(b.target / EVENTS_PER_ACCOUNT / b.activity))
    accounts = b.add_accounts(rng, n_acc, style="organic")
    b.url_pool = _text.url_pool(rng, max(50, round(0.12 * n_events)), max(10, n_acc // 150))
    n_posts = max(20, round(_SHARE["post"] * n_events))
    w = b.weight[:n_acc]
    actor_cdf = np.cumsum(w) / w.sum()
    popular_cdf = np.cumsum(w**1.5) / (w**1.5).sum()
    authors = _text.pick(rng, actor_cdf, n_posts)
    rel = diurnal_seconds(rng, b.tz[authors], days=b.days)
    popularity = (rng.pareto(1.2, n_posts) + 1.0) * b.weight[authors] ** 0.5
    order = np.argsort(rel, kind="stable")
    authors, rel, popularity = authors[order], rel[order], popularity[order]
    b.background = Background(
        uid=np.empty(0, np.int64),
        rel_s=rel,
        author=authors,
        popularity=popularity,
        reposts=np.zeros(n_posts, np.int64),
        cdf=np.cumsum(popularity) / popularity.sum(),
        n_accounts=accounts.shape[0],
        actor_cdf=actor_cdf,
        popular_cdf=popular_cdf,
    )
    # Background must exist (for mentions) before the posts are made.
    uid = make_posts(b, rng, authors, rel)
    b.background.uid = uid

    n_rep = round(_SHARE["repost"] * n_events)
    actor, post, rel = _follow(b, rng, round(2.0 * n_rep), _REPOST_DELAY, thin=True)
    take = _subsample(rng, actor.shape[0], n_rep)
    actor, post, rel = actor[take], post[take], rel[take]
    obj = b.background.uid[post]
    ext = _text.coin(rng, obj.shape[0], _EXTERNAL)
    obj = np.where(ext, -1, obj)
    rel = np.where(ext, diurnal_seconds(rng, b.tz[actor], days=b.days), rel)
    b.background.reposts = np.bincount(post[~ext], minlength=n_posts)
    make_reposts(b, rng, actor, obj, rel, leaf=True)

    for kind, delay, words, p_url in (
        ("reply", _REPLY_DELAY, (3, 15), 0.05),
        ("quote", _QUOTE_DELAY, (4, 18), 0.15),
    ):
        n_k = round(_SHARE[kind] * n_events)
        actor, post, rel = _follow(b, rng, round(1.5 * n_k), delay, thin=True)
        take = _subsample(rng, actor.shape[0], n_k)
        make_posts(
            b,
            rng,
            actor[take],
            rel[take],
            words=words,
            p_url=p_url,
            p_tag=0.1,
            p_mention=0.0,
            p_media=0.03,
            kind=kind,
            obj=b.background.uid[post[take]],
            leaf=True,
        )


def camouflage(
    b: Builder,
    rng: np.random.Generator,
    accounts: np.ndarray,
    mean: float,
    *,
    avoid: np.ndarray | None = None,
) -> None:
    """Give each account ``1 + Poisson(mean · b.activity)`` ordinary actions.

    80 % reposts, 20 % posts, anywhere in the window. Used for campaign members and for
    new accounts of hard negatives, so that they also look like ordinary users. Reposts
    follow popular background posts (uniform delay to the end of the window when the
    log-normal one would fall outside it), never the background posts listed in
    ``avoid`` (indices; a campaign's targets), so that a member's events on a campaign key
    are all campaign actions.
    """
    bg = b.bg
    counts = 1 + rng.poisson(mean * b.activity, accounts.shape[0])
    actor = np.repeat(accounts, counts)
    is_post = _text.coin(rng, actor.shape[0], 0.2)
    posters = actor[is_post]
    make_posts(b, rng, posters, diurnal_seconds(rng, b.tz[posters], days=b.days))
    sharers = actor[~is_post]
    post = bg.sample(rng, sharers.shape[0])
    if avoid is not None:
        hit = np.isin(post, avoid)
        post[hit] = bg.sample(rng, int(hit.sum()))
        ok = ~np.isin(post, avoid)
        sharers, post = sharers[ok], post[ok]
    start = bg.rel_s[post]
    rel = start + 1.0 + lognormal(rng, _REPOST_DELAY[0], _REPOST_DELAY[1], sharers.shape[0])
    late = rel >= b.duration_s
    rel = np.where(late, start + rng.random(late.shape[0]) * (b.duration_s - start), rel)
    make_reposts(b, rng, sharers, bg.uid[post], rel)
