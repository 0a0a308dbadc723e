"""The write-back mutations: the GraphQL documents that tag an order in Shopify with
where it went in Visma ([shopify] write_back = true; they need the `write_orders` scope).

Apart from queries.py so that an idle pass, or a shop without write-back, never builds
them; registered in `queries.ALL_QUERIES` so the contract test validates them against
the published 2025-01 schema like every other document.

Each payload asks for `userErrors` only: Shopify charges a mutation 10 points plus the
objects it returns, and the engine needs no more than "did it go through".
"""

from __future__ import annotations

# One order's tags (the `id` is the order's gid). Adding a tag that is there already and
# removing one that is not are both no-ops in Shopify: the mutations are safe to repeat.
TAGS_ADD = (
    "mutation WriteBackTagsAdd($id: ID!, $tags: [String!]!) {\n"
    "  tagsAdd(id: $id, tags: $tags) {\n"
    "    userErrors { field message }\n"
    "  }\n"
    "}\n"
)

TAGS_REMOVE = (
    "mutation WriteBackTagsRemove($id: ID!, $tags: [String!]!) {\n"
    "  tagsRemove(id: $id, tags: $tags) {\n"
    "    userErrors { field message }\n"
    "  }\n"
    "}\n"
)

# Up to 25 metafields per call (Shopify's limit), one per order: a chunk's orders are set
# in a few calls. Atomic in Shopify: one bad input and none is written; `elementIndex`
# says which input it was.
METAFIELDS_SET = (
    "mutation WriteBackMetafieldsSet($metafields: [MetafieldsSetInput!]!) {\n"
    "  metafieldsSet(metafields: $metafields) {\n"
    "    userErrors { field message code elementIndex }\n"
    "  }\n"
    "}\n"
)

METAFIELDS_PER_CALL = 25  # MetafieldsSetInput limit of one metafieldsSet
MUTATION_COST = 10.0  # Shopify's requested cost of one mutation field: the client waits for it

WRITE_BACK_QUERIES = {
    "WriteBackTagsAdd": TAGS_ADD,
    "WriteBackTagsRemove": TAGS_REMOVE,
    "WriteBackMetafieldsSet": METAFIELDS_SET,
}
