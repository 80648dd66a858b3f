"""The version of coordscope (one place; the package and every summary read it)."""

__version__ = "0.1.0"
