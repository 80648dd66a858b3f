"""Pin every dependency of pyproject.toml to its lower bound, as a pip constraints file.

``python tools/lowest_constraints.py [EXTRA ...]`` prints ``name==X`` for each runtime
dependency and for those of the named extras (``dev`` for ``make test-lowest``), where X
is the version of the dependency's ``>=`` bound. ``pip install -c`` that output installs
the oldest versions pyproject.toml claims to work with, so the tests check the claim.
A dependency without a ``>=`` bound is an error: it claims every version ever released.
Only the standard library, so that it runs before anything is installed.
"""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

PYPROJECT = Path(__file__).resolve().parents[1] / "pyproject.toml"

#: ``name[extras] specifiers ; marker``, as pyproject's requirement strings are written.
_REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:\[[^\]]*\])?\s*([^;]*)(;.*)?$")


def lower_bound(requirement: str) -> tuple[str, str]:
    """Return ``(name, version)`` of a requirement's ``>=`` bound; ``ValueError`` without one."""
    match = _REQUIREMENT.match(requirement)
    if match is None:
        raise ValueError(f"cannot read the requirement {requirement!r}")
    name, specifiers = match.group(1), match.group(2)
    bounds = [s.strip()[2:].strip() for s in specifiers.split(",") if s.strip().startswith(">=")]
    if len(bounds) != 1:
        raise ValueError(f"{requirement!r}: expected exactly one '>=' lower bound")
    return name, bounds[0]


def constraints(extras: list[str]) -> list[str]:
    """Return the ``name==X`` lines for the runtime dependencies and those of ``extras``."""
    project = tomllib.loads(PYPROJECT.read_text(encoding="utf-8"))["project"]
    optional = project.get("optional-dependencies", {})
    unknown = sorted(set(extras) - set(optional))
    if unknown:
        raise ValueError(f"no such extra in pyproject.toml: {', '.join(unknown)}")
    requirements = list(project["dependencies"])
    for extra in extras:
        requirements += optional[extra]
    return [f"{name}=={version}" for name, version in map(lower_bound, requirements)]


def main() -> int:
    """Print the constraints; exit 2 on an unbounded or unreadable requirement."""
    try:
        lines = constraints(sys.argv[1:])
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
