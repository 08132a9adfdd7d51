"""Entry point for `python -m controller`; the same as the `skiff` command."""

from controller.cli.main import main

if __name__ == "__main__":
    raise SystemExit(main())
