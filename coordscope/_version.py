"""The version of coordscope, read from the installed package's metadata.

``pyproject.toml`` is the one place the version is written; every summary, report and
``coordscope --version`` reads it from here. Run from a source tree that was never
installed, there is no metadata, and the version says so.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("coordscope")
except PackageNotFoundError:  # a source tree on sys.path, not installed
    __version__ = "0+unknown"
