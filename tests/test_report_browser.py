"""The report in a real headless Chromium: no script from the data runs, the page renders.

Needs ``/usr/bin/chromium`` (Debian's package; ``.ci/run`` installs it). Without it the
tests skip locally and FAIL in CI (env ``CI`` set), so a missing browser cannot pass
silently there.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from matplotlib import image as mpimg

from coordscope.report import write_report
from tests.test_report import _Tags, make_result, parse

CHROMIUM = Path("/usr/bin/chromium")
#: What the hostile strings would do if they ran: change the title, mark the body.
IMG = "<img src=x onerror=\"document.body.setAttribute('data-pwned','1')\">"
SCRIPT = "<script>document.title='pwned'</script>"
STYLE = "</style><style>body{display:none}</style>"


@pytest.fixture
def chromium(tmp_path: Path) -> Iterator[list[str]]:
    """The command line that starts a throw-away headless Chromium."""
    if not CHROMIUM.exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing in CI: .ci/run must install chromium")
        pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); CI runs this test")
    profile = tmp_path / "chromium-profile"
    yield [
        str(CHROMIUM),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
    ]


def _run(cmd: list[str]) -> str:
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def dump_dom(chromium: list[str], page: Path) -> _Tags:
    """The DOM after the page loaded (and any script ran), parsed."""
    return parse(_run([*chromium, "--dump-dom", page.as_uri()]))


def body_attrs(dom: _Tags) -> dict[str, str | None]:
    return next(a for t, a in dom.tags if t == "body")


def hostile_report(tmp_path: Path) -> Path:
    hostile = IMG + SCRIPT + STYLE
    result = make_result(
        alice=hostile,
        bob="bob" + IMG,
        text="RT " + hostile,
        link_text=SCRIPT + " https://news.example/x",
        object="9009" + SCRIPT,
        url="https://news.example/x?" + IMG,
        platform="twitter" + SCRIPT,
        path="data/" + hostile + ".jsonl",
        reason=hostile,
    )
    return write_report(result, tmp_path / "report.html")


def test_harness_detects_a_running_script(chromium: list[str], tmp_path: Path) -> None:
    # the control: the same checks on a page whose payload is NOT escaped must fail
    page = tmp_path / "control.html"
    page.write_text(
        f"<!DOCTYPE html><html><head><title>t</title></head><body>{IMG}{SCRIPT}</body></html>"
    )
    dom = dump_dom(chromium, page)
    assert dom.title == "pwned"
    assert body_attrs(dom).get("data-pwned") == "1"


def test_no_script_from_the_data_runs(chromium: list[str], tmp_path: Path) -> None:
    page = hostile_report(tmp_path)
    dom = dump_dom(chromium, page)
    assert dom.title == "coordscope audit report"
    assert "data-pwned" not in body_attrs(dom)
    names = [t for t, _ in dom.tags]
    assert "script" not in names
    assert names.count("style") == 1
    assert all(
        (a.get("src") or "").startswith("data:image/png;base64,") for t, a in dom.tags if t == "img"
    )
    assert len([t for t in names if t == "img"]) == 3  # timeline, activity, network


def test_page_renders_with_content(chromium: list[str], tmp_path: Path) -> None:
    page = hostile_report(tmp_path)
    shot = tmp_path / "shot.png"
    _run([*chromium, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()])
    img = mpimg.imread(shot)
    assert img.shape[:2] == (2000, 1280)
    rgb = np.round(img[..., :3] * 255).astype(np.uint32)
    colours = np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2])
    assert colours.size > 50  # text, tables, plots — not a blank page
    not_white = (rgb.sum(axis=-1) < 3 * 250).mean()
    assert 0.02 < not_white < 0.9


def test_demo_report_in_the_browser(chromium: list[str], tmp_path: Path) -> None:
    from tests.test_report import demo_report

    html, result, truth = demo_report()
    page = tmp_path / "demo.html"
    page.write_text(html, encoding="utf-8")
    dom = dump_dom(chromium, page)
    ids = [a.get("id") for _, a in dom.tags if (a.get("id") or "").startswith("cluster-")]
    assert ids == [f"cluster-{c}" for c in result.clusters["cluster"].head(10)]
    # the top cluster is a planted campaign
    top = result.clusters.row(0, named=True)
    coordinated = set(truth.filter(truth["coordinated"])["actor_id"])
    assert top["significant"] and set(top["members"]) <= coordinated
    shot = tmp_path / "demo.png"
    _run([*chromium, f"--screenshot={shot}", "--window-size=1280,2000", page.as_uri()])
    rgb = np.round(mpimg.imread(shot)[..., :3] * 255).astype(np.uint32)
    assert np.unique(rgb[..., 0] << 16 | rgb[..., 1] << 8 | rgb[..., 2]).size > 50
