"""Packaging facts that must stay true: one version, a licence that matches, a citation."""

from __future__ import annotations

import tomllib
from pathlib import Path

import coordscope

ROOT = Path(__file__).resolve().parent.parent


def _project() -> dict[str, object]:
    with open(ROOT / "pyproject.toml", "rb") as handle:
        project: dict[str, object] = tomllib.load(handle)["project"]
    return project


def test_version_has_one_source() -> None:
    # the installed metadata (what __version__ reads) is pyproject's version
    assert coordscope.__version__ == _project()["version"]
    source = (ROOT / "coordscope" / "_version.py").read_text(encoding="utf-8")
    assert str(_project()["version"]) not in source  # not written a second time


def test_citation_names_the_same_version_and_licence() -> None:
    text = (ROOT / "CITATION.cff").read_text(encoding="utf-8")
    lines = dict(
        line.split(":", 1) for line in text.splitlines() if line and not line.startswith(" ")
    )
    assert lines["cff-version"].strip() == "1.2.0"
    assert lines["version"].strip().strip('"') == _project()["version"]
    assert lines["license"].strip() == _project()["license"] == "MIT"


def test_licence_file_matches_pyproject() -> None:
    first = (ROOT / "LICENSE").read_text(encoding="utf-8").splitlines()[0]
    assert first == f"{_project()['license']} License"
