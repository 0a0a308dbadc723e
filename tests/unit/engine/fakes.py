"""In-memory doubles of both APIs for the engine's unit tests (no HTTP, no emulator).

FakeVisma implements engine.ports.VismaApi: it keeps Visma's objects in dicts, answers
`$filter` lookups (or refuses them, as Visma does off its whitelist), computes a
document's totals by the Visma totals rule, and can lose the answer to a create (the
object is made, the caller is told nothing), which is the case exactly-once hinges on.
"""

from __future__ import annotations

import itertools
import re
from collections import Counter
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

from shopvisma.engine.ports import ShopifyApi, VismaApi
from shopvisma.sandbox.visma.model import row_amount, totals
from shopvisma.visma.errors import AmbiguousWriteError, VismaError, VismaValidationError

_EQ = re.compile(r"(\w+) eq '((?:[^']|'')*)'")
GOODS_25 = "coding-25"
GOODS_0 = "coding-0"
DOCUMENT_PATHS = ("customerinvoicedrafts", "customerinvoices", "orders")


def _norm(value: Any) -> str:
    return str(value or "").strip().lower()


class FakeVisma:
    """A Visma company in memory. `refuse` names the (endpoint, property) pairs whose
    `$filter` is answered 400; `lose_next` the endpoints whose next POST is made but
    answered with a lost connection."""

    def __init__(self, *, refuse: set[tuple[str, str]] | None = None) -> None:
        self.requests: Counter[tuple[str, str]] = Counter()
        self.write_count = 0
        self.refuse = refuse or set()
        self.lose_next: set[str] = set()
        self.ids = itertools.count(1)
        self.company = {
            "CountryCode": "SE",
            "CurrencyCode": "SEK",
            "ShowPricesExclVatPC": False,
            "TermsOfPaymentId": "top-30",
        }
        self.tables: dict[str, dict[str, dict[str, Any]]] = {
            "articleaccountcodings": {
                GOODS_25: {
                    "Id": GOODS_25,
                    "Name": "Varor 25%",
                    "Type": "Goods",
                    "VatRate": "25%",
                    "VatRatePercent": 0.25,
                    "IsActive": True,
                },
                GOODS_0: {
                    "Id": GOODS_0,
                    "Name": "Varor 0%",
                    "Type": "Goods",
                    "VatRate": "0%",
                    "VatRatePercent": 0,
                    "IsActive": True,
                },
            },
            "units": {"unit-st": {"Id": "unit-st", "Code": "st", "Name": "Styck"}},
            "customers": {},
            "articles": {},
            **{p: {} for p in DOCUMENT_PATHS},
        }
        self.filters: list[tuple[str, str | None]] = []  # every list call: (endpoint, $filter or None)

    # -- VismaApi ------------------------------------------------------------------------

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any:
        method = method.upper()
        endpoint, _, record_id = path.partition("/")
        self.requests[(method, endpoint)] += 1
        if method != "GET":
            self.write_count += 1
        if method == "GET":
            return self._get(endpoint, record_id, params or {})
        if method == "POST":
            return self._create(endpoint, body)
        if method == "PUT":
            return self._store(endpoint, {**body, "Id": record_id})
        if method == "DELETE":
            self.tables[endpoint].pop(record_id, None)
            return {}
        raise AssertionError(method)

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        doc = self.request("POST", path, params=params, body=body)
        if path in self.lose_next:
            self.lose_next.discard(path)
            raise AmbiguousWriteError(f"Visma POST /{path}: the connection dropped", method="POST", path=path)
        return doc

    def put(self, path: str, body: Any) -> dict[str, Any]:
        return self.request("PUT", path, body=body)

    def iter_list(
        self, path: str, *, filter: str | None = None, orderby: str | None = None, pagesize: int = 1000
    ) -> Iterator[dict[str, Any]]:
        params: dict[str, Any] = {"$filter": filter} if filter else {}
        return iter(self.get(path, params)["Data"])

    # -- the company ---------------------------------------------------------------------

    def documents(self) -> list[dict[str, Any]]:
        return [d for p in DOCUMENT_PATHS for d in self.tables[p].values()]

    def writes(self) -> int:
        return self.write_count

    def _get(self, endpoint: str, record_id: str, params: dict[str, Any]) -> Any:
        if endpoint == "companysettings":
            return dict(self.company)
        table = self.tables[endpoint]
        if record_id:
            if record_id not in table:
                raise VismaError(f"Visma GET /{endpoint}/{record_id}: 404", status=404)
            return dict(table[record_id])
        flt = params.get("$filter")
        self.filters.append((endpoint, flt))
        rows = list(table.values())
        if flt:
            clauses = _EQ.findall(flt)
            if any((endpoint, prop) in self.refuse for prop, _ in clauses):
                raise VismaValidationError(f"Visma GET /{endpoint}: $filter not allowed", status=400, error_code=2000)
            # Looser than asked (a case-insensitive collation): the engine must match again.
            wanted = {(prop, _norm(v.replace("''", "'"))) for prop, v in clauses}
            rows = [r for r in rows if any((prop, _norm(r.get(prop))) in wanted for prop, _ in clauses)]
        return {"Meta": {"TotalNumberOfPages": 1, "TotalNumberOfResults": len(rows)}, "Data": [dict(r) for r in rows]}

    def _create(self, endpoint: str, body: dict[str, Any]) -> dict[str, Any]:
        return self._store(endpoint, {**body, "Id": f"{endpoint}-{next(self.ids)}"})

    def _store(self, endpoint: str, record: dict[str, Any]) -> dict[str, Any]:
        if endpoint in DOCUMENT_PATHS:
            record = self._with_totals(record)
        self.tables[endpoint][record["Id"]] = record
        return dict(record)

    def _with_totals(self, doc: dict[str, Any]) -> dict[str, Any]:
        """Visma's totals rule: IncludesVat from the customer and the company, VAT per rate."""
        customer = self.tables["customers"].get(doc.get("CustomerId", ""), {})
        includes = bool(customer.get("IsPrivatePerson", True)) and not self.company["ShowPricesExclVatPC"]
        rows = []
        for row in doc.get("Rows") or []:
            article = self.tables["articles"][row["ArticleId"]]
            rate = Decimal(str(self.tables["articleaccountcodings"][article["CodingId"]]["VatRatePercent"]))
            amount = row_amount(
                Decimal(str(row["UnitPrice"])),
                Decimal(str(row["Quantity"])),
                Decimal(str(row.get("DiscountPercentage") or 0)),
            )
            rows.append((amount, rate * 100))
        t = totals(rows, includes)
        return {**doc, "IncludesVat": includes, "TotalAmount": t.amount, "TotalVatAmount": t.vat}


