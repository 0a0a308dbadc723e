"""workflow = "order" after the create (engine/orders.py), against both sandboxes: a Visma sales
order moved on to Shipped once Shopify fulfils it (once, never backwards), and converted into a
booked invoice when fulfilled or at once, exactly once, also across a crash right after the convert.

The orders are created by a real `sync`; the follow-ups are called directly, with a VismaRecords
view and the product's own VismaClient against the sandbox, as the pass calls them."""

from __future__ import annotations

import dataclasses
from decimal import Decimal
from typing import Any

import pytest

from shopvisma.config.settings import load_settings
from shopvisma.engine.orders import (
    INVOICED,
    ONGOING,
    SHIPPED,
    convert_order,
    follow_up,
    follow_up_due,
    move_on,
    remember,
)
from shopvisma.engine.outcomes import OrderOutcome
from shopvisma.engine.records import VismaRecords
from shopvisma.engine.references import document_kinds
from shopvisma.shopify.order import Order, parse_order
from support.sandboxes import paid


def _order_world(world, order_status: str, n: int, seed: int) -> list[dict[str, Any]]:
    """`n` unfulfilled paid orders, transferred by `sync` as Visma sales orders."""
    world.write_config()
    text = world.config.read_text().replace(
        'workflow = "invoice-draft"', f'workflow = "order"\norder_status = "{order_status}"'
    )
    world.set_config(text)
    stored = []
    for o in paid(n, seed=seed):
        stored.append(world.shop.add_order({**o, "displayFulfillmentStatus": "UNFULFILLED"}))
    code, doc = world.sync_json()
    assert code == 0, doc
    assert len(world.visma.orders) == n
    return stored


def _settings(world, **visma: Any):
    settings = load_settings(world.config)
    return dataclasses.replace(settings, visma=dataclasses.replace(settings.visma, **visma))


def _client(settings):
    from shopvisma.commands.common import open_services

    return open_services(settings, settings.state_dir / "checkpoint.json").visma


def _view(settings, client=None) -> VismaRecords:
    return VismaRecords(client or _client(settings), settings)


def _fulfil(world, stored: dict[str, Any]) -> Order:
    node = world.shop.update_order(stored["id"], displayFulfillmentStatus="FULFILLED")
    return parse_order(node)


def _order(world, stored: dict[str, Any]) -> Order:
    return parse_order(world.shop.orders[stored["id"]])


def _found(view: VismaRecords, order: Order) -> dict[str, Any]:
    view.lookup_documents([order.name], document_kinds(view.settings.visma.workflow))
    return view.documents[order.name]


def _visma_order(world, order: Order) -> dict[str, Any]:
    return next(o for o in world.visma.orders.values() if o["YourReference"] == order.name)


def _invoices_for(world, order: Order) -> list[dict[str, Any]]:
    return [i for i in world.visma.invoices.values() if i.get("YourReference") == order.name]


# ------------------------------------------------------------------ move on


def test_a_fulfilled_order_is_moved_on_to_shipped_once(world) -> None:
    first, second = _order_world(world, "fulfillment", 2, seed=31)
    assert sorted(o["Status"] for o in world.visma.orders.values()) == [ONGOING, ONGOING]
    settings = _settings(world)
    fulfilled, waiting = _fulfil(world, first), _order(world, second)
    before = dict(_visma_order(world, fulfilled))

    view = _view(settings)
    outcome = OrderOutcome(fulfilled.name, "exists")
    writes = world.visma.writes()
    assert move_on(view, fulfilled, _found(view, fulfilled), settings, outcome) is True
    assert world.visma.writes() == writes + 1  # one PUT
    after = _visma_order(world, fulfilled)
    assert after["Status"] == SHIPPED
    # the PUT sent the whole order back: same rows, same totals, same reference
    assert len(after["Rows"]) == len(before["Rows"]) and after["Amount"] == before["Amount"]
    assert after["YourReference"] == before["YourReference"] and after["Number"] == before["Number"]
    assert outcome.kind == "order" and outcome.document_id == before["Id"]
    done = {"document_id": before["Id"], "kind": "order"}
    assert follow_up_due(fulfilled, done, settings)
    remember(done, fulfilled, settings, outcome, _found(view, fulfilled))
    assert done["status"] == SHIPPED
    assert not follow_up_due(fulfilled, done, settings)  # the next pass skips it without a request

    writes = world.visma.writes()
    again = _view(settings)  # a later pass (or a lost checkpoint): Visma says it is Shipped already
    assert (
        move_on(again, fulfilled, _found(again, fulfilled), settings, OrderOutcome(fulfilled.name, "exists")) is False
    )
    assert move_on(again, waiting, _found(again, waiting), settings, OrderOutcome(waiting.name, "exists")) is False
    assert world.visma.writes() == writes
    assert _visma_order(world, waiting)["Status"] == ONGOING
    assert len(world.visma.orders) == 2 and not world.visma.invoices


