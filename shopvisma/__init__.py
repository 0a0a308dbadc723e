"""shopvisma: Shopify orders into Visma eAccounting, exactly once."""

__version__ = "0.1.0"