class FakeShopify:
    """Shopify's order search over a fixed list of order nodes, counting requests."""

    def __init__(self, nodes: list[dict[str, Any]]) -> None:
        self.nodes = nodes
        self.requests = 0
        self.searches: list[str] = []

    def iter_orders(
        self,
        search: str,
        *,
        page_size: int | None = None,
        lines: int = 10,
        want_refunds: Callable[[dict[str, Any]], bool] | None = None,
        bulk: bool = False,
    ) -> Iterator[dict[str, Any]]:
        self.requests += 1
        self.searches.append(search)
        names = set(re.findall(r"name:'((?:[^']|'')*)'", search))
        for node in sorted(self.nodes, key=lambda n: n["updatedAt"]):
            if not names or node["name"] in names:
                yield node


def _money(amount: str) -> dict[str, Any]:
    return {
        "shopMoney": {"amount": amount, "currencyCode": "SEK"},
        "presentmentMoney": {"amount": amount, "currencyCode": "SEK"},
    }


def order_node(
    number: int, *, price: str = "125.00", quantity: int = 1, sku: str = "MUG", email: str | None = None, **extra: Any
) -> dict[str, Any]:
    """A paid Swedish order of one 25 % line, prices including VAT, in the shape the
    product's GraphQL query returns."""
    total = Decimal(price) * quantity
    tax = (total * Decimal("0.2")).quantize(Decimal("0.01"))
    node: dict[str, Any] = {
        "id": f"gid://shopify/Order/{number}",
        "name": f"#{number}",
        "email": email or f"buyer{number}@example.se",
        "createdAt": "2026-03-01T10:00:00Z",
        "updatedAt": f"2026-03-01T10:{number % 60:02d}:00Z",
        "cancelledAt": None,
        "test": False,
        "displayFinancialStatus": "PAID",
        "displayFulfillmentStatus": "FULFILLED",
        "tags": [],
        "currencyCode": "SEK",
        "presentmentCurrencyCode": "SEK",
        "taxesIncluded": True,
        "totalPriceSet": _money(f"{total:.2f}"),
        "totalTaxSet": _money(f"{tax:.2f}"),
        "subtotalPriceSet": _money(f"{total:.2f}"),
        "totalDiscountsSet": _money("0.00"),
        "totalShippingPriceSet": _money("0.00"),
        "totalTipReceivedSet": _money("0.00"),
        "totalRefundedSet": _money("0.00"),
        "customer": {"displayName": f"Buyer {number}"},
        "billingAddress": {
            "name": f"Buyer {number}",
            "address1": "Storgatan 1",
            "city": "Stockholm",
            "zip": "111 22",
            "countryCodeV2": "SE",
        },
        "lineItems": {
            "nodes": [
                {
                    "id": f"gid://shopify/LineItem/{number}1",
                    "sku": sku,
                    "name": "Mugg",
                    "title": "Mugg",
                    "quantity": quantity,
                    "taxable": True,
                    "isGiftCard": False,
                    "requiresShipping": False,
                    "originalUnitPriceSet": _money(price),
                    "discountAllocations": [],
                    "taxLines": [{"rate": 0.25, "priceSet": _money(f"{tax:.2f}"), "title": "Moms"}],
                }
            ],
            "pageInfo": {"hasNextPage": False},
        },
        "shippingLines": {"nodes": []},
        "refunds": [],
    }
    node.update(extra)
    return node


def typed(visma: FakeVisma, shopify: FakeShopify) -> tuple[VismaApi, ShopifyApi]:
    """The doubles as the engine sees them: a type checker verifies they fit the ports."""
    return visma, shopify