def test_move_on_only_with_order_status_fulfillment(world) -> None:
    (stored,) = _order_world(world, "ongoing", 1, seed=32)
    settings = _settings(world)
    order = _fulfil(world, stored)
    view = _view(settings)
    writes = world.visma.writes()
    assert move_on(view, order, _found(view, order), settings, OrderOutcome(order.name, "exists")) is False
    assert world.visma.writes() == writes and _visma_order(world, order)["Status"] == ONGOING


def test_never_backwards_nor_on_a_converted_order(world) -> None:
    shipped, converted, drafted = _order_world(world, "fulfillment", 3, seed=33)
    settings = _settings(world)
    orders = [_fulfil(world, s) for s in (shipped, converted, drafted)]
    # What people did in Visma meanwhile: one marked Shipped already, one converted into an
    # invoice (Invoiced, 4), one set back to Draft ("not ready yet").
    _visma_order(world, orders[0])["Status"] = SHIPPED
    from shopvisma.sandbox.visma.invoicing import convert_order as sandbox_convert

    with world.visma._lock:
        sandbox_convert(world.visma._state, _visma_order(world, orders[1])["Id"], None, 0.0)
    _visma_order(world, orders[2])["Status"] = 1

    writes = world.visma.writes()
    view = _view(settings)
    for order in orders:
        assert move_on(view, order, _found(view, order), settings, OrderOutcome(order.name, "exists")) is False
    assert world.visma.writes() == writes
    assert [_visma_order(world, o)["Status"] for o in orders] == [SHIPPED, INVOICED, 1]
    # what a person chose is remembered once seen: the next passes do not ask again
    for order in orders:
        done = {"document_id": "", "kind": "order"}
        remember(done, order, settings, OrderOutcome(order.name, "exists"), _found(view, order))
        assert not follow_up_due(order, done, settings)
    # the pass may hand over the converted order's invoice itself: never a sales-order write
    invoice = {**_invoices_for(world, orders[1])[0], "_kind": "invoice"}
    assert move_on(view, orders[1], invoice, settings, OrderOutcome(orders[1].name, "exists")) is False
    assert world.visma.writes() == writes


# ------------------------------------------------------------------ convert


