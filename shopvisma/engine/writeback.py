"""[shopify] write_back: tag each order in Shopify with where it went in Visma (stub: filled in next)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shopvisma.config.settings import Settings
from shopvisma.state.checkpoint import Checkpoint

if TYPE_CHECKING:
    from shopvisma.engine.outcomes import PassResult
    from shopvisma.engine.sync_pass import Services
    from shopvisma.shopify.order import Order


def write_back_chunk(
    orders: list[Order], settings: Settings, services: Services, checkpoint: Checkpoint, result: PassResult
) -> None:
    """After a chunk settled in Visma: queue and send the Shopify tags/metafields of its orders."""


def flush_write_back(settings: Settings, services: Services, checkpoint: Checkpoint, result: PassResult) -> None:
    """At the end of a pass: retry what earlier passes could not write back."""
