"""Building blocks of :func:`coordscope.datasets.simulate.simulate`.

The public entry point is :mod:`coordscope.datasets.simulate`; the modules here are
private and organised by role:

- ``_core``: the time window, diurnal rhythm, delays, and the :class:`~._core.Builder`
  that collects accounts, events and campaigns with internal integer ids;
- ``_text``: vocabulary, texts, handles, domains, URLs and hashtags;
- ``background``: the organic platform (heavy-tailed activity, cascades, replies, quotes);
- ``negatives``: organic hard negatives (flash-viral cascades, scheduler bots, homophily);
- ``campaigns``: the planted coordinated campaigns, one function per style.
"""

from __future__ import annotations

__all__: list[str] = []
