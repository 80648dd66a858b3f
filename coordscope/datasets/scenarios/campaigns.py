"""Planted coordinated campaigns, one function per style.

Every function creates its member accounts (role = the style, campaign = its name),
registers a :class:`._core.Campaign` with its main signal and keys, adds the campaign's
actions (``camp`` set) and gives every member ``1 + Poisson(3·f)`` ordinary actions
(camouflage; times ``sqrt(days / 3)`` over longer windows). With ``s = density_target /
20,000`` (``target`` over 3 days, :attr:`._core.Builder.density_target`),
``f = clip(sqrt(s), 0.35, 1)`` scales the number of actions and
``m = clip(s^0.25, 0.6, 1)`` the number of members, so small or sparse data sets are not
swamped by campaigns. Every action has at least three (two for
``rotating_subsets``) participating members.

A campaign is active for ``Campaign.days`` whole days from ``Campaign.first_day`` (the
whole window when it is 3 days or shorter): its actions fall in that period, and their
number is multiplied by ``days / 3`` (the same intensity per active day as in a 3-day
window). Camouflage is spread over the whole window.

=====================  ==========  ======================================================
style                  signal      behaviour
=====================  ==========  ======================================================
squad_in_cascade       co_share    8–20 accounts repost organically popular posts within
                                   9 s of each other (inside the organic cascade)
exclusive_content      co_share    1–3 seeders post content only the campaign reposts,
                                   5 s – 10 min later
copy_paste             co_similar  the same message with small edits (word swapped,
                                   punctuation, emoji; 35 % exact) within 3 min
link_ring              co_link     campaign-domain URLs posted within 55 s
hashtag_campaign       co_hashtag  two new hashtags pushed in bursts of a few minutes
                                   (some organic accounts pick the first one up)
rotating_subsets       co_share    30–60 accounts, 20–40 % of them per action, jitter
                                   ``|N(0, 25 s)|``: weak pairs, strong group
fresh_accounts         co_created  accounts created within 3 days of each other, 1–10
                                   days before the window, reposting the same posts
                                   loosely (~15 min apart)
camouflaged            co_share    20–40 accounts with full ordinary lives (about three
                                   ordinary actions per push); a third of them per push
diluted                co_share    a third of 20–40 accounts per push; pushes rotate over
                                   reposts, fresh links, fresh hashtags and one text,
                                   so a pair co-acts 2–3 times over several signals
rotating_pool          co_share    100–160 accounts, 10–20 % of them per push: most
                                   pairs co-act once or twice, the pool on every push
cross_platform_relay   co_link     a Telegram channel posts; 12–30 X accounts relay it
                                   with the same link or text, seconds to minutes later
shift_work             co_link     office workers post a link one after another, 2–15
                                   min apart, in office hours
=====================  ==========  ======================================================

The last five (:data:`._core.HARD_CAMPAIGN_STYLES`) are the hard cases for pair-by-pair
detection; their docstrings say what real campaign each one imitates and why these
numbers.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import polars as pl

from coordscope.datasets.scenarios import _text
from coordscope.datasets.scenarios._core import (
    DAY_S,
    DEFAULT_DAYS,
    Builder,
    Campaign,
    diurnal_seconds,
    lognormal,
)
from coordscope.datasets.scenarios.background import (
    camouflage,
    compose_text,
    make_posts,
    make_reposts,
)

__all__ = ["STYLE_FUNCTIONS", "plant"]

_HOUR = 3600.0


def _scales(b: Builder) -> tuple[float, float]:
    s = b.density_target / 20_000.0
    return float(np.clip(np.sqrt(s), 0.35, 1.0)), float(np.clip(s**0.25, 0.6, 1.0))


def _members(
    b: Builder,
    rng: np.random.Generator,
    cid: int,
    lo: int,
    hi: int,
    minimum: int,
    *,
    created_s: np.ndarray | None = None,
) -> np.ndarray:
    _, m = _scales(b)
    n = max(minimum, round(rng.uniform(lo, hi) * m))
    camp = b.campaigns[cid]
    if created_s is not None:
        created_s = created_s[:n] if created_s.shape[0] >= n else None
    return b.add_accounts(
        rng,
        n,
        style=camp.style,
        campaign=cid,
        created_s=created_s,
        weight=rng.lognormal(0.0, 1.0, n),
    )


def _n_actions(
    b: Builder, rng: np.random.Generator, cid: int, lo: int, hi: int, minimum: int
) -> int:
    """``U(lo, hi) · f · days / 3`` actions (at least ``minimum``) over the campaign's days."""
    f, _ = _scales(b)
    days = b.campaigns[cid].days
    return max(minimum, round(rng.uniform(lo, hi) * f * (days / DEFAULT_DAYS)))


