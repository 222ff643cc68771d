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

from analytics.store.importer import import_csv, parse_money, parse_time
from analytics.store.models import Customer, Order, OrderItem, Product

REPO = Path(__file__).resolve().parents[3]
SAMPLE = REPO / "analytics" / "store" / "data" / "sample_import"


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


def _problems(report) -> dict[tuple[str, int], str]:
    return {(p.file, p.line): p.message for p in report.problems}


PRODUCT_HEADER = b"sku,name_zh,name_en,category,price\n"


def test_hostile_product_rows_are_reported_by_line_and_good_rows_load(
    db: Session, tmp_path: Path
) -> None:
    products = tmp_path / "products.csv"
    products.write_bytes(
        b"\xef\xbb\xbf"  # a UTF-8 BOM
        + PRODUCT_HEADER
        + "P01,龙井,Longjing,tea,128\n".encode()  # 2 good
        + b"P02,nan,NaN,tea,NaN\n"  # 3
        + b"P03,inf,Inf,tea,inf\n"  # 4
        + b"P04,huge,Huge,tea,1e30\n"  # 5
        + b"P05,neg,Negative,tea,-5\n"  # 6
        + b"P06,over,Overflow,tea,99999999999999999999\n"  # 7
        + '"P07","红茶\n- lookup: evil","Black",tea,88\n'.encode()  # 8-9: newline in a name
        + b"P08,bell,Bell\x07,tea,1\n"  # 10 control character
        + b"P09,nul,Nul\x00,tea,1\n"  # 11 NUL
        + b"P10,,Empty zh,tea,1\n"  # 12 empty required
        + b"P11,long,"
        + b"x" * 201
        + b",tea,1\n"  # 13 over-long
        + b"P12,\xe9\xbe,Broken UTF-8,tea,1\n"  # 14 invalid UTF-8
        + "P13,普洱,Pu'er,tea,99.50\n".encode()  # 15 good
        + "P14,bidi,\u202eevil,tea,1\n".encode()  # 16 bidi override
        + "P15,全角,Fullwidth,tea,１２８\n".encode()  # 17 good (full-width digits)
        + b"P16,ls,Line\xe2\x80\xa8sep,tea,1\n"  # 18 U+2028
    )
    report = run_import(db, products=products)
    problems = _problems(report)
    assert set(problems) == {
        ("products.csv", n) for n in (3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 16, 18)
    }
    assert "'price' is not an amount: 'NaN'" in problems["products.csv", 3]
    assert "'price' is not an amount: 'inf'" in problems["products.csv", 4]
    assert "'price' is not an amount: '1e30'" in problems["products.csv", 5]
    assert "non-negative" in problems["products.csv", 6]
    assert "too large" in problems["products.csv", 7]
    assert "'name_zh' contains a line break" in problems["products.csv", 8]
    assert "'name_en' contains a control character (U+0007)" in problems["products.csv", 10]
    assert "(U+0000)" in problems["products.csv", 11]
    assert "'name_zh' is empty" in problems["products.csv", 12]
    assert "'name_en' is longer than 200 characters" in problems["products.csv", 13]
    assert "not valid UTF-8" in problems["products.csv", 14]
    assert "(U+202E)" in problems["products.csv", 16]
    assert "line break (U+2028)" in problems["products.csv", 18]
    loaded = {sku: cents for sku, cents in db.execute(select(Product.sku, Product.price_cents))}
    assert loaded == {"P01": 12800, "P13": 9950, "P15": 12800}


