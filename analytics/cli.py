"""Command line of the analytics package: ``python -m analytics <command>``.

Commands:
    migrate: upgrade the store at ``SHOP_DATABASE_URL`` to the latest schema.
    seed: migrate and fill the store with the demo shop (refuses a non-empty store
        unless ``--reset``; exits 0 when already seeded so ``make run`` can call it).
    export-nlu: write the NLU product lookup table and the jieba user dictionary.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from analytics.core.identity import DEFAULT_TTL_SECONDS, identity_metadata
from analytics.core.settings import get_settings, set_demo_shop

logger = logging.getLogger(__name__)

CMD_MIGRATE = "migrate"
CMD_SEED = "seed"
CMD_IMPORT = "import"
CMD_EXPORT_NLU = "export-nlu"
CMD_IDENTITY = "identity"


def _reference(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser.

    Returns:
        The parser with one sub-command per action.
    """
    from analytics.demo.generator import DEFAULT_CUSTOMERS, DEFAULT_SEED

    parser = argparse.ArgumentParser(prog="python -m analytics", description=__doc__)
    parser.add_argument("--database-url", help="override SHOP_DATABASE_URL")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser(CMD_MIGRATE, help="upgrade the store schema to head")
    seed = sub.add_parser(CMD_SEED, help="migrate and seed the demo shop")
    seed.add_argument("--customers", type=int, default=DEFAULT_CUSTOMERS, help="total customers")
    seed.add_argument("--seed", type=int, default=DEFAULT_SEED, help="random seed")
    seed.add_argument("--reset", action="store_true", help="delete existing rows first")
    seed.add_argument(
        "--reference-date",
        type=_reference,
        default=None,
        help="end of the history (ISO date, UTC); default today 00:00 UTC",
    )
    seed.add_argument("--no-progress", action="store_true", help="hide progress bars")
    export = sub.add_parser(CMD_EXPORT_NLU, help="write the NLU lookup and jieba dictionary")
    export.add_argument(
        "--from-csv", action="store_true", help="read the catalogue CSV instead of the database"
    )
    importer = sub.add_parser(
        CMD_IMPORT, help="import a shop's products, customers and orders from CSV"
    )
    importer.add_argument("--products", type=Path, help="products CSV")
    importer.add_argument("--customers", type=Path, help="customers CSV")
    importer.add_argument("--orders", type=Path, help="order lines CSV")
    identity = sub.add_parser(
        CMD_IDENTITY, help="print (one line of JSON) the metadata a host website sends"
    )
    identity.add_argument("customer_id", help="the customer's id, e.g. cus_0001")
    identity.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default 1 day)"
    )
    from analytics.brain.options import add_score_arguments

    add_score_arguments(sub.add_parser("score", help="fit/load the brain, score every customer"))
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == CMD_IDENTITY:
        return _identity(args)
    url = args.database_url or get_settings().database_url
    if args.command == CMD_MIGRATE:
        from analytics.store.db import upgrade_to_head

        upgrade_to_head(url)
        print("Store schema is up to date.")
        return 0
    if args.command == CMD_SEED:
        from analytics.demo.generator import seed_database

        try:
            result = seed_database(
                url,
                n_customers=args.customers,
                seed=args.seed,
                reference=args.reference_date,
                reset=args.reset,
                progress=not args.no_progress and sys.stderr.isatty(),
            )
        except ValueError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        if not result.seeded:
            print(
                f"Store already seeded ({result.counts['customers']} customers); "
                "nothing to do. Use --reset to re-seed."
            )
            return 0
        set_demo_shop(True)
        summary = ", ".join(f"{name}={n}" for name, n in result.counts.items())
        print(f"Seeded in {result.seconds:.1f} s: {summary}")
        return 0
    if args.command == CMD_EXPORT_NLU:
        from analytics.loop.nlu_export import export_nlu

        paths = export_nlu(None if args.from_csv else url)
        for path in paths:
            print(f"wrote {path}")
        return 0
    if args.command == CMD_IMPORT:
        return _import(url, args)
    if args.command == "score":
        from analytics.brain.pipeline import run_from_args

        return run_from_args(args, url)
    return 2  # pragma: no cover - argparse enforces the choices


def _identity(args: argparse.Namespace) -> int:
    """Runs ``identity``: the signed metadata for one customer, as one line of JSON."""
    secret = get_settings().identity_secret
    if not secret:
        print("error: IDENTITY_SECRET is not set (run `make env`)", file=sys.stderr)
        return 2
    try:
        metadata = identity_metadata(args.customer_id, secret, ttl_seconds=args.ttl)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")))
    return 0


def _import(url: str, args: argparse.Namespace) -> int:
    """Runs ``import``: good rows are committed, bad rows listed; exit 1 if any."""
    from analytics.loop.nlu_export import export_nlu
    from analytics.store.db import make_engine, make_sessionmaker, upgrade_to_head
    from analytics.store.importer import import_csv

    if not (args.products or args.customers or args.orders):
        print("error: give at least one of --products, --customers, --orders", file=sys.stderr)
        return 2
    upgrade_to_head(url)
    engine = make_engine(url)
    set_demo_shop(False)  # the founder's own shop: no demo page, no demo identities
    try:
        with make_sessionmaker(engine).begin() as session:
            report = import_csv(
                session,
                products=args.products,
                customers=args.customers,
                orders=args.orders,
                progress=sys.stderr.isatty(),
            )
    except (ValueError, FileNotFoundError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(report.summary())
    if args.products:
        for path in export_nlu(url):
            print(f"wrote {path}")
    return 0 if report.ok else 1


if __name__ == "__main__":
    sys.exit(main())