def test_convert_when_fulfilled_books_one_invoice_once(world) -> None:
    (stored,) = _order_world(world, "ongoing", 1, seed=34)
    settings = _settings(world, convert_orders="when-fulfilled")
    assert settings.visma.books_invoices
    unfulfilled = _order(world, stored)
    view = _view(settings)
    writes = world.visma.writes()
    assert convert_order(view, unfulfilled, _found(view, unfulfilled), settings, OrderOutcome("x", "exists")) == {}
    assert world.visma.writes() == writes and not world.visma.invoices
    done = {"document_id": "", "kind": "order"}
    assert not follow_up_due(unfulfilled, done, settings)

    order = _fulfil(world, stored)
    assert follow_up_due(order, done, settings)
    view = _view(settings)
    outcome = OrderOutcome(order.name, "exists")
    writes = world.visma.writes()
    invoice = convert_order(view, order, _found(view, order), settings, outcome)
    assert world.visma.writes() == writes + 1  # one POST .../convert
    (booked,) = _invoices_for(world, order)
    assert invoice["Id"] == booked["Id"] and booked["CreatedFromOrderId"] == _visma_order(world, order)["Id"]
    assert outcome.kind == "invoice" and outcome.booked and outcome.document_id == booked["Id"]
    assert outcome.document_number == str(booked["InvoiceNumber"])
    assert _visma_order(world, order)["Status"] == INVOICED
    remember(done, order, settings, outcome, {})
    assert (
        done["kind"] == "invoice" and done["document_id"] == booked["Id"] and not follow_up_due(order, done, settings)
    )

    writes = world.visma.writes()
    again = _view(settings)
    outcome = OrderOutcome(order.name, "exists")
    assert convert_order(again, order, _found(again, order), settings, outcome)["Id"] == booked["Id"]
    assert outcome.kind == "invoice" and not outcome.booked  # found, not booked in this pass
    assert world.visma.writes() == writes and len(_invoices_for(world, order)) == 1


def test_convert_at_once_books_an_unfulfilled_order(world) -> None:
    first, second = _order_world(world, "draft", 2, seed=35)
    settings = _settings(world, convert_orders="at-once")
    view = _view(settings)
    for stored in (first, second):
        order = _order(world, stored)
        assert order.fulfillment_status == "unfulfilled"
        outcome = OrderOutcome(order.name, "created")
        # as the pass calls it right after creating the order: no lookup needed before the convert
        fresh = dict(_visma_order(world, order)) if stored is second else _found(view, order)
        invoice = convert_order(view, order, fresh, settings, outcome, fresh=stored is second)
        assert invoice and outcome.booked and outcome.kind == "invoice"
        assert len(_invoices_for(world, order)) == 1
    assert all(o["Status"] == INVOICED for o in world.visma.orders.values())
    assert len(world.visma.invoices) == 2


def test_an_order_invoiced_without_a_findable_invoice_is_never_converted_again(world) -> None:
    (stored,) = _order_world(world, "ongoing", 1, seed=36)
    settings = _settings(world, convert_orders="at-once")
    order = _order(world, stored)
    view = _view(settings)
    convert_order(view, order, _found(view, order), settings, OrderOutcome(order.name, "exists"))
    (invoice,) = _invoices_for(world, order)
    invoice["YourReference"] = "changed by a person"
    writes = world.visma.writes()
    again = _view(settings)
    outcome = OrderOutcome(order.name, "exists")
    assert convert_order(again, order, _found(again, order), settings, outcome) == {}
    assert world.visma.writes() == writes and len(world.visma.invoices) == 1
    assert "Invoiced" in outcome.reason and not outcome.booked


class _Crash(Exception):
    pass


class _CrashAfterConvert:
    """The product's client, dying right after Visma has made the invoice (the process killed
    between the convert and the checkpoint save)."""

    def __init__(self, client: Any) -> None:
        self._client = client

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)

    def post(self, path: str, body: Any, params: dict[str, Any] | None = None) -> dict[str, Any]:
        answer = self._client.post(path, body, params)
        if path.endswith("/convert"):
            raise _Crash(path)
        return answer