def _participation(
    rng: np.random.Generator, n_actions: int, n_members: int, p: float, minimum: int
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (action, member) index pairs.

    Each member joins each action with probability ``p``, and ``minimum`` random members
    are added to every action (so the share joining is above ``p``; kept as it is for
    the data sets of the first styles: :func:`_subsets` is the exact form).
    """
    mask = rng.random((n_actions, n_members)) < p
    forced = np.argsort(rng.random((n_actions, n_members)), axis=1)[:, :minimum]
    mask[np.arange(n_actions)[:, None], forced] = True
    a_idx, m_idx = np.nonzero(mask)
    return a_idx, m_idx


def _subsets(
    rng: np.random.Generator,
    n_actions: int,
    n_members: int,
    p: float | np.ndarray,
    minimum: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Draw (action, member) index pairs, sorted by action then member.

    Each member joins each action with probability ``p`` (one for all actions, or one
    per action); an action with fewer than ``minimum`` members is topped up to
    ``minimum`` with random others. One uniform draw per (action, member): a member
    joins when its draw is below ``p`` or among the ``minimum`` smallest of the action.
    """
    u = rng.random((n_actions, n_members))
    prob = np.asarray(p)[:, None] if isinstance(p, np.ndarray) else p
    rank = np.argsort(np.argsort(u, axis=1), axis=1)
    a_idx, m_idx = np.nonzero((u < prob) | (rank < minimum))
    return a_idx, m_idx


def _targets(
    b: Builder, rng: np.random.Generator, cid: int, n: int, lo: float, hi: float, floor: int
) -> np.ndarray:
    """``n`` distinct background posts (indices) from a popularity slice.

    Posts published in the campaign's active period, at least 3 h before it ends, are
    ranked by their number of organic reposts (most first); the slice
    ``[lo·len, max(hi·len, floor))`` is drawn from.
    """
    bg = b.bg
    camp = b.campaigns[cid]
    ok = np.flatnonzero((bg.rel_s >= camp.start_s) & (bg.rel_s < camp.end_s - 3 * _HOUR))
    ranked = ok[np.argsort(-bg.reposts[ok], kind="stable")]
    start = int(lo * ranked.shape[0])
    stop = max(int(hi * ranked.shape[0]), start + floor)
    pool = ranked[start:stop]
    return np.sort(rng.choice(pool, min(n, pool.shape[0]), replace=False))


def _after(bg_rel: np.ndarray, delay: np.ndarray, margin: float, end: float) -> np.ndarray:
    """Return action times ``bg_rel + delay`` kept at least ``margin`` seconds before ``end``."""
    return np.asarray(np.minimum(bg_rel + delay, end - margin))


def _when(
    b: Builder, rng: np.random.Generator, cid: int, tz: np.ndarray, margin: float
) -> np.ndarray:
    """Diurnal times (``tz`` in hours) in the campaign's period, ``margin`` s before its end."""
    camp = b.campaigns[cid]
    rel = camp.start_s + diurnal_seconds(rng, tz, days=camp.days)
    return np.asarray(np.minimum(rel, camp.end_s - margin))


def squad_in_cascade(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant a tight squad reposting organically popular posts within seconds of each other."""
    members = _members(b, rng, cid, 8, 20, 6)
    posts = _targets(b, rng, cid, _n_actions(b, rng, cid, 15, 30, 5), 0.0, 0.03, 30)
    bg = b.bg
    end = b.campaigns[cid].end_s
    when = _after(bg.rel_s[posts], 20.0 + lognormal(rng, 1800.0, 1.2, posts.shape[0]), 60.0, end)
    a_idx, m_idx = _participation(rng, posts.shape[0], members.shape[0], rng.uniform(0.7, 0.95), 3)
    rel = when[a_idx] + np.minimum(rng.exponential(2.5, a_idx.shape[0]), 9.0)
    make_reposts(b, rng, members[m_idx], bg.uid[posts[a_idx]], rel, camp=cid)
    b.campaigns[cid].key_uids = bg.uid[posts]
    camouflage(b, rng, members, 3.0 * _scales(b)[0], avoid=posts)


def exclusive_content(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Seeders post content that only the campaign reposts."""
    members = _members(b, rng, cid, 10, 25, 6)
    seeders = members[: 1 + int(rng.integers(0, 3))]
    n = _n_actions(b, rng, cid, 15, 30, 4)
    author = seeders[rng.integers(0, seeders.shape[0], n)]
    when = _when(b, rng, cid, b.tz[author], _HOUR)
    uid = make_posts(b, rng, author, when, p_url=0.2, p_tag=0.3, camp=cid)
    a_idx, m_idx = _participation(rng, n, members.shape[0], rng.uniform(0.6, 0.9), 4)
    keep = members[m_idx] != author[a_idx]
    a_idx, m_idx = a_idx[keep], m_idx[keep]
    rel = when[a_idx] + 5.0 + np.minimum(rng.exponential(45.0, a_idx.shape[0]), 595.0)
    make_reposts(b, rng, members[m_idx], uid[a_idx], rel, camp=cid)
    b.campaigns[cid].key_uids = uid
    camouflage(b, rng, members, 3.0 * _scales(b)[0])


_PUNCT = np.array(["!", "!!", ".", "?!", "!!!"])


def copy_paste(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant the same message with small edits, posted by members within 3 minutes.

    Edits: none (35 %), one word swapped (25 %), punctuation appended (20 %), an emoji
    appended (20 %). Keys: the unedited messages.
    """
    members = _members(b, rng, cid, 10, 25, 6)
    n = _n_actions(b, rng, cid, 10, 20, 4)
    base = _text.word_indices(rng, n, 18)
    length = rng.integers(10, 19, n)
    base_text = _text.join_words(base, length)
    when = _when(b, rng, cid, np.full(n, -5.0), 200.0)
    a_idx, m_idx = _participation(rng, n, members.shape[0], rng.uniform(0.6, 0.9), 3)
    k = a_idx.shape[0]
    words = base[a_idx].copy()
    edit = np.searchsorted(np.array([0.35, 0.6, 0.8, 1.0]), rng.random(k), side="right")
    swap = np.flatnonzero(edit == 1)
    pos = (rng.random(swap.shape[0]) * length[a_idx[swap]]).astype(np.int64)
    words[swap, pos] = _text.word_indices(rng, swap.shape[0], 1)[:, 0]
    suffix = np.where(
        edit == 2,
        _PUNCT[rng.integers(0, _PUNCT.shape[0], k)],
        np.where(edit == 3, np.char.add(" ", np.array(_text.EMOJIS)[rng.integers(0, 10, k)]), ""),
    )
    text = _text.join_words(words, length[a_idx]) + pl.Series(suffix)
    rel = when[a_idx] + rng.uniform(0.0, 180.0, k)
    b.add_events(actor=members[m_idx], rel_s=rel, kind="post", text=text, camp=cid)
    b.campaigns[cid].key_strings = base_text.to_list()
    camouflage(b, rng, members, 3.0 * _scales(b)[0])


def link_ring(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Members post the same campaign-domain URLs within 55 seconds."""
    members = _members(b, rng, cid, 8, 16, 6)
    n = _n_actions(b, rng, cid, 15, 30, 5)
    domain = _text.domains(rng, 1, suffix="-news")[0]
    urls = _text.article_urls(rng, np.full(n, domain))
    when = _when(b, rng, cid, np.full(n, -5.0), 60.0)
    a_idx, m_idx = _participation(rng, n, members.shape[0], rng.uniform(0.6, 0.9), 3)
    k = a_idx.shape[0]
    no_tags = pl.repeat([], k, dtype=pl.List(pl.String), eager=True)
    b.add_events(
        actor=members[m_idx],
        rel_s=when[a_idx] + rng.uniform(0.0, 55.0, k),
        kind="post",
        text=compose_text(rng, _text.texts(rng, k, 6, 18), no_tags, np.ones(k, bool)),
        urls=_text.one_item_lists(urls.gather(a_idx), np.ones(k, bool)),
        camp=cid,
    )
    b.campaigns[cid].key_strings = urls.to_list()
    camouflage(b, rng, members, 3.0 * _scales(b)[0])


def hashtag_campaign(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Two new hashtags pushed in bursts; a few organic accounts pick them up."""
    members = _members(b, rng, cid, 15, 30, 6)
    tags = _text.compound_words(rng, 2)
    n = _n_actions(b, rng, cid, 6, 12, 3)
    when = _when(b, rng, cid, np.full(n, -5.0), 600.0)
    a_idx, m_idx = _participation(rng, n, members.shape[0], rng.uniform(0.6, 0.9), 3)
    again = _text.coin(rng, a_idx.shape[0], 0.3)
    rel = when[a_idx] + rng.uniform(0.0, 240.0, a_idx.shape[0])
    rel = np.concatenate([rel, rel[again] + rng.uniform(10.0, 120.0, int(again.sum()))])
    actor = np.concatenate([members[m_idx], members[m_idx][again]])
    k = actor.shape[0]
    second = _text.coin(rng, k, 0.5)
    lists = (
        pl.DataFrame({"a": np.full(k, tags[0]), "b": np.full(k, tags[1]), "s": second})
        .select(pl.concat_list(pl.col("a"), pl.when(pl.col("s")).then(pl.col("b"))))
        .to_series()
        .list.drop_nulls()
    )
    display = lists.list.eval(
        pl.element().str.slice(0, 1).str.to_uppercase() + pl.element().str.slice(1)
    )
    text = compose_text(rng, _text.texts(rng, k, 5, 16), display, _text.coin(rng, k, 0.2))
    b.add_events(actor=actor, rel_s=rel, kind="post", text=text, hashtags=lists, camp=cid)
    uptake = b.sample_available(rng, max(3, k // 10))
    u = uptake.shape[0]
    utags = _text.one_item_lists(pl.Series(np.full(u, tags[0])), np.ones(u, bool))
    b.add_events(
        actor=uptake,
        rel_s=b.campaigns[cid].start_s
        + diurnal_seconds(rng, b.tz[uptake], days=b.campaigns[cid].days),
        kind="post",
        text=compose_text(rng, _text.texts(rng, u, 5, 16), utags, np.zeros(u, bool)),
        hashtags=utags,
    )
    b.campaigns[cid].key_strings = tags.to_list()
    camouflage(b, rng, members, 3.0 * _scales(b)[0])


def rotating_subsets(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant a large group; each action only 20–40 % of it joins, with tens of seconds jitter."""
    members = _members(b, rng, cid, 30, 60, 20)
    posts = _targets(b, rng, cid, _n_actions(b, rng, cid, 30, 60, 10), 0.02, 0.3, 60)
    bg = b.bg
    end = b.campaigns[cid].end_s
    when = _after(bg.rel_s[posts], 20.0 + lognormal(rng, _HOUR, 1.0, posts.shape[0]), 120.0, end)
    a_idx, m_idx = _participation(rng, posts.shape[0], members.shape[0], rng.uniform(0.2, 0.4), 2)
    rel = when[a_idx] + np.minimum(np.abs(rng.normal(0.0, 25.0, a_idx.shape[0])), 90.0)
    make_reposts(b, rng, members[m_idx], bg.uid[posts[a_idx]], rel, camp=cid)
    b.campaigns[cid].key_uids = bg.uid[posts]
    camouflage(b, rng, members, 3.0 * _scales(b)[0], avoid=posts)


def fresh_accounts(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant accounts created within 3 days of each other, acting loosely together.

    They are created shortly before the window (between 10 and 1 days before it).
    """
    first = -rng.uniform(4.0, 10.0) * DAY_S
    created = first + rng.uniform(0.0, 3.0 * DAY_S, 64)
    members = _members(b, rng, cid, 15, 30, 6, created_s=created)
    posts = _targets(b, rng, cid, _n_actions(b, rng, cid, 8, 15, 4), 0.05, 0.5, 40)
    bg = b.bg
    end = b.campaigns[cid].end_s
    delay = 20.0 + lognormal(rng, 1800.0, 1.0, posts.shape[0])
    when = _after(bg.rel_s[posts], delay, 3600.0, end)
    a_idx, m_idx = _participation(rng, posts.shape[0], members.shape[0], 0.5, 3)
    rel = np.minimum(when[a_idx] + lognormal(rng, 900.0, 1.0, a_idx.shape[0]), end - 1.0)
    make_reposts(b, rng, members[m_idx], bg.uid[posts[a_idx]], rel, camp=cid)
    b.campaigns[cid].key_uids = bg.uid[posts]
    camouflage(b, rng, members, 3.0 * _scales(b)[0], avoid=posts)


def camouflaged(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant members who lead ordinary lives; each push is made by about a third of them.

    Imitates the sockpuppets of state-backed operations seen in platform takedown data:
    aged accounts that mostly post and repost ordinary content and now and then join an
    amplification push, each push worked by part of the network so that no account
    repeats the whole campaign. 20–40 members; ``U(18, 30)·f`` pushes, each a repost of
    an organically popular post (top 10 % by organic reposts, 20 s – hours after it:
    the campaign boosts what already travels), joined by each member with probability
    1/3 (at least 3), 0–45 s after the push starts (exponential, mean 10 s: one
    scheduling tool). A member so makes about 8 pushes in 3 days and a pair of members
    co-acts on 2–3 of them. Each member also gets ``1 + Poisson(24·f)`` ordinary actions
    (:func:`.background.camouflage`: reposts of popular posts, own posts, at diurnal
    times), about three for each push: three quarters of a member's actions are not
    campaign actions, as in takedown sets where political content is a minority.
    """
    f, _ = _scales(b)
    members = _members(b, rng, cid, 20, 40, 12)
    posts = _targets(b, rng, cid, _n_actions(b, rng, cid, 18, 30, 6), 0.0, 0.1, 40)
    bg = b.bg
    end = b.campaigns[cid].end_s
    when = _after(bg.rel_s[posts], 20.0 + lognormal(rng, 1800.0, 1.2, posts.shape[0]), 60.0, end)
    a_idx, m_idx = _subsets(rng, posts.shape[0], members.shape[0], 1.0 / 3.0, 3)
    rel = when[a_idx] + np.minimum(rng.exponential(10.0, a_idx.shape[0]), 45.0)
    make_reposts(b, rng, members[m_idx], bg.uid[posts[a_idx]], rel, camp=cid)
    b.campaigns[cid].key_uids = bg.uid[posts]
    camouflage(b, rng, members, 24.0 * f, avoid=posts)


#: Push kinds of :func:`diluted`, in the order of their codes.
_DILUTED_KINDS = ("co_share", "co_link", "co_hashtag", "co_text")


def diluted(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant pushes by a third of the members each, rotating over four signals.

    Imitates a campaign that spreads its footprint over modalities (the pattern multiplex
    detectors are built for): on one push the members repost a popular post, on the
    next they post a fresh article of the campaign's outlets, then a fresh hashtag, then
    a slogan copied word for word. 20–40 members; ``U(20, 28)·f`` pushes, a quarter of
    each kind (in random order); each member joins a push with probability 1/3 (at
    least 3), within 45 s of its start (uniform: one scheduler). With about 24 pushes a
    pair of members co-acts ``24/9 ≈ 2.7`` times, mostly on different signals, so no
    single signal shows the pair twice. Each push has its own key: a different post,
    URL, hashtag or text, as a campaign that does not reuse its material. Reposted
    posts are among the top 5 % by organic reposts, 20 s – hours after publication;
    link pushes carry the member's own words and the URL (3 outlets), hashtag pushes
    own words and the new hashtag. Members have the usual ``1 + Poisson(3·f)`` ordinary
    actions. Truth keys: the posts' ids, then the URLs, hashtags and texts.
    """
    members = _members(b, rng, cid, 20, 40, 12)
    n = _n_actions(b, rng, cid, 20, 28, 8)
    kind = rng.permutation(np.arange(n) % len(_DILUTED_KINDS))
    share_at = np.flatnonzero(kind == 0)
    posts = _targets(b, rng, cid, share_at.shape[0], 0.0, 0.05, 30)
    kind[share_at[posts.shape[0] :]] = 1  # too few posts to repost: links instead
    share_at = share_at[: posts.shape[0]]
    bg = b.bg
    end = b.campaigns[cid].end_s
    when = _when(b, rng, cid, np.full(n, -5.0), 60.0)
    delay = 20.0 + lognormal(rng, 1800.0, 1.2, share_at.shape[0])
    when[share_at] = _after(bg.rel_s[posts], delay, 60.0, end)
    outlets = _text.domains(rng, 3, suffix="-daily")
    urls = _text.article_urls(rng, outlets[rng.integers(0, 3, n)])
    tags = _text.compound_words(rng, n)
    slogans = _text.texts(rng, n, 8, 20)
    a_idx, m_idx = _subsets(rng, n, members.shape[0], 1.0 / 3.0, 3)
    rel = when[a_idx] + rng.uniform(0.0, 45.0, a_idx.shape[0])
    actor = members[m_idx]
    push_kind = kind[a_idx]
    post_of = np.full(n, -1, np.int64)
    post_of[share_at] = np.arange(share_at.shape[0])
    s = push_kind == 0
    make_reposts(b, rng, actor[s], bg.uid[posts[post_of[a_idx[s]]]], rel[s], camp=cid)
    link = push_kind == 1
    k = int(link.sum())
    no_tags = pl.repeat([], k, dtype=pl.List(pl.String), eager=True)
    b.add_events(
        actor=actor[link],
        rel_s=rel[link],
        kind="post",
        text=compose_text(rng, _text.texts(rng, k, 6, 18), no_tags, np.ones(k, bool)),
        urls=_text.one_item_lists(urls.gather(a_idx[link]), np.ones(k, bool)),
        camp=cid,
    )
    tag = push_kind == 2
    k = int(tag.sum())
    pushed = tags.gather(a_idx[tag])
    shown = _text.one_item_lists(_text.camel(pushed), np.ones(k, bool))
    b.add_events(
        actor=actor[tag],
        rel_s=rel[tag],
        kind="post",
        text=compose_text(rng, _text.texts(rng, k, 5, 16), shown, np.zeros(k, bool)),
        hashtags=_text.one_item_lists(pushed, np.ones(k, bool)),
        camp=cid,
    )
    said = push_kind == 3
    b.add_events(
        actor=actor[said], rel_s=rel[said], kind="post", text=slogans.gather(a_idx[said]), camp=cid
    )
    b.campaigns[cid].key_uids = bg.uid[posts]
    b.campaigns[cid].key_strings = (
        urls.filter(pl.Series(kind == 1)).to_list()
        + tags.filter(pl.Series(kind == 2)).to_list()
        + slogans.filter(pl.Series(kind == 3)).to_list()
    )
    camouflage(b, rng, members, 3.0 * _scales(b)[0], avoid=posts)


def rotating_pool(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant a pool of 100+ accounts; each push is made by a small random subset of it.

    Imitates an engagement farm or a rented account pool (retweet rings selling
    amplification, spam networks of hundreds of accounts): a client's post is boosted
    by whichever slice of the pool the tool picks, so that no two accounts keep showing
    up together. 100–160 accounts (at least 100 at every size); ``U(60, 90)·f`` pushes,
    reposts of ordinary posts (2–30 % popularity slice, like :func:`rotating_subsets`),
    20 s – hours after them; each push picks 10–20 % of the pool (uniform per push, at
    least 5 accounts), jitter ``|N(0, 30 s)|`` up to 2 min. The hard version of
    :func:`rotating_subsets` (30–60 accounts, 20–40 % per action: a pair co-acts ~4
    times): here a pair co-acts on ``75 · 0.15² ≈ 1.7`` pushes on average, most pairs
    once or twice or never, while every member joins about 11 pushes: only the pool
    as a whole acts consistently.
    """
    members = _members(b, rng, cid, 100, 160, 100)
    posts = _targets(b, rng, cid, _n_actions(b, rng, cid, 60, 90, 20), 0.02, 0.3, 90)
    bg = b.bg
    end = b.campaigns[cid].end_s
    when = _after(bg.rel_s[posts], 20.0 + lognormal(rng, _HOUR, 1.0, posts.shape[0]), 150.0, end)
    share = rng.uniform(0.10, 0.20, posts.shape[0])
    a_idx, m_idx = _subsets(rng, posts.shape[0], members.shape[0], share, 5)
    rel = when[a_idx] + np.minimum(np.abs(rng.normal(0.0, 30.0, a_idx.shape[0])), 120.0)
    make_reposts(b, rng, members[m_idx], bg.uid[posts[a_idx]], rel, camp=cid)
    b.campaigns[cid].key_uids = bg.uid[posts]
    camouflage(b, rng, members, 3.0 * _scales(b)[0], avoid=posts)


def cross_platform_relay(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant a Telegram channel whose posts X accounts relay with the same link or text.

    Imitates the relay pattern of state-media and partisan operations: a Telegram
    channel is the source, and a set of X accounts (bridging bots and people copying
    by hand) repost each message with its link or its words. The channel (one account,
    platform ``telegram``, a campaign member) posts ``U(20, 35)·f`` messages at diurnal
    times of UTC+3 (the channel's audience), 10–30 words, 70 % with an article of the
    campaign's outlet. 12–30 X accounts relay each message with probability
    ``U(0.4, 0.7)`` (one value for the campaign, at least 3 per message). Each relayer
    has its own tempo, log-uniform from 10 s (a bridge bot) to 5 min (a person), and
    relays ``tempo · LogNormal(0, 0.6)`` later (3 s – 30 min). A relay of a message with
    a link carries the link and, 40 % of the time, the message's words (else the
    relayer's own); a message without a link is relayed word for word. Relayers have the
    usual ``1 + Poisson(3·f)`` ordinary X actions; the channel has none (it is not on
    X). Truth keys: the links, then the messages' texts (without the link).
    """
    camp = b.campaigns[cid]
    chat = rng.integers(1_000_000_000, 2_000_000_000, 1)
    channel = b.add_accounts(
        rng, 1, style=camp.style, campaign=cid, weight=np.ones(1), chat_id=chat
    )
    relayers = _members(b, rng, cid, 12, 30, 8)
    n = _n_actions(b, rng, cid, 20, 35, 6)
    when = _when(b, rng, cid, np.full(n, 3.0), 1800.0)
    has_url = _text.coin(rng, n, 0.7)
    outlet = _text.domains(rng, 1, suffix="-info")[0]
    urls = _text.article_urls(rng, np.full(n, outlet))
    words = _text.texts(rng, n, 10, 30)
    message = (
        pl.DataFrame({"w": words, "u": urls, "p": has_url})
        .select(pl.when("p").then(pl.col("w") + " " + pl.col("u")).otherwise("w"))
        .to_series()
    )
    b.add_events(
        actor=np.repeat(channel, n),
        rel_s=when,
        kind="post",
        text=message,
        urls=_text.one_item_lists(urls, has_url),
        camp=cid,
    )
    a_idx, m_idx = _subsets(rng, n, relayers.shape[0], rng.uniform(0.4, 0.7), 3)
    k = a_idx.shape[0]
    tempo = np.exp(rng.uniform(np.log(10.0), np.log(300.0), relayers.shape[0]))
    delay = np.clip(tempo[m_idx] * lognormal(rng, 1.0, 0.6, k), 3.0, 1800.0)
    linked = has_url[a_idx]
    copy = ~linked | _text.coin(rng, k, 0.4)
    own = _text.texts(rng, k, 6, 18)
    said = pl.DataFrame({"w": words.gather(a_idx), "o": own, "c": copy}).select(
        pl.when("c").then("w").otherwise("o")
    )
    no_tags = pl.repeat([], k, dtype=pl.List(pl.String), eager=True)
    b.add_events(
        actor=relayers[m_idx],
        rel_s=when[a_idx] + delay,
        kind="post",
        text=compose_text(rng, said.to_series(), no_tags, linked),
        urls=_text.one_item_lists(urls.gather(a_idx), linked),
        camp=cid,
    )
    camp.key_strings = urls.filter(pl.Series(has_url)).to_list() + words.to_list()
    camouflage(b, rng, relayers, 3.0 * _scales(b)[0])


def shift_work(b: Builder, rng: np.random.Generator, cid: int) -> None:
    """Plant office workers posting each campaign link one account after another.

    Imitates a troll farm working office shifts (as described for the Internet Research
    Agency): an operator handles several accounts and posts the day's material from
    them by hand, one after another, minutes apart — coordinated, but never within
    seconds. 15–30 accounts; ``U(25, 40)·f`` pushes, each a fresh article of the
    campaign's outlet, starting between 09:00 and 17:00 at UTC+3 on a uniform day of the
    active period; each account joins a push with probability 1/3 (at least 3) and the
    participants post in random order, each 2–15 min after the previous one
    (log-uniform, median 5.5 min), with their own words and the link. Every pair on a
    push is so at least 2 min apart, consecutive ones at most 15 min; a push of the
    largest size (30 accounts) ends before 21:30 UTC, inside its day. Members have the
    usual ``1 + Poisson(3·f)`` ordinary actions.
    """
    members = _members(b, rng, cid, 15, 30, 9)
    n = _n_actions(b, rng, cid, 25, 40, 8)
    camp = b.campaigns[cid]
    outlet = _text.domains(rng, 1, suffix="-today")[0]
    urls = _text.article_urls(rng, np.full(n, outlet))
    day = camp.first_day + rng.integers(0, camp.days, n)
    start = day * DAY_S + rng.uniform(6 * _HOUR, 14 * _HOUR, n)
    a_idx, m_idx = _subsets(rng, n, members.shape[0], 1.0 / 3.0, 3)
    k = int(a_idx.shape[0])
    order = np.lexsort((rng.random(k), a_idx))
    a_idx, m_idx = a_idx[order], m_idx[order]
    gap = np.exp(rng.uniform(np.log(120.0), np.log(900.0), k))
    first = np.r_[True, a_idx[1:] != a_idx[:-1]]
    gap[first] = 0.0
    done = np.cumsum(gap)
    offset = done - done[np.flatnonzero(first)][np.cumsum(first) - 1]
    no_tags = pl.repeat([], k, dtype=pl.List(pl.String), eager=True)
    b.add_events(
        actor=members[m_idx],
        rel_s=start[a_idx] + offset,
        kind="post",
        text=compose_text(rng, _text.texts(rng, k, 6, 18), no_tags, np.ones(k, bool)),
        urls=_text.one_item_lists(urls.gather(a_idx), np.ones(k, bool)),
        camp=cid,
    )
    camp.key_strings = urls.to_list()
    camouflage(b, rng, members, 3.0 * _scales(b)[0])


#: Style name → (generating function, main signal).
STYLE_FUNCTIONS: dict[str, tuple[Callable[[Builder, np.random.Generator, int], None], str]] = {
    "squad_in_cascade": (squad_in_cascade, "co_share"),
    "exclusive_content": (exclusive_content, "co_share"),
    "copy_paste": (copy_paste, "co_similar"),
    "link_ring": (link_ring, "co_link"),
    "hashtag_campaign": (hashtag_campaign, "co_hashtag"),
    "rotating_subsets": (rotating_subsets, "co_share"),
    "fresh_accounts": (fresh_accounts, "co_created"),
    "camouflaged": (camouflaged, "co_share"),
    "diluted": (diluted, "co_share"),
    "rotating_pool": (rotating_pool, "co_share"),
    "cross_platform_relay": (cross_platform_relay, "co_link"),
    "shift_work": (shift_work, "co_link"),
}


def plant(
    b: Builder, rng: np.random.Generator, style: str, name: str, *, first_day: int, days: int
) -> None:
    """Register campaign ``name`` of ``style``, active for ``days`` days from ``first_day``.

    ``first_day`` is 0-based; the period ``[first_day, first_day + days)`` must lie in the
    window (``0 <= first_day`` and ``first_day + days <= b.days``).
    """
    fn, signal = STYLE_FUNCTIONS[style]
    camp = Campaign(name=name, style=style, signal=signal, first_day=first_day, days=days)
    cid = b.add_campaign(camp)
    fn(b, rng, cid)
