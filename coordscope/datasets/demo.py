"""The bundled demo dataset: the ``demo`` scenario, generated on the fly, read as an export.

It is what ``coordscope audit`` audits when given no input: the same events every time
(seed 7), written as X API v2 JSON lines and read back through that reader, so the demo
exercises the real ingest path.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from coordscope.datasets.formats import get_format
from coordscope.datasets.ingest import IngestResult, ingest
from coordscope.datasets.simulate import simulate

__all__ = ["demo_ingest"]


def demo_ingest() -> IngestResult:
    """Ingest the bundled demo dataset (the ``demo`` scenario, seed 7, as X v2 JSON lines).

    Returns
    -------
    IngestResult
        Its input is named ``<bundled demo: simulate --scenario demo --seed 7>``.
    """
    events, _ = simulate("demo", seed=7)
    with tempfile.TemporaryDirectory(prefix="coordscope-demo-") as tmp:
        path = Path(tmp) / "demo-tweets.jsonl"
        get_format("twitter-v2").write(events, str(path))
        read = ingest([str(path)], format="twitter-v2")
    for item in read.inputs:
        item["path"] = "<bundled demo: simulate --scenario demo --seed 7>"
    return read
