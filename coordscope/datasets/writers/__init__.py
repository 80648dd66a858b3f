"""Writers: canonical events written as each export format looks.

``coordscope simulate --format`` writes synthetic data with them, so that the readers
(one module per format in :mod:`coordscope.datasets`) are exercised on files shaped like
real exports. One module per format, each with ``write(events, path)``; a ``.gz`` path
is gzip-compressed. :mod:`._common` holds what several writers share.
"""

from coordscope.datasets.writers import (
    cnt,
    coortweet,
    crowdtangle,
    generic,
    telegram,
    twitter_io,
    twitter_v1,
    twitter_v2,
)

__all__ = [
    "cnt",
    "coortweet",
    "crowdtangle",
    "generic",
    "telegram",
    "twitter_io",
    "twitter_v1",
    "twitter_v2",
]
