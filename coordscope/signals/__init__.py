"""The vectorized scoring core: actions, co-action kernel, counting modes, window estimate."""

from coordscope.signals.actions import SIGNALS, actions, actions_from_keys, normalize_text
from coordscope.signals.detect import MODES, DetectResult, coactions, detect, edges
from coordscope.signals.kernel import band_pairs, count_band_pairs
from coordscope.signals.native import native_pairs
from coordscope.signals.window import WindowEstimate, estimate_window

__all__ = [
    "MODES",
    "SIGNALS",
    "DetectResult",
    "WindowEstimate",
    "actions",
    "actions_from_keys",
    "band_pairs",
    "coactions",
    "count_band_pairs",
    "detect",
    "edges",
    "estimate_window",
    "native_pairs",
    "normalize_text",
]
