"""The command line tunes polars' allocator before polars is loaded, unless told not to."""

from __future__ import annotations

import os
import subprocess
import sys

from coordscope._allocator import ALLOCATOR_CONF

_PRINT = "import os; print(os.environ.get('_RJEM_MALLOC_CONF'))"


def _python(code: str, **env: str) -> str:
    clean = {k: v for k, v in os.environ.items() if k != "_RJEM_MALLOC_CONF"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True,
        env={**clean, **env},
    )  # fmt: skip
    return done.stdout.strip()


def test_the_command_line_sets_the_options_polars_appends_to_its_own() -> None:
    # polars puts its defaults first and the user's options after: ours come last and win
    got = _python(f"import coordscope.__main__; {_PRINT}")
    assert got.endswith("," + ALLOCATOR_CONF)
    assert "background_thread:true" in got


def test_the_users_options_stand_and_a_loaded_polars_is_left_alone() -> None:
    got = _python(f"import coordscope.__main__; {_PRINT}", _RJEM_MALLOC_CONF="narenas:2")
    assert got.endswith(",narenas:2")
    assert "background_thread" not in got
    late = (
        "import polars; from coordscope._allocator import tune_allocator; print(tune_allocator())"
    )
    assert _python(late) == "False"
    assert (
        _python("from coordscope._allocator import tune_allocator; print(tune_allocator())")
        == "True"
    )
