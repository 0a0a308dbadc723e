"""What the engine needs of each API client, as Protocols.

The pass, the lookups and the transfers are written against these and not against
VismaClient / ShopifyClient, so they can be unit-tested with an in-memory fake (no
HTTP) and a type checker says when a client stops offering what the pass relies on.
Import them under TYPE_CHECKING only: the pass must not pay for typing at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from typing import Any, Protocol


class VismaApi(Protocol):
    """The Visma eAccounting v2 client as the engine uses it."""

    @property
    def requests(self) -> Mapping[tuple[str, str], int]:
        """Requests made, per (method, endpoint): the pass reports their sum."""
        ...

    @property
    def write_count(self) -> int:
        """Writes made (POST, PUT, DELETE): how "a second sync makes zero writes" is proved."""
        ...

    def request(self, method: str, path: str, *, params: dict[str, Any] | None = None, body: Any = None) -> Any: ...

    def get(self, path: str, params: dict[str, Any] | None = None) -> Any: ...

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> dict[str, Any]: ...

    def put(self, path: str, body: Any) -> dict[str, Any]: ...

    def iter_list(
        self, path: str, *, filter: str | None = None, orderby: str | None = None, pagesize: int = 1000
    ) -> Iterator[dict[str, Any]]: ...


class ShopifyApi(Protocol):
    """The Shopify Admin GraphQL client as the engine uses it."""

    @property
    def requests(self) -> int: ...

    def iter_orders(
        self,
        search: str,
        *,
        page_size: int | None = None,
        lines: int = 10,
        want_refunds: Callable[[dict[str, Any]], bool] | None = None,
        bulk: bool = False,
    ) -> Iterator[dict[str, Any]]: ...
