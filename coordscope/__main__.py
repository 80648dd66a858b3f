"""``python -m coordscope`` and the ``coordscope`` command: the command line."""

from coordscope._allocator import tune_allocator

tune_allocator()  # before anything loads polars

from coordscope.cli import main  # noqa: E402 - after the allocator is tuned

__all__ = ["main"]

if __name__ == "__main__":
    main()
