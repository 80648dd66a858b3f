"""``python -m coordscope``: the command line."""

from coordscope.cli import main

if __name__ == "__main__":
    main()
