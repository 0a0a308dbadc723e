"""The accounting corpus: named Shopify orders with their Visma rows and totals worked out by hand."""
