"""``python -m analytics``: runs :func:`analytics.cli.main`."""

from analytics.cli import main

if __name__ == "__main__":
    raise SystemExit(main())