def test_a_crash_right_after_the_convert_then_a_rerun_finds_the_invoice(world) -> None:
    (stored,) = _order_world(world, "fulfillment", 1, seed=37)
    settings = _settings(world, convert_orders="when-fulfilled")
    order = _fulfil(world, stored)
    client = _client(settings)
    crashing = _view(settings, _CrashAfterConvert(client))
    writes = world.visma.writes()
    with pytest.raises(_Crash):
        move_on(crashing, order, doc := _found(crashing, order), settings, OrderOutcome(order.name, "exists"))
        convert_order(crashing, order, doc, settings, OrderOutcome(order.name, "exists"))
    assert len(_invoices_for(world, order)) == 1 and _visma_order(world, order)["Status"] == INVOICED
    assert world.visma.writes() == writes + 2  # the PUT to Shipped, then the convert

    writes = world.visma.writes()
    rerun = _view(settings, client)  # the next pass, with nothing of the crashed one remembered
    doc = _found(rerun, order)
    outcome = OrderOutcome(order.name, "exists")
    invoice = follow_up(rerun, order, doc, settings, outcome)
    assert invoice["Id"] == _invoices_for(world, order)[0]["Id"]
    assert outcome.kind == "invoice" and outcome.document_id == invoice["Id"]
    assert world.visma.writes() == writes
    assert len(world.visma.invoices) == 1 and len(world.visma.orders) == 1


def test_convert_orders_is_accepted_in_the_config(world) -> None:
    world.write_config()
    world.set_config(
        world.config.read_text().replace(
            'workflow = "invoice-draft"',
            'workflow = "order"\norder_status = "fulfillment"\nconvert_orders = "when-fulfilled"',
        )
    )
    settings = load_settings(world.config)
    assert settings.visma.convert_orders == "when-fulfilled" and settings.visma.books_invoices


def test_move_on_where_visma_answers_a_put_with_204(world) -> None:
    (stored,) = _order_world(world, "fulfillment", 1, seed=38)
    world.visma.quirks = {*world.visma.quirks, "put-204"}
    settings = _settings(world)
    order = _fulfil(world, stored)
    view = _view(settings)
    outcome = OrderOutcome(order.name, "exists")
    assert move_on(view, order, _found(view, order), settings, outcome) is True
    assert _visma_order(world, order)["Status"] == SHIPPED


# ------------------------------------------------------------------ through `sync`, as cron runs it


def test_sync_moves_on_and_converts_when_shopify_fulfils_with_payments(world) -> None:
    world.write_config()
    text = world.config.read_text().replace(
        'workflow = "invoice-draft"',
        'workflow = "order"\norder_status = "fulfillment"\nconvert_orders = "when-fulfilled"',
    )
    world.set_config(text + '\n[payments]\naccounts = { "*" = "1930" }\n')
    stored = [world.shop.add_order({**o, "displayFulfillmentStatus": "UNFULFILLED"}) for o in paid(2, seed=41)]
    code, doc = world.sync_json()
    assert code == 0, doc
    assert [o["Status"] for o in world.visma.orders.values()] == [2, 2] and not world.visma.invoices
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0  # nothing to follow up yet
    world.shop.update_order(stored[0]["id"], displayFulfillmentStatus="FULFILLED")
    code, doc = world.sync_json()
    assert code == 0, doc
    assert sorted(o["Status"] for o in world.visma.orders.values()) == [2, 4]
    (invoice,) = world.visma.invoices.values()
    assert invoice["YourReference"] == stored[0]["name"]
    assert Decimal(str(invoice["RemainingAmountInvoiceCurrency"])) == 0
    writes = world.visma.writes()
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0
    (world.state_dir / "checkpoint.json").unlink()
    code, doc = world.sync_json()
    assert code == 0 and doc["requests"]["visma_writes"] == 0, doc
    assert world.visma.writes() == writes and len(world.visma.invoices) == 1


def test_sync_converts_at_once(world) -> None:
    world.write_config()
    text = world.config.read_text().replace(
        'workflow = "invoice-draft"', 'workflow = "order"\nconvert_orders = "at-once"'
    )
    world.set_config(text)
    for o in paid(2, seed=42):
        world.shop.add_order(o)
    code, doc = world.sync_json()
    assert code == 0, doc
    assert len(world.visma.invoices) == 2 and all(o["Status"] == 4 for o in world.visma.orders.values())
    assert all(o["kind"] == "invoice" and o["booked"] for o in doc["orders"]), doc["orders"]
    assert world.sync_json()[1]["requests"]["visma_writes"] == 0
