"""Static material for the seed generator: a Nordic shop's catalogue, names and places.

Data only, so that seed.py/seed_gen.py stay readable. Prices are SEK including VAT.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Product:
    sku: str
    title: str
    price: Decimal  # SEK, VAT included
    vat: Decimal  # fraction
    variant: str | None = None


_V25, _V12, _V6 = Decimal("0.25"), Decimal("0.12"), Decimal("0.06")

CATALOGUE: tuple[Product, ...] = tuple(
    Product(sku, title, Decimal(price), vat, variant)
    for sku, title, price, vat, variant in [
        ("MUG-STO-GRY", "Stoneware mugg", "189.00", _V25, "Grå"),
        ("MUG-STO-BLU", "Stoneware mugg", "189.00", _V25, "Blå"),
        ("BOWL-LIN-L", "Linneskål", "249.00", _V25, "Large"),
        ("BOWL-LIN-S", "Linneskål", "179.00", _V25, "Small"),
        ("PLATE-ASH-26", "Assiett Ask 26 cm", "219.00", _V25, None),
        ("TOWEL-LIN-NAT", "Kökshandduk linne", "129.00", _V25, "Natur"),
        ("TOWEL-LIN-RST", "Kökshandduk linne", "129.00", _V25, "Rost"),
        ("BOARD-OAK-M", "Skärbräda ek", "349.00", _V25, "Medium"),
        ("BOARD-OAK-L", "Skärbräda ek", "449.00", _V25, "Large"),
        ("CANDLE-WAX-3", "Kronljus 3-pack", "79.90", _V25, None),
        ("THROW-WOOL-GRN", "Ullpläd", "895.00", _V25, "Grön"),
        ("THROW-WOOL-OAT", "Ullpläd", "895.00", _V25, "Havre"),
        ("KNIFE-CHEF-20", "Kockkniv 20 cm", "1295.00", _V25, None),
        ("PAN-CAST-26", "Gjutjärnspanna 26 cm", "799.00", _V25, None),
        ("APRON-CANV", "Förkläde canvas", "399.00", _V25, None),
        ("VASE-GLASS-S", "Glasvas", "299.50", _V25, "Liten"),
        ("TRAY-BIRCH", "Bricka björk", "259.00", _V25, None),
        ("BRUSH-DISH", "Diskborste trä", "49.00", _V25, None),
        ("SOAP-BIRCH", "Tvål björk", "65.00", _V25, None),
        ("POT-TERRA-14", "Kruka terrakotta", "139.00", _V25, "14 cm"),
        ("GLASS-WINE-2", "Vinglas 2-pack", "349.00", _V25, None),
        ("CARAFE-1L", "Karaff 1 l", "279.00", _V25, None),
        ("NAPKIN-LIN-4", "Linneservett 4-pack", "229.00", _V25, None),
        ("SPOON-WOOD", "Träsked", "59.00", _V25, None),
        ("COFFEE-BRYGG-450", "Kaffe mellanrost 450 g", "119.00", _V12, None),
        ("COFFEE-ESP-450", "Espressobönor 450 g", "139.00", _V12, None),
        ("TEA-ROOIBOS", "Rooibos te 100 g", "69.00", _V12, None),
        ("HONEY-RAPS", "Rapshonung 500 g", "95.00", _V12, None),
        ("JAM-LINGON", "Lingonsylt 400 g", "59.90", _V12, None),
        ("CHOC-DARK-70", "Mörk choklad 70 %", "45.00", _V12, None),
        ("CRISP-RAG", "Knäckebröd råg", "39.00", _V12, None),
        ("SALT-FLAKE", "Flingsalt 250 g", "55.00", _V12, None),
        ("OIL-RAPS-500", "Kallpressad rapsolja", "89.00", _V12, None),
        ("BOOK-BAKA", "Baka med surdeg (bok)", "299.00", _V6, None),
        ("BOOK-FIKA", "Fika året runt (bok)", "249.00", _V6, None),
        ("BOOK-SVAMP", "Svampboken", "349.00", _V6, None),
        ("BOOK-KOK-NORD", "Nordisk husmanskost (bok)", "399.00", _V6, None),
        ("BOOK-TRAD", "Trädgårdsåret (bok)", "279.00", _V6, None),
        ("MAG-HEM-01", "Tidskrift Hem & Hantverk", "89.00", _V6, None),
        ("CARD-GIFT-WRAP", "Presentinslagning", "35.00", _V25, None),
    ]
)

FIRST_NAMES = (
    "Anna",
    "Erik",
    "Maria",
    "Lars",
    "Karin",
    "Johan",
    "Sara",
    "Anders",
    "Emma",
    "Per",
    "Elin",
    "Nils",
    "Linnea",
    "Oskar",
    "Ingrid",
    "Mikael",
    "Sofia",
    "Björn",
    "Åsa",
    "Jörgen",
    "Märta",
    "Mats",
    "Freja",
    "Kalle",
    "Sigrid",
    "Henrik",
    "Liv",
    "Ola",
    "Astrid",
    "Tove",
)
LAST_NAMES = (
    "Andersson",
    "Johansson",
    "Karlsson",
    "Nilsson",
    "Eriksson",
    "Larsson",
    "Olsson",
    "Persson",
    "Svensson",
    "Gustafsson",
    "Lindqvist",
    "Berg",
    "Lindström",
    "Holm",
    "Ek",
    "Sjöberg",
    "Åkesson",
    "Öberg",
    "Hansen",
    "Virtanen",
)
CITIES = (
    ("Stockholm", "114 55", "SE"),
    ("Göteborg", "411 06", "SE"),
    ("Malmö", "211 20", "SE"),
    ("Uppsala", "753 20", "SE"),
    ("Umeå", "903 26", "SE"),
    ("Luleå", "972 31", "SE"),
    ("Visby", "621 55", "SE"),
    ("Örebro", "702 10", "SE"),
    ("Jönköping", "553 21", "SE"),
    ("Helsinki", "00100", "FI"),
    ("Espoo", "02100", "FI"),
    ("Berlin", "10115", "DE"),
)
STREETS = (
    "Storgatan",
    "Drottninggatan",
    "Kungsgatan",
    "Vasagatan",
    "Skolgatan",
    "Järnvägsgatan",
    "Östra Hamngatan",
    "Mannerheimintie",
    "Torggatan",
    "Ringvägen",
)
TAGS = ("nyhetsbrev", "instagram", "vip", "presentinslagning", "återkommande", "kampanj-vinter")
