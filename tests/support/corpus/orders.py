"""Named orders with the Visma rows and totals an accountant works out by hand.

Each case states the Shopify numbers, the rows we expect (article number, UnitPrice,
Quantity, DiscountPercentage) and Visma's totals by the rule in docs/architecture.md:
row = round(UnitPrice × Quantity × (1 − DiscountPercentage)), DiscountPercentage being a
FRACTION (0.1 = 10 %, 4 decimals, so 0.01 % steps); rows summed per VAT rate, VAT per rate
rounded half up once, total = rows (+ VAT when the document is net). `why` shows the
arithmetic. Tax-included shops: Shopify tax = round(gross × r/(1+r)); tax-excluded shops:
round(net × r), per line.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from shopvisma.mapping.company import Company
from shopvisma.mapping.settings import MappingSettings
from shopvisma.shopify.order import Order

from .build import COMPANY, COMPANY_TWO_ZERO, DEFAULT, line, order, refund, ship, tax, tip_line

Row = tuple[str, str, str, str]  # article number, UnitPrice, Quantity, DiscountPercentage (fraction)


@dataclass(frozen=True)
class Case:
    name: str
    order: Order
    includes_vat: bool
    rows: tuple[Row, ...] = ()
    total: str = ""
    vat: str = ""
    vat_by_rate: dict[str, str] = field(default_factory=dict)
    rounding: str = "0"
    is_foreign: bool = False
    settings: MappingSettings = DEFAULT
    company: Company = COMPANY
    refund: int = 0  # plan this refund (1-based) instead of the order
    error: str = ""  # expected refusal: a substring of the reason
    error_field: str = ""
    note: str = ""  # expected substring of one of the plan's notes
    why: str = ""


T25 = (tax("0.25", "49.80"),)  # TSHIRT-M 249.00 incl.: 249 × 0.25/1.25 = 49.80


def tshirt(**kw) -> dict:
    return line("TSHIRT-M", "T-shirt - M", 1, "249.00", taxes=T25, **kw)


def coffee(qty: int = 1, unit: str = "89.00", t: str = "9.54", **kw) -> dict:
    return line("COFFEE-500", "Kaffe 500 g", qty, unit, taxes=(tax("0.12", t),), **kw)


def book(t: str = "11.26") -> dict:
    return line("BOOK-1", "Bok", 1, "199.00", taxes=(tax("0.06", t),))


def mug_discounted(id: str | None = None) -> dict:
    return line("MUG", "Mugg", 3, "99.00", discount="10.00", taxes=(tax("0.25", "57.40"),), id=id)


def pens(unit: str, t: str) -> list[dict]:
    return [line(f"PEN-{c}", f"Penna {c.lower()}", 1, unit, taxes=(tax("0.25", t),)) for c in ("RED", "BLUE", "GREEN")]


INCL = dict(taxes_included=True)
EXCL = dict(taxes_included=False)

CASES: list[Case] = [
    # ---------------------------------------------------------- tax-included shop, gross document
    Case(
        "incl-simple-25",
        order("#1001", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"),),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="249.00 × 25/125 = 49.80",
    ),
    Case(
        "incl-qty3-25",
        order(
            "#1002",
            total="297.00",
            total_tax="59.40",
            **INCL,
            lines=[line("MUG", "Mugg", 3, "99.00", taxes=(tax("0.25", "59.40"),))],
        ),
        True,
        rows=(("MUG", "99.00", "3", "0"),),
        total="297.00",
        vat="59.40",
        vat_by_rate={"25": "59.40"},
        why="3 × 99.00 = 297.00; 297.00 × 0.2 = 59.40",
    ),
    Case(
        "incl-food-12",
        order("#1003", total="178.00", total_tax="19.07", **INCL, lines=[coffee(2, t="19.07")]),
        True,
        rows=(("COFFEE-500", "89.00", "2", "0"),),
        total="178.00",
        vat="19.07",
        vat_by_rate={"12": "19.07"},
        why="178.00 × 12/112 = 19.071 → 19.07",
    ),
    Case(
        "incl-book-6",
        order("#1004", total="199.00", total_tax="11.26", lines=[book()], **INCL),
        True,
        rows=(("BOOK-1", "199.00", "1", "0"),),
        total="199.00",
        vat="11.26",
        vat_by_rate={"6": "11.26"},
        why="199.00 × 6/106 = 11.264 → 11.26",
    ),
    Case(
        "incl-export-0",
        order(
            "#1005",
            total="500.00",
            total_tax="0.00",
            country="NO",
            **INCL,
            lines=[line("EXPORT-1", "Export", 1, "500.00")],
        ),
        True,
        rows=(("EXPORT-1", "500.00", "1", "0"),),
        total="500.00",
        vat="0.00",
        vat_by_rate={"0": "0.00"},
        why="no Shopify tax line: 0 %, the one active 0 % Goods coding",
    ),
    Case(
        "incl-mixed-25-12-6",
        order("#1006", total="537.00", total_tax="70.60", lines=[tshirt(), coffee(), book()], **INCL),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("COFFEE-500", "89.00", "1", "0"), ("BOOK-1", "199.00", "1", "0")),
        total="537.00",
        vat="70.60",
        vat_by_rate={"25": "49.80", "12": "9.54", "6": "11.26"},
        why="89 × 12/112 = 9.536 → 9.54; 49.80 + 9.54 + 11.26 = 70.60",
    ),
    Case(
        "incl-shipping-25",
        order(
            "#1007",
            total="298.00",
            total_tax="59.60",
            lines=[tshirt()],
            **INCL,
            shipping=[ship("PostNord", "49.00", taxes=(tax("0.25", "9.80"),))],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("SHIPPING-25", "49.00", "1", "0")),
        total="298.00",
        vat="59.60",
        vat_by_rate={"25": "59.60"},
        why="298.00 × 0.2 = 59.60",
    ),
    Case(
        "incl-free-shipping",
        order(
            "#1008", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL, shipping=[ship("Fri frakt", "0.00")]
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"),),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="a shipping line of 0.00 without tax gets no row",
    ),
    Case(
        "incl-shipping-discount-100",
        order(
            "#1009",
            total="249.00",
            total_tax="49.80",
            lines=[tshirt()],
            **INCL,
            shipping=[ship("PostNord", "49.00", discounted="0.00", taxes=(tax("0.25", "0.00"),))],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("SHIPPING-25", "49.00", "1", "1")),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="free-shipping code: 49.00 at DiscountPercentage 1 (100 %): 49.00 × (1 − 1) = 0.00",
    ),
    Case(
        "incl-shipping-discount-part",
        order(
            "#1010",
            total="278.00",
            total_tax="55.60",
            lines=[tshirt()],
            **INCL,
            shipping=[ship("PostNord", "59.00", discounted="29.00", taxes=(tax("0.25", "5.80"),))],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("SHIPPING-25", "59.00", "1", "0.5085")),
        total="278.00",
        vat="55.60",
        vat_by_rate={"25": "55.60"},
        why="1 − 29/59 = 0.508474… → 0.5085; 59 × (1 − 0.5085) = 59 × 0.4915 = 28.9985 → 29.00; "
        "249 + 29 = 278; 278 × 0.2 = 55.60",
    ),
    Case(
        "incl-line-discount-20",
        order(
            "#1011",
            total="800.00",
            total_tax="160.00",
            **INCL,
            lines=[line("JACKET", "Jacka", 1, "1000.00", discount="200.00", taxes=(tax("0.25", "160.00"),))],
        ),
        True,
        rows=(("JACKET", "1000.00", "1", "0.2"),),
        total="800.00",
        vat="160.00",
        vat_by_rate={"25": "160.00"},
        why="200 off 1000: 1 − 800/1000 = 0.2 exactly; 1000 × 0.8 = 800.00; 800 × 0.2 = 160.00",
    ),
    Case(
        "incl-order-discount-mixed",
        order(
            "#1012",
            total="304.20",
            total_tax="53.40",
            **INCL,
            lines=[
                line("TSHIRT-M", "T-shirt - M", 1, "249.00", discount="24.90", taxes=(tax("0.25", "44.82"),)),
                coffee(discount="8.90", t="8.58"),
            ],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0.1"), ("COFFEE-500", "89.00", "1", "0.1")),
        total="304.20",
        vat="53.40",
        vat_by_rate={"25": "44.82", "12": "8.58"},
        why="10 % order discount allocated 24.90 / 8.90: 24.90/249 = 8.90/89 = 0.1 exactly; 249 × 0.9 = 224.10, "
        "89 × 0.9 = 80.10, each at its own rate: 224.10 × 0.2 = 44.82; 80.10 × 12/112 = 8.582 → 8.58",
    ),
    Case(
        "incl-discount-fraction-large-row",
        order(
            "#1055",
            total="219.00",
            total_tax="43.80",
            **INCL,
            lines=[line("TSHIRT-M", "T-shirt - M", 1, "249.00", discount="30.00", taxes=(tax("0.25", "43.80"),))],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0.1205"),),
        total="219.00",
        vat="43.80",
        vat_by_rate={"25": "43.80"},
        why="30 off 249: 1 − 219/249 = 0.120481… → 0.1205; 249 × 0.8795 = 218.9955 → 219.00 (a row above "
        "100.00 can still hit: the nearest step lands within half an öre); 219 × 0.2 = 43.80",
    ),
    Case(
        "incl-100pct-line",
        order(
            "#1013",
            total="249.00",
            total_tax="49.80",
            **INCL,
            lines=[tshirt(), line("SOCKS", "Strumpor", 1, "79.00", discount="79.00", taxes=(tax("0.25", "0.00"),))],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("SOCKS", "79.00", "1", "1")),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="socks free: DiscountPercentage 1 (100 %), 79.00 × (1 − 1) = 0.00",
    ),
    Case(
        "incl-zero-price-line",
        order("#1014", total="89.00", total_tax="9.54", **INCL, lines=[coffee(), line("SAMPLE", "Prov", 1, "0.00")]),
        True,
        rows=(("COFFEE-500", "89.00", "1", "0"), ("SAMPLE", "0.00", "1", "0")),
        total="89.00",
        vat="9.54",
        vat_by_rate={"12": "9.54"},
        why="a zero-price line without tax takes the order's usual rate (12 %) for its article",
    ),
    Case(
        "incl-qty3-indivisible-percent",
        order("#1015", total="287.00", total_tax="57.40", **INCL, lines=[mug_discounted()]),
        True,
        rows=(("MUG", "95.66", "1", "0"), ("MUG", "95.67", "2", "0")),
        total="287.00",
        vat="57.40",
        vat_by_rate={"25": "57.40"},
        note="no 4-decimal DiscountPercentage gives exactly 287.00",
        why="10.00 off 297.00: 1 − 287/297 = 0.033670… → 0.0337: 297 × 0.9663 = 286.9911 → 286.99; "
        "0.0336: 297 × 0.9664 = 287.0208 → 287.02; one step moves the row 297/10 000 = 0.0297, "
        "so no fraction hits 287.00. Reduced price instead (exact at 25 %, no rounding row): "
        "287.00/3 = 95.666…: 1 × 95.66 + 2 × 95.67 = 287.00; 287 × 0.2 = 57.40",
    ),
    Case(
        "incl-qty3-indivisible-price",
        order("#1016", total="287.00", total_tax="57.40", **INCL, lines=[mug_discounted()]),
        True,
        settings=MappingSettings(discount_mode="price"),
        rows=(("MUG", "95.66", "1", "0"), ("MUG", "95.67", "2", "0")),
        total="287.00",
        vat="57.40",
        vat_by_rate={"25": "57.40"},
        why="287.00 / 3 = 95.666…: 1 × 95.66 + 2 × 95.67 = 287.00",
    ),
    Case(
        "incl-qty3-discount-rows",
        order("#1017", total="287.00", total_tax="57.40", **INCL, lines=[mug_discounted()]),
        True,
        settings=MappingSettings(discount_mode="rows"),
        rows=(("MUG", "99.00", "3", "0"), ("MUG", "-10.00", "1", "0")),
        total="287.00",
        vat="57.40",
        vat_by_rate={"25": "57.40"},
        why="297.00 and a discount row −10.00 on the same article (same VAT rate)",
    ),
    Case(
        "incl-tip-line",
        order("#1018", total="269.00", total_tax="49.80", tip="20.00", **INCL, lines=[tshirt(), tip_line("20.00")]),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("TIP", "20.00", "1", "0")),
        total="269.00",
        vat="49.80",
        vat_by_rate={"25": "49.80", "0": "0.00"},
        why="tip: own article at 0 %",
    ),
    Case(
        "incl-tip-no-line",
        order("#1019", total="264.00", total_tax="49.80", tip="15.00", **INCL, lines=[tshirt()]),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("TIP", "15.00", "1", "0")),
        total="264.00",
        vat="49.80",
        vat_by_rate={"25": "49.80", "0": "0.00"},
        why="tip known only from totalTipReceivedSet: one tip row",
    ),
    Case(
        "incl-gift-card-sold",
        order(
            "#1020",
            total="749.00",
            total_tax="49.80",
            **INCL,
            lines=[
                tshirt(),
                line(None, "Presentkort 500 kr", 1, "500.00", gift_card=True, requires_shipping=False, taxable=False),
            ],
        ),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"), ("GIFTCARD", "500.00", "1", "0")),
        total="749.00",
        vat="49.80",
        vat_by_rate={"25": "49.80", "0": "0.00"},
        why="a sold gift card is a liability, booked on the GIFTCARD article at 0 %",
    ),
    Case(
        "incl-paid-by-gift-card",
        order("#1021", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL),
        True,
        rows=(("TSHIRT-M", "249.00", "1", "0"),),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="paid 200 by gift card + 49 by card: the invoice is the full 249.00, the gift card is a payment",
    ),
    # ---------------------------------------------------------- tax-included shop, net document (company customer)
    Case(
        "incl-to-net-simple",
        order("#1022", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL),
        False,
        rows=(("TSHIRT-M", "199.20", "1", "0"),),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="net = 249.00 − Shopify's 49.80 = 199.20; 199.20 × 0.25 = 49.80",
    ),
    Case(
        "incl-to-net-rounding-row",
        order("#1023", total="29.97", total_tax="6.00", lines=pens("9.99", "2.00"), **INCL),
        False,
        rows=(
            ("PEN-RED", "7.99", "1", "0"),
            ("PEN-BLUE", "7.99", "1", "0"),
            ("PEN-GREEN", "7.99", "1", "0"),
            ("ROUNDING", "0.01", "1", "0"),
        ),
        total="29.97",
        vat="5.99",
        vat_by_rate={"25": "5.99", "0": "0.00"},
        rounding="0.01",
        why="Shopify 3 × 2.00 tax; Visma 23.97 × 0.25 = 5.9925 → 5.99, total 29.96; rounding row +0.01",
    ),
    Case(
        "incl-to-net-discount",
        order(
            "#1024",
            total="800.00",
            total_tax="160.00",
            **INCL,
            lines=[line("JACKET", "Jacka", 1, "1000.00", discount="200.00", taxes=(tax("0.25", "160.00"),))],
        ),
        False,
        rows=(("JACKET", "800.00", "1", "0.2"),),
        total="800.00",
        vat="160.00",
        vat_by_rate={"25": "160.00"},
        why="list 1000/1.25 = 800.00; net 800 − 160 = 640; 1 − 640/800 = 0.2; 800 × 0.8 = 640.00; 640 × 0.25 = 160.00",
    ),
    Case(
        "incl-to-net-qty-indivisible",
        order("#1025", total="287.00", total_tax="57.40", **INCL, lines=[mug_discounted()]),
        False,
        rows=(("MUG", "76.53", "2", "0"), ("MUG", "76.54", "1", "0")),
        total="287.00",
        vat="57.40",
        vat_by_rate={"25": "57.40"},
        note="no 4-decimal DiscountPercentage gives exactly 229.60",
        why="net 287 − 57.40 = 229.60; list 99/1.25 = 79.20, 3 × 79.20 = 237.60; 1 − 229.60/237.60 = 0.033670… "
        "→ 0.0337: 237.60 × 0.9663 = 229.59288 → 229.59; 0.0336: 237.60 × 0.9664 = 229.61664 → 229.62; "
        "no fraction hits 229.60. Reduced price: 229.60/3 = 76.533…: 2 × 76.53 + 1 × 76.54 = 229.60; "
        "229.60 × 0.25 = 57.40; 229.60 + 57.40 = 287.00",
    ),
    Case(
        "incl-to-net-mixed-shipping",
        order(
            "#1026",
            total="387.00",
            total_tax="69.14",
            lines=[tshirt(), coffee()],
            shipping=[ship("PostNord", "49.00", taxes=(tax("0.25", "9.80"),))],
            **INCL,
        ),
        False,
        rows=(("TSHIRT-M", "199.20", "1", "0"), ("COFFEE-500", "79.46", "1", "0"), ("SHIPPING-25", "39.20", "1", "0")),
        total="387.00",
        vat="69.14",
        vat_by_rate={"25": "59.60", "12": "9.54"},
        why="25 %: 199.20 + 39.20 = 238.40 → 59.60; 12 %: 79.46 × 0.12 = 9.535 → 9.54; 317.86 + 69.14",
    ),
    # ---------------------------------------------------------- tax-excluded shop
    Case(
        "excl-simple",
        order(
            "#1027",
            total="250.00",
            total_tax="50.00",
            **EXCL,
            lines=[line("WIDGET", "Widget", 2, "100.00", taxes=(tax("0.25", "50.00"),))],
        ),
        False,
        rows=(("WIDGET", "100.00", "2", "0"),),
        total="250.00",
        vat="50.00",
        vat_by_rate={"25": "50.00"},
        why="200.00 net + 50.00",
    ),
    Case(
        "excl-mixed-rates",
        order(
            "#1028",
            total="373.60",
            total_tax="43.60",
            **EXCL,
            lines=[
                line("WIDGET", "Widget", 1, "100.00", taxes=(tax("0.25", "25.00"),)),
                coffee(unit="80.00", t="9.60"),
                line("BOOK-1", "Bok", 1, "150.00", taxes=(tax("0.06", "9.00"),)),
            ],
        ),
        False,
        rows=(("WIDGET", "100.00", "1", "0"), ("COFFEE-500", "80.00", "1", "0"), ("BOOK-1", "150.00", "1", "0")),
        total="373.60",
        vat="43.60",
        vat_by_rate={"25": "25.00", "12": "9.60", "6": "9.00"},
        why="330.00 net + 25.00 + 9.60 + 9.00",
    ),
    Case(
        "excl-to-gross",
        order(
            "#1029",
            total="250.00",
            total_tax="50.00",
            **EXCL,
            lines=[line("WIDGET", "Widget", 2, "100.00", taxes=(tax("0.25", "50.00"),))],
        ),
        True,
        rows=(("WIDGET", "125.00", "2", "0"),),
        total="250.00",
        vat="50.00",
        vat_by_rate={"25": "50.00"},
        why="gross = 200 + Shopify's 50 = 250 = 2 × 125.00; 250 × 0.2 = 50.00",
    ),
    Case(
        "excl-to-gross-12",
        order("#1030", total="111.99", total_tax="12.00", **EXCL, lines=[coffee(3, unit="33.33", t="12.00")]),
        True,
        rows=(("COFFEE-500", "37.33", "3", "0"),),
        total="111.99",
        vat="12.00",
        vat_by_rate={"12": "12.00"},
        why="99.99 + 12.00 = 111.99 = 3 × 37.33; 111.99 × 12/112 = 11.999 → 12.00",
    ),
    Case(
        "excl-to-gross-indivisible",
        order(
            "#1031",
            total="37.54",
            total_tax="7.51",
            **EXCL,
            lines=[line("WIDGET", "Widget", 3, "10.01", taxes=(tax("0.25", "7.51"),))],
        ),
        True,
        rows=(("WIDGET", "12.51", "2", "0"), ("WIDGET", "12.52", "1", "0")),
        total="37.54",
        vat="7.51",
        vat_by_rate={"25": "7.51"},
        why="30.03 + 7.51 = 37.54 for 3: 2 × 12.51 + 1 × 12.52; 37.54 × 0.2 = 7.508 → 7.51",
    ),
    Case(
        "excl-shipping-discount",
        order(
            "#1032",
            total="156.25",
            total_tax="31.25",
            **EXCL,
            lines=[line("WIDGET", "Widget", 1, "100.00", taxes=(tax("0.25", "25.00"),))],
            shipping=[ship("DHL", "50.00", discounted="25.00", taxes=(tax("0.25", "6.25"),))],
        ),
        False,
        rows=(("WIDGET", "100.00", "1", "0"), ("SHIPPING-25", "50.00", "1", "0.5")),
        total="156.25",
        vat="31.25",
        vat_by_rate={"25": "31.25"},
        why="shipping 50 → 25: 1 − 25/50 = 0.5; 50 × 0.5 = 25.00; 125.00 net × 0.25 = 31.25",
    ),
    Case(
        "excl-order-discount",
        order(
            "#1033",
            total="168.75",
            total_tax="33.75",
            **EXCL,
            lines=[
                line("WIDGET", "Widget", 1, "100.00", discount="10.00", taxes=(tax("0.25", "22.50"),)),
                line("GADGET", "Gadget", 1, "50.00", discount="5.00", taxes=(tax("0.25", "11.25"),)),
            ],
        ),
        False,
        rows=(("WIDGET", "100.00", "1", "0.1"), ("GADGET", "50.00", "1", "0.1")),
        total="168.75",
        vat="33.75",
        vat_by_rate={"25": "33.75"},
        why="10/100 = 5/50 = 0.1: 90.00 + 45.00 = 135.00; 135.00 × 0.25 = 33.75",
    ),
    Case(
        "excl-indivisible-allocation",
        order(
            "#1034",
            total="175.00",
            total_tax="35.00",
            **EXCL,
            lines=[line("GADGET", "Gadget", 3, "50.00", discount="10.00", taxes=(tax("0.25", "35.00"),))],
        ),
        False,
        rows=(("GADGET", "50.00", "3", "0.0667"),),
        total="175.00",
        vat="35.00",
        vat_by_rate={"25": "35.00"},
        why="10 off 150: 1 − 140/150 = 0.066666… → 0.0667; 150 × 0.9333 = 139.995 → 140.00 (half up); "
        "140 × 0.25 = 35.00; 140 + 35 = 175.00",
    ),
    Case(
        "excl-per-line-tax-rounding",
        order("#1035", total="3.69", total_tax="0.75", lines=pens("0.98", "0.25"), **EXCL),
        False,
        rows=(
            ("PEN-RED", "0.98", "1", "0"),
            ("PEN-BLUE", "0.98", "1", "0"),
            ("PEN-GREEN", "0.98", "1", "0"),
            ("ROUNDING", "0.01", "1", "0"),
        ),
        total="3.69",
        vat="0.74",
        vat_by_rate={"25": "0.74", "0": "0.00"},
        rounding="0.01",
        why="Shopify 3 × 0.245 → 0.25 = 0.75; Visma 2.94 × 0.25 = 0.735 → 0.74; +0.01 rounding row",
    ),
    Case(
        "excl-tip-and-gift-card",
        order(
            "#1036",
            total="335.00",
            total_tax="25.00",
            tip="10.00",
            **EXCL,
            lines=[
                line("WIDGET", "Widget", 1, "100.00", taxes=(tax("0.25", "25.00"),)),
                line("", "Presentkort 200 kr", 1, "200.00", gift_card=True, requires_shipping=False, taxable=False),
                tip_line("10.00"),
            ],
        ),
        False,
        rows=(("WIDGET", "100.00", "1", "0"), ("GIFTCARD", "200.00", "1", "0"), ("TIP", "10.00", "1", "0")),
        total="335.00",
        vat="25.00",
        vat_by_rate={"25": "25.00", "0": "0.00"},
        why="310 net + 25.00 VAT",
    ),
    Case(
        "excl-export-zero",
        order(
            "#1037",
            total="300.00",
            total_tax="0.00",
            country="NO",
            **EXCL,
            lines=[line("WIDGET", "Widget", 2, "100.00")],
            shipping=[ship("DHL", "100.00")],
        ),
        False,
        rows=(("WIDGET", "100.00", "2", "0"), ("SHIPPING-0", "100.00", "1", "0")),
        total="300.00",
        vat="0.00",
        vat_by_rate={"0": "0.00"},
        why="no tax lines: 0 % for goods and shipping",
    ),
    # ---------------------------------------------------------- currency
    Case(
        "foreign-eur-gross",
        order(
            "#1038",
            total="24.90",
            total_tax="4.98",
            currency="EUR",
            fx="10",
            country="DE",
            lines=[line("TSHIRT-M", "T-shirt - M", 1, "24.90", taxes=(tax("0.25", "4.98"),))],
            **INCL,
        ),
        True,
        is_foreign=True,
        rows=(("TSHIRT-M", "24.90", "1", "0"),),
        total="24.90",
        vat="4.98",
        vat_by_rate={"25": "4.98"},
        why="invoiced in EUR, the presentment currency",
    ),
    Case(
        "foreign-eur-4-decimals",
        order(
            "#1039",
            total="9.99",
            total_tax="2.00",
            currency="EUR",
            fx="10",
            country="DE",
            **INCL,
            lines=[line("CANDLE", "Ljus", 3, "3.33", taxes=(tax("0.25", "2.00"),))],
        ),
        False,
        is_foreign=True,
        rows=(("CANDLE", "2.6633", "3", "0"),),
        total="9.99",
        vat="2.00",
        vat_by_rate={"25": "2.00"},
        why="net 7.99 / 3 = 2.6633 (4 decimals, foreign); 7.9899 → 7.99; 7.99 × 0.25 = 1.9975 → 2.00",
    ),
    Case(
        "shop-currency",
        order(
            "#1040",
            money="shopMoney",
            total="24.90",
            total_tax="4.98",
            currency="EUR",
            fx="10",
            lines=[line("TSHIRT-M", "T-shirt - M", 1, "24.90", taxes=(tax("0.25", "4.98"),))],
            **INCL,
        ),
        True,
        settings=MappingSettings(currency="shop"),
        rows=(("TSHIRT-M", "249.00", "1", "0"),),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="[mapping] currency = 'shop': the shop side of every amount, in SEK",
    ),
    Case(
        "config-coding-override",
        order("#1041", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL),
        True,
        settings=MappingSettings(vat_codings={"25": "s25"}),
        rows=(("TSHIRT-M", "249.00", "1", "0"),),
        total="249.00",
        vat="49.80",
        vat_by_rate={"25": "49.80"},
        why="vat_codings maps 25 % to the service coding",
    ),
    # ---------------------------------------------------------- refunds (credit invoice drafts)
    Case(
        "refund-one-of-two-incl",
        order(
            "#1042",
            total="547.00",
            total_tax="109.40",
            **INCL,
            lines=[line("TSHIRT-M", "T-shirt - M", 2, "249.00", taxes=(tax("0.25", "99.60"),), id="L42")],
            shipping=[ship("PostNord", "49.00", taxes=(tax("0.25", "9.80"),))],
            refunds=[refund("249.00", lines=(("L42", 1, "249.00", "49.80"),))],
        ),
        True,
        refund=1,
        rows=(("TSHIRT-M", "249.00", "-1", "0"),),
        total="-249.00",
        vat="-49.80",
        vat_by_rate={"25": "-49.80"},
        why="one T-shirt back: quantity −1 at 249.00",
    ),
    Case(
        "refund-with-shipping-excl",
        order(
            "#1043",
            total="312.50",
            total_tax="62.50",
            **EXCL,
            lines=[line("WIDGET", "Widget", 2, "100.00", taxes=(tax("0.25", "50.00"),), id="L43")],
            shipping=[ship("DHL", "50.00", taxes=(tax("0.25", "12.50"),))],
            refunds=[
                refund("1.00", lines=()),
                refund("187.50", lines=(("L43", 1, "100.00", "25.00"),), shipping=(("50.00", "12.50"),)),
            ],
        ),
        False,
        refund=2,
        rows=(("WIDGET", "100.00", "-1", "0"), ("SHIPPING-25", "50.00", "-1", "0")),
        total="-187.50",
        vat="-37.50",
        vat_by_rate={"25": "-37.50"},
        why="−150.00 net × 0.25 = −37.50",
    ),
    Case(
        "refund-discounted-split",
        order(
            "#1044",
            total="287.00",
            total_tax="57.40",
            **INCL,
            lines=[mug_discounted(id="L44")],
            refunds=[refund("191.33", lines=(("L44", 2, "191.33", "38.27"),))],
        ),
        True,
        refund=1,
        rows=(("MUG", "95.66", "-1", "0"), ("MUG", "95.67", "-1", "0")),
        total="-191.33",
        vat="-38.27",
        vat_by_rate={"25": "-38.27"},
        why="2 of 3 discounted mugs = 191.33: 95.66 + 95.67; −191.33 × 0.2 = −38.266 → −38.27",
    ),
    Case(
        "refund-amount-only",
        order("#1045", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL, refunds=[refund("50.00")]),
        True,
        refund=1,
        error="names no refunded lines",
        error_field="refunds",
    ),
    # ---------------------------------------------------------- refusals
    Case(
        "refuse-no-email",
        order("#1046", email=None, total="249.00", total_tax="49.80", lines=[tshirt()], **INCL),
        True,
        error="no e-mail",
        error_field="email",
    ),
    Case(
        "refuse-empty-sku",
        order(
            "#1047",
            total="100.00",
            total_tax="20.00",
            **INCL,
            lines=[line("", "Handgjord skål", 1, "100.00", taxes=(tax("0.25", "20.00"),))],
        ),
        True,
        error="has no SKU",
        error_field="sku",
    ),
    Case(
        "refuse-sku-too-long",
        order(
            "#1048",
            total="100.00",
            total_tax="20.00",
            **INCL,
            lines=[line("X" * 41, "Lång", 1, "100.00", taxes=(tax("0.25", "20.00"),))],
        ),
        True,
        error="longer than Visma's 40",
        error_field="sku",
    ),
    Case(
        "refuse-unmapped-14",
        order(
            "#1049",
            total="114.00",
            total_tax="14.00",
            **EXCL,
            lines=[line("FOOD-NO", "Mat", 1, "100.00", taxes=(tax("0.14", "14.00"),))],
        ),
        False,
        error="taxed at 14 %",
        error_field="vat_codings",
    ),
    Case(
        "refuse-ambiguous-zero",
        order(
            "#1050",
            total="500.00",
            total_tax="0.00",
            country="NO",
            **INCL,
            lines=[line("EXPORT-1", "Export", 1, "500.00")],
        ),
        True,
        company=COMPANY_TWO_ZERO,
        error="several active Goods codings have 0 %",
        error_field="vat_codings",
    ),
    Case(
        "refuse-override-wrong-rate",
        order("#1051", total="249.00", total_tax="49.80", lines=[tshirt()], **INCL),
        True,
        settings=MappingSettings(vat_codings={"25": "c12"}),
        error="which has 12 % VAT",
        error_field="vat_codings",
    ),
    Case(
        "refuse-lines-incomplete",
        order("#1052", total="249.00", total_tax="49.80", lines=[tshirt()], lines_more=True, **INCL),
        True,
        error="not all line items",
        error_field="lines",
    ),
    Case(
        "refuse-total-mismatch",
        order("#1053", total="300.00", total_tax="49.80", lines=[tshirt()], **INCL),
        True,
        error="a difference of 51.00",
        error_field="total",
    ),
    Case(
        "refuse-two-taxes",
        order(
            "#1054",
            total="112.00",
            total_tax="12.00",
            **EXCL,
            lines=[line("MAPLE", "Lönnsirap", 1, "100.00", taxes=(tax("0.05", "5.00"), tax("0.07", "7.00")))],
        ),
        False,
        error="several taxes",
        error_field="tax_lines",
    ),
]

assert len({c.name for c in CASES}) == len(CASES)