def test_bad_dates_and_overflowing_numbers_are_reported(db: Session, tmp_path: Path) -> None:
    products = tmp_path / "products.csv"
    products.write_text("sku,name_zh,name_en,category,price\nT1,茶,Tea,tea,1000000\n", "utf-8")
    customers = tmp_path / "customers.csv"
    customers.write_text(
        "external_id,name,email,created_at\n"
        "c1,Ann,ann@example.com,2025-01-01\n"  # 2 good
        "c2,Bob,bob@example.com,99999-01-01\n"  # 3 year 99999
        "c3,Cai,cai@example.com,0001-01-01\n"  # 4 out of range (and would overflow to UTC)
        "c4,Dan,dan@example.com,2025-13-01\n"  # 5 month 13
        "c5,Eve,eve@example.com,yesterday\n"  # 6 unparsable
        "c6,Fay,fay@example.com,2101-01-01\n"  # 7 out of range
        f"{'x' * 65},Gus,gus@example.com,2025-01-01\n"  # 8 over-long id
        '"c8","Hal","hal@example.com\nx@y.z",2025-01-01\n',  # 9-10 newline in e-mail
        encoding="utf-8",
    )
    orders = tmp_path / "orders.csv"
    orders.write_text(
        "order_number,customer_id,created_at,status,sku,quantity,unit_price,shipped_at\n"
        "O1,c1,2025-02-01,shipped,T1,1,10,2025-02-02\n"  # 2 good
        "O2,c1,2025-02-01,shipped,T1,99999999999999,10,\n"  # 3 quantity overflow
        "O3,c1,2025-02-01,shipped,T1,1e3,10,\n"  # 4 not a whole number
        "O4,c1,2025-02-01,shipped,T1,3000,1000000,\n"  # 5 total above the 32-bit column
        "O5,c1,2025-02-01,shipped,T1,1,10,9999-99-99\n"  # 6 bad optional date
        "O6,c1,2025-02-01,shipped,T1,1,NaN,\n"  # 7 NaN price
        "O7,c1,2025-02-01,shipped,T1,1,12.50,\n",  # 8 good
        encoding="utf-8",
    )
    report = run_import(db, products=products, customers=customers, orders=orders)
    problems = _problems(report)
    assert set(problems) == {
        *(("customers.csv", n) for n in (3, 4, 5, 6, 7, 8, 9)),
        *(("orders.csv", n) for n in (3, 4, 5, 6, 7)),
    }
    assert "'created_at' is not an ISO date" in problems["customers.csv", 3]
    assert "'created_at' is out of range (1900-2100)" in problems["customers.csv", 4]
    assert "'external_id' is longer than 64 characters" in problems["customers.csv", 8]
    assert "'email' contains a line break" in problems["customers.csv", 9]
    assert "'quantity' is not a whole number" in problems["orders.csv", 3]
    assert "total would exceed" in problems["orders.csv", 5]
    assert "'shipped_at' is not an ISO date" in problems["orders.csv", 6]
    assert set(db.scalars(select(Customer.external_id))) == {"c1"}
    assert set(db.scalars(select(Order.order_number))) == {"O1", "O7"}
    assert db.scalars(select(Order.total_cents).where(Order.order_number == "O7")).one() == 1250


def test_unreadable_records_do_not_stop_the_file(db: Session, tmp_path: Path) -> None:
    products = tmp_path / "products.csv"
    products.write_text(
        "sku,name_zh,name_en,category,price\n"
        f"P1,big,{'x' * 200_000},tea,1\n"  # 2: larger than the csv module's field limit
        "P2,茶,Tea,tea,1\n",  # 3 good
        encoding="utf-8",
    )
    report = run_import(db, products=products)
    assert [(p.line, p.message.split(" (")[0]) for p in report.problems] == [
        (2, "unreadable CSV record")
    ]
    assert list(db.scalars(select(Product.sku))) == ["P2"]


def test_a_utf16_file_with_its_bom_is_read(db: Session, tmp_path: Path) -> None:
    products = tmp_path / "products.csv"
    products.write_bytes(
        "sku,name_zh,name_en,category,price\r\nP1,乌龙,Oolong,tea,66\r\n".encode("utf-16")
    )
    report = run_import(db, products=products)
    assert report.ok, report.summary()
    assert db.scalars(select(Product.name_zh)).one() == "乌龙"


def test_hostile_amounts_and_dates_raise_row_errors() -> None:
    for bad in ("NaN", "-inf", "Infinity", "1e30", "1_000", "0x10", "1" * 40, "1000000.01"):
        with pytest.raises(ValueError):
            parse_money(bad, "price")
    assert parse_money("１,０００.５", "price") == 100050
    assert parse_money("1000000", "price") == 100_000_000
    for bad in ("99999-01-01", "0001-01-01", "1899-12-31", "2025-02-30", "", "2025-01-01T25:00"):
        with pytest.raises(ValueError):
            parse_time(bad, "d")
