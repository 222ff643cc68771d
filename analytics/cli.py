"""The ``leafbean`` command (also ``python -m analytics``): one sub-command per job.

Commands:
    migrate: upgrade the store at ``SHOP_DATABASE_URL`` to the latest schema.
    seed (alias demo): migrate and fill the store with the demo shop (refuses a non-empty
        store unless ``--reset``; exits 0 when already seeded so ``make run`` can call it).
    import: import a shop's products, customers and orders from CSV files.
    score: fit or load the brain and score every customer.
    ingest: the conversation-ingest worker (``analytics.loop.ingest``; its own options).
    schedule: score now and then periodically (``analytics.loop.schedule``; its own options).
    export-nlu: write the NLU product lookup table and the jieba user dictionary.
    retrain: export the NLU lookups, then train the Rasa model in ``.venv-rasa`` unless the
        model for the current bot files is already there (what ``make train`` runs;
        ``analytics.loop.rasa_model``).
    model-path: print the file name of the model for the current bot files.
    identity: print the signed identity metadata a host website sends.
    link-code: print a one-time code that links a messaging account (Telegram, WeChat...)
        to a customer, its expiry and the Telegram deep link (docs/channels/linking.md).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

from analytics.core.identity import (
    DEFAULT_TTL_SECONDS,
    identity_metadata,
    link_code,
    telegram_bot_username,
    telegram_deep_link,
)
from analytics.core.settings import REPO_ROOT, get_settings, set_demo_shop
from analytics.loop.rasa_model import (
    DEFAULT_MODELS_DIR,
    DEFAULT_RASA_BIN,
    RasaNotFoundError,
    model_path,
    retrain,
    shown,
)

logger = logging.getLogger(__name__)

PROG = "leafbean"
CMD_MIGRATE = "migrate"
CMD_SEED = "seed"
CMD_DEMO = "demo"
CMD_IMPORT = "import"
CMD_SCORE = "score"
CMD_INGEST = "ingest"
CMD_SCHEDULE = "schedule"
CMD_EXPORT_NLU = "export-nlu"
CMD_RETRAIN = "retrain"
CMD_MODEL_PATH = "model-path"
CMD_IDENTITY = "identity"
CMD_LINK_CODE = "link-code"
ENV_DATABASE_URL = "SHOP_DATABASE_URL"


def _reference(value: str) -> datetime:
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"not an ISO date: {value!r}") from exc
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def _ingest_main(argv: list[str]) -> int:
    from analytics.loop.ingest.__main__ import main as ingest_main

    return ingest_main(argv)


def _schedule_main(argv: list[str]) -> int:
    from analytics.loop.schedule import main as schedule_main

    return schedule_main(argv)


# Jobs with their own command line: ``leafbean <job> ...`` hands the rest of the line over.
PASS_THROUGH: dict[str, Callable[[list[str]], int]] = {
    CMD_INGEST: _ingest_main,
    CMD_SCHEDULE: _schedule_main,
}


def build_parser() -> argparse.ArgumentParser:
    """Build the argument parser.

    Returns:
        The parser with one sub-command per job.
    """
    from analytics.brain.options import add_score_arguments
    from analytics.demo.generator import DEFAULT_CUSTOMERS, DEFAULT_SEED

    parser = argparse.ArgumentParser(
        prog=PROG,
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--database-url", help=f"override {ENV_DATABASE_URL}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    sub = parser.add_subparsers(dest="command", required=True, metavar="command")
    sub.add_parser(CMD_MIGRATE, help="upgrade the store schema to head")
    seed = sub.add_parser(CMD_SEED, aliases=[CMD_DEMO], help="migrate and seed the demo shop")
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
    importer = sub.add_parser(
        CMD_IMPORT, help="import a shop's products, customers and orders from CSV"
    )
    importer.add_argument("--products", type=Path, help="products CSV")
    importer.add_argument("--customers", type=Path, help="customers CSV")
    importer.add_argument("--orders", type=Path, help="order lines CSV")
    add_score_arguments(sub.add_parser(CMD_SCORE, help="fit/load the brain, score every customer"))
    sub.add_parser(
        CMD_INGEST, add_help=False, help="run the conversation-ingest worker (own options)"
    )
    sub.add_parser(
        CMD_SCHEDULE, add_help=False, help="score now and then every N hours (own options)"
    )
    export = sub.add_parser(CMD_EXPORT_NLU, help="write the NLU lookup and jieba dictionary")
    export.add_argument(
        "--from-csv", action="store_true", help="read the catalogue CSV instead of the database"
    )
    retrain = sub.add_parser(
        CMD_RETRAIN, help="export the NLU lookups and train the Rasa model if it is stale"
    )
    retrain.add_argument(
        "--no-export", action="store_true", help="train from the files as they are (no export)"
    )
    retrain.add_argument("--force", action="store_true", help="train even if the model exists")
    for command in (retrain, sub.add_parser(CMD_MODEL_PATH, help="print the model's file name")):
        command.add_argument("--models", type=Path, default=DEFAULT_MODELS_DIR, help="model folder")
    retrain.add_argument(
        "--rasa", type=Path, default=DEFAULT_RASA_BIN, help="the Rasa environment's rasa"
    )
    identity = sub.add_parser(
        CMD_IDENTITY, help="print (one line of JSON) the metadata a host website sends"
    )
    identity.add_argument("customer_id", help="the customer's id, e.g. cus_0001")
    identity.add_argument(
        "--ttl", type=int, default=DEFAULT_TTL_SECONDS, help="lifetime in seconds (default 1 day)"
    )
    code = sub.add_parser(
        CMD_LINK_CODE, help="print a code that links a messaging account to a customer"
    )
    code.add_argument("customer_id", help="the customer's id, e.g. cus_0001")
    code.add_argument(
        "--ttl", type=int, default=None, help="lifetime in seconds (default LINK_CODE_TTL_S)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line.

    Args:
        argv: Arguments (default ``sys.argv[1:]``).

    Returns:
        The process exit code.
    """
    parser = build_parser()
    args, rest = parser.parse_known_args(argv)
    if args.command in PASS_THROUGH:
        return _pass_through(args, rest)
    if rest:
        parser.error(f"unrecognized arguments: {' '.join(rest)}")
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(name)s: %(message)s",
    )
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    if args.command == CMD_IDENTITY:
        return _identity(args)
    if args.command == CMD_LINK_CODE:
        return _link_code(args)
    if args.command == CMD_MODEL_PATH:
        print(shown(model_path(REPO_ROOT, args.models)))
        return 0
    url = args.database_url or get_settings().database_url
    if args.command == CMD_MIGRATE:
        from analytics.store.db import upgrade_to_head

        upgrade_to_head(url)
        print("Store schema is up to date.")
        return 0
    if args.command in (CMD_SEED, CMD_DEMO):
        return _seed(url, args)
    if args.command == CMD_EXPORT_NLU:
        from analytics.loop.nlu_export import export_nlu

        paths = export_nlu(None if args.from_csv else url)
        for path in paths:
            print(f"wrote {path}")
        return 0
    if args.command == CMD_IMPORT:
        return _import(url, args)
    if args.command == CMD_SCORE:
        from analytics.brain.pipeline import run_from_args

        return run_from_args(args, url)
    if args.command == CMD_RETRAIN:
        return _retrain(url, args)
    return 2  # pragma: no cover - argparse enforces the choices


