"""`python -m needlecli` runs the `needle` command."""

from __future__ import annotations

from needlecli.launch import main

if __name__ == "__main__":
    main()
