"""Loopback emulators of the Shopify Admin GraphQL API and Visma eAccounting v2."""
