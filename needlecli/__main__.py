"""`python -m needlecli` runs the `needle` command."""

from __future__ import annotations

from needlecli.cli import main

if __name__ == "__main__":
    main()