def _pass_through(args: argparse.Namespace, rest: list[str]) -> int:
    """Runs a job that parses its own command line (``ingest``, ``schedule``)."""
    if args.database_url:
        os.environ[ENV_DATABASE_URL] = args.database_url
    if args.verbose:
        if args.command == CMD_INGEST:
            rest = [*rest, "--verbose"]
        else:
            logging.basicConfig(level=logging.DEBUG)
    return PASS_THROUGH[args.command](rest)


def _seed(url: str, args: argparse.Namespace) -> int:
    """Runs ``seed``: the demo shop, unless the store already holds one."""
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


def _identity(args: argparse.Namespace) -> int:
    """Runs ``identity``: the signed metadata for one customer, as one line of JSON."""
    secret = get_settings().identity_secret
    if secret is None or not secret.get_secret_value():
        print("error: IDENTITY_SECRET is not set (run `make env`)", file=sys.stderr)
        return 2
    try:
        metadata = identity_metadata(
            args.customer_id, secret.get_secret_value(), ttl_seconds=args.ttl
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(metadata, ensure_ascii=False, separators=(",", ":")))
    return 0


def _link_code(args: argparse.Namespace) -> int:
    """Runs ``link-code``: the code (first line), its expiry and the Telegram deep link."""
    settings = get_settings()
    secret = settings.identity_secret
    if secret is None or not secret.get_secret_value():
        print("error: IDENTITY_SECRET is not set (run `make env`)", file=sys.stderr)
        return 2
    ttl = settings.link_code_ttl_s if args.ttl is None else args.ttl
    try:
        made = link_code(args.customer_id, secret.get_secret_value(), ttl_seconds=ttl)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    expires = datetime.fromtimestamp(made.expires_at, UTC).strftime("%Y-%m-%d %H:%M:%S UTC")
    print(made.code)
    print(f"expires: {expires} (in {ttl // 60} min {ttl % 60} s; single use)")
    print(f"send it once on any channel: /start {made.code}  (or: link {made.code})")
    username = telegram_bot_username(get_settings().telegram_bot_username)
    if username:
        print(f"telegram: {telegram_deep_link(username, made.code)}")
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


def _retrain(url: str, args: argparse.Namespace) -> int:
    """Runs ``retrain``: export the lookups, train the model if stale, keep the newest three."""
    try:
        return retrain(
            url, export=not args.no_export, force=args.force, models=args.models, rasa=args.rasa
        )
    except RasaNotFoundError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
