"""Event → key: what counts as "the same thing", one module per signal family.

:mod:`~coordscope.signals.actions` (the entry point, every signal),
:mod:`~coordscope.signals.exact` (keys that are fields of the event),
:mod:`~coordscope.signals.similar` (near-duplicate texts),
:mod:`~coordscope.signals.media` (recycled images), :mod:`~coordscope.signals.window`
(estimating the window W from the data).
"""
