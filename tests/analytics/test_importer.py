"""CSV import: good rows load, bad rows are reported with line numbers, re-import is idempotent."""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from analytics.importer import import_csv, parse_money, parse_time
from analytics.models import Customer, Order, OrderItem, Product

REPO = Path(__file__).resolve().parents[2]
SAMPLE = REPO / "analytics" / "data" / "sample_import"


@pytest.fixture
def db(empty_store: Engine) -> Iterator[Session]:
    with Session(empty_store) as session:
        yield session


def run_import(session: Session, **files: Path):
    report = import_csv(session, **files)
    session.commit()
    return report


def counts(session: Session) -> tuple[int, int, int, int]:
    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(model))
        for model in (Product, Customer, Order, OrderItem)
    )


def test_sample_files_import_cleanly_and_idempotently(db: Session) -> None:
    files = {
        "products": SAMPLE / "products.csv",
        "customers": SAMPLE / "customers.csv",
        "orders": SAMPLE / "orders.csv",
    }
    first = run_import(db, **files)
    assert first.ok, first.summary()
    assert counts(db) == (5, 3, 3, 4)
    order = db.scalars(select(Order).where(Order.order_number == "SO-2025-0001")).one()
    assert order.total_cents == 2 * 12800 + 4550
    assert {i.quantity for i in order.items} == {2, 1}
    second = run_import(db, **files)
    assert second.ok and counts(db) == (5, 3, 3, 4)
    assert sum(second.inserted.values()) == 0 and sum(second.updated.values()) == 0
    assert second.unchanged == {"products": 5, "customers": 3, "order lines": 4}


def test_bad_rows_are_reported_with_line_numbers_and_good_rows_load(
    db: Session, tmp_path: Path
) -> None:
    run_import(db, products=SAMPLE / "products.csv")
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "external_id,name,email,language,created_at\n"
        "c1,王芳,wang@example.cn,zh,2025-01-01\n"  # line 2: good
        "c2,Bad Mail,not-an-email,en,2025-01-01\n"  # line 3: bad email
        "c3,李雷,li@example.cn,fr,2025-01-01\n"  # line 4: bad language
        "\n"  # line 5: blank, skipped
        "c4,Ann,ann@example.com,en,01/02/2025\n"  # line 6: bad date
        "c5,,empty@example.com,en,2025-01-01\n"  # line 7: empty name
        "c6,Bob,bob@example.com,en,2025-02-01,extra\n"  # line 8: too many values
        "c7,Cai,cai@example.cn,,2025-03-01\n",  # line 9: good, default language
        encoding="utf-8",
    )
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_number,customer_id,created_at,status,sku,quantity,unit_price\n"
        "A1,c1,2025-02-01,delivered,T01,1,128\n"  # 2 good
        "A2,nobody,2025-02-01,delivered,T01,1,128\n"  # 3 unknown customer
        "A3,c1,2025-02-01,delivered,ZZZ,1,128\n"  # 4 unknown product
        "A4,c1,2025-02-01,lost,T01,1,128\n"  # 5 bad status
        "A5,c1,2025-02-01,paid,T01,0,128\n"  # 6 zero quantity
        "A6,c1,2025-02-01,paid,T01,1,12.345\n"  # 7 three decimals
        "A7,c7,2025-03-02,paid,C01,2,79\n",  # 8 good
        encoding="utf-8",
    )
    report = run_import(db, customers=customers, orders=orders)
    lines = {(p.file, p.line) for p in report.problems}
    assert lines == {
        ("customers.csv", 3),
        ("customers.csv", 4),
        ("customers.csv", 6),
        ("customers.csv", 7),
        ("customers.csv", 8),
        ("orders.csv", 3),
        ("orders.csv", 4),
        ("orders.csv", 5),
        ("orders.csv", 6),
        ("orders.csv", 7),
    }
    messages = "\n".join(str(p) for p in report.problems)
    assert "customers.csv:3: 'email' is not an email address" in messages
    assert "orders.csv:3: unknown customer 'nobody'" in messages
    assert set(db.scalars(select(Customer.external_id))) == {"c1", "c7"}
    assert set(db.scalars(select(Order.order_number))) == {"A1", "A7"}
    assert db.scalars(select(Customer.language).where(Customer.external_id == "c7")).one() == "zh"


def test_a_corrected_file_updates_the_rows_it_names(db: Session, tmp_path: Path) -> None:
    run_import(db, products=SAMPLE / "products.csv")
    changed = tmp_path / "products.csv"
    changed.write_text(
        "sku,name_zh,name_en,category,price,active\nt01,西湖龙井,West Lake Longjing,tea,138,false\n",
        encoding="utf-8",
    )
    report = run_import(db, products=changed)
    assert report.updated == {"products": 1}
    product = db.scalars(select(Product).where(Product.sku == "T01")).one()
    assert (product.price_cents, product.active) == (13800, False)
    assert counts(db)[0] == 5


def test_a_file_without_a_required_column_is_refused_whole(db: Session, tmp_path: Path) -> None:
    broken = tmp_path / "products.csv"
    broken.write_text("sku,name_zh,category,price\nT01,龙井,tea,1\n", encoding="utf-8")
    with pytest.raises(ValueError, match="missing column.*name_en"):
        import_csv(db, products=broken)


def test_value_parsers() -> None:
    assert parse_money("¥1,299.50", "price") == 129950
    assert parse_money("0", "price") == 0
    assert parse_time("2026-03-01", "d").isoformat() == "2026-02-28T16:00:00+00:00"  # China time
    assert parse_time("2026-03-01T10:00:00Z", "d").hour == 10
    for bad in ("-1", "abc", "1.001"):
        with pytest.raises(ValueError):
            parse_money(bad, "price")


def test_cli_reports_and_exits_nonzero_on_rejected_rows(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    customers = tmp_path / "customers.csv"
    shutil.copy(SAMPLE / "customers.csv", customers)
    with customers.open("a", encoding="utf-8") as handle:
        handle.write("shop-10004,No Date,nodate@example.com,,en,Xi'an,,web,0\n")
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "analytics",
            "--database-url",
            url,
            "import",
            "--customers",
            str(customers),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 1, result.stderr
    assert "customers: 3 new" in result.stdout
    assert "customers.csv:5: 'created_at' is empty" in result.stdout
