"""Organic hard negatives: synchronized or similar behaviour that is NOT coordination.

- :func:`flash_viral`: breaking posts shared by thousands of mostly low-activity accounts
  within minutes (log-normal delays, median 75 s, ``sigma = 0.9``: ~98 % within 10 min);
- :func:`scheduler_bots`: news bots posting on a timer (every 15, 30 or 60 min at exact
  multiples of the interval); bots that follow the same outlet feed post the same article
  (same URL, same headline) at the same instant, independently;
- :func:`homophily`: interest communities sharing their outlets' articles and their
  hashtags at their own pace (log-normal delays, median 3 h).

Every function scales with the requested density: ``s = density_target / 20,000``, where
``density_target`` (:attr:`._core.Builder.density_target`) is the number of events a
3-day window at the requested events per day would hold (``target`` for the default
3 days). Over a longer window, what happens per unit of time (articles, breaking posts,
posts of community members) is repeated at the same rate over all the days.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from coordscope.datasets.scenarios import _text
from coordscope.datasets.scenarios._core import (
    Builder,
    diurnal_seconds,
    lognormal,
)
from coordscope.datasets.scenarios.background import (
    camouflage,
    compose_text,
    make_posts,
    make_reposts,
)

__all__ = ["flash_viral", "homophily", "scheduler_bots"]

_HOUR = 3600.0


def _scale(b: Builder) -> float:
    return b.density_target / 20_000.0


def flash_viral(b: Builder, rng: np.random.Generator) -> None:
    """Add breaking posts reposted by many accounts within minutes.

    ``max(300, 0.15·target)`` reposts over ``p = round(sqrt(density_target / 5000))``
    breaking posts per 3 days (``round(p · days / 3)`` in all, at uniform times; sizes
    ∝ 1, 1/2, …, 1/p, repeated every ``p`` posts, so the largest cascade does not grow
    with the number of days). Each post is by a new high-profile account; 45 % of its
    sharers over 3 days (``45 % / sqrt(days / 3)`` over longer windows, as the pool of
    background accounts grows only as ``sqrt(days / 3)``) are background accounts, the
    others new low-activity accounts (a third of them with a few other actions). All of
    them get the role ``flash_viral``; each background account shares at most one
    breaking post.
    """
    n = b.target
    per = max(1, round(np.sqrt(b.density_target / 5000.0)))
    k = max(1, round(per * b.periods))
    w = 1.0 / (1 + np.arange(k) % per)
    sizes = np.maximum(50, np.round(max(300, 0.15 * n) * w / w.sum())).astype(np.int64)
    sources = b.add_accounts(rng, k, style="flash_viral", weight=np.full(k, 50.0))
    rel_post = rng.uniform(3 * _HOUR, b.duration_s - 4 * _HOUR, k)
    posts = make_posts(b, rng, sources, rel_post, words=(8, 20), p_url=0.8, p_tag=0.6)
    for j in range(k):
        n_old = round((int(sizes[j]) - round(0.55 * sizes[j])) / b.activity)
        n_new = int(sizes[j]) - n_old
        new = b.add_accounts(
            rng, n_new, style="flash_viral", weight=rng.lognormal(-1.0, 0.8, n_new)
        )
        old = b.take_available(rng, n_old, style="flash_viral")
        sharers = np.concatenate([new, old])
        delay = 1.0 + lognormal(rng, 75.0, 0.9, sharers.shape[0])
        rel = np.minimum(rel_post[j] + delay, b.duration_s - 1.0)
        make_reposts(b, rng, sharers, np.full(sharers.shape[0], posts[j]), rel)
        camouflage(b, rng, new[_text.coin(rng, n_new, 1 / 3)], 0.5)


def scheduler_bots(b: Builder, rng: np.random.Generator) -> None:
    """News bots posting outlet articles on a timer, independently of each other.

    ``clip(round(6·s^0.35), 3, 40)`` bots follow 1–3 of ``max(2, bots/2)`` outlets; each
    outlet publishes ``1.2·clip(s^0.3, 0.35, 4)`` articles per hour (diurnal). A bot with
    interval ``I`` (15, 30 or 60 min) posts, at each multiple of ``I`` (exact second,
    since the window starts at midnight), the latest article published since its
    previous tick by one of its outlets. Text: the article's headline (shared by every
    bot), sometimes prefixed by the outlet name or followed by ``#news``.
    """
    s = _scale(b)
    n_bots = int(np.clip(round(6 * s**0.35), 3, 40))
    n_out = max(2, n_bots // 2)
    rate = 1.2 * float(np.clip(s**0.3, 0.35, 4.0))
    outlets = _text.domains(rng, n_out)
    counts = rng.poisson(rate * b.duration_s / _HOUR, n_out)
    outlet = np.repeat(np.arange(n_out), counts)
    pub = diurnal_seconds(rng, np.full(outlet.shape[0], -5.0), days=b.days)
    urls = _text.article_urls(rng, outlets[outlet])
    titles = _text.texts(rng, outlet.shape[0], 6, 14)
    names = pl.Series(outlets).str.replace(r"\..*$", "").gather(outlet)
    bots = b.add_accounts(rng, n_bots, style="scheduler_bot", handle_prefix="news")
    interval = rng.choice(np.array([900, 900, 1800, 3600]), n_bots)
    style = rng.integers(0, 3, n_bots)
    rows: list[tuple[np.ndarray, np.ndarray, np.ndarray]] = []
    for j in range(n_bots):
        subs = rng.choice(n_out, min(n_out, 1 + int(rng.integers(0, 3))), replace=False)
        art = np.flatnonzero(np.isin(outlet, subs))
        tick = (np.floor(pub[art] / interval[j]) + 1) * interval[j]
        order = np.lexsort((pub[art], tick))
        art, tick = art[order], tick[order]
        last = np.append(tick[1:] != tick[:-1], True) & (tick < b.duration_s)
        rows.append((np.full(int(last.sum()), j), art[last], tick[last]))
    bot = np.concatenate([r[0] for r in rows])
    art = np.concatenate([r[1] for r in rows])
    tick = np.concatenate([r[2] for r in rows])
    fmt = pl.Series(style[bot])
    tags = _text.one_item_lists(pl.Series(np.full(bot.shape[0], "news")), style[bot] == 2)
    headline = (
        pl.DataFrame({"f": fmt, "n": names.gather(art), "t": titles.gather(art)})
        .select(
            pl.when(pl.col("f") == 1)
            .then(pl.col("n").str.to_uppercase() + pl.lit(": ") + pl.col("t"))
            .otherwise(pl.col("t"))
        )
        .to_series()
    )
    text = compose_text(rng, headline, tags, np.ones(bot.shape[0], bool))
    b.add_events(
        actor=bots[bot],
        rel_s=tick,
        kind="post",
        text=text,
        urls=_text.one_item_lists(urls.gather(art), np.ones(bot.shape[0], bool)),
        hashtags=tags,
    )


def homophily(b: Builder, rng: np.random.Generator) -> None:
    """Interest communities sharing the same outlets and hashtags at their own pace.

    ``clip(round(3·s^0.3), 2, 12)`` communities of ``U(30, 80)·clip(s^0.2, 0.5, 3)``
    background accounts (drawn by ``weight^0.5``), each with 3 niche outlets and 2
    hashtags. Each of its ``U(30, 60)·clip(s^0.25, 0.4, 3)·days/3`` articles is shared by
    each member with the member's propensity (log-normal, median 0.12), 3 h (median,
    log-normal ``sigma = 1``) after publication; members also post ``Poisson(2·days/3)``
    times with a community hashtag.
    """
    s = _scale(b)
    n_comm = int(np.clip(round(3 * s**0.3), 2, 12))
    for _ in range(n_comm):
        n_mem = round(rng.uniform(30, 80) * float(np.clip(s**0.2, 0.5, 3.0)))
        members = b.take_available(rng, n_mem, style="homophily", p=b.weight**0.5)
        n_mem = members.shape[0]
        outlets = _text.domains(rng, 3)
        tags = _text.HASHTAGS.gather(rng.integers(25, _text.HASHTAGS.len(), 2))
        n_art = max(5, round(rng.uniform(30, 60) * float(np.clip(s**0.25, 0.4, 3.0)) * b.periods))
        pub = diurnal_seconds(rng, np.full(n_art, -5.0), days=b.days)
        urls = _text.article_urls(rng, outlets[rng.integers(0, 3, n_art)])
        propensity = np.minimum(lognormal(rng, 0.12, 0.6, n_mem), 0.6)
        a_idx, m_idx = np.nonzero(rng.random((n_art, n_mem)) < propensity[None, :])
        rel = pub[a_idx] + lognormal(rng, 3 * _HOUR, 1.0, a_idx.shape[0])
        keep = rel < b.duration_s
        a_idx, m_idx, rel = a_idx[keep], m_idx[keep], rel[keep]
        n_sh = a_idx.shape[0]
        tag = tags.gather(rng.integers(0, 2, n_sh))
        has_tag = _text.coin(rng, n_sh, 0.6)
        tag_lists = _text.one_item_lists(tag, has_tag)
        b.add_events(
            actor=members[m_idx],
            rel_s=rel,
            kind="post",
            text=compose_text(rng, _text.texts(rng, n_sh, 6, 20), tag_lists, np.ones(n_sh, bool)),
            urls=_text.one_item_lists(urls.gather(a_idx), np.ones(n_sh, bool)),
            hashtags=tag_lists,
        )
        extra = np.repeat(members, rng.poisson(2.0 * b.periods, n_mem))
        n_x = extra.shape[0]
        xtags = _text.one_item_lists(tags.gather(rng.integers(0, 2, n_x)), np.ones(n_x, bool))
        b.add_events(
            actor=extra,
            rel_s=diurnal_seconds(rng, b.tz[extra], days=b.days),
            kind="post",
            text=compose_text(rng, _text.texts(rng, n_x, 5, 18), xtags, np.zeros(n_x, bool)),
            hashtags=xtags,
        )
