"""Where the repository and the shared reference material are, for every suite (one owner)."""

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout: README.md, docs/, shopvisma/
REFERENCE = ROOT.parent / "shared" / "reference"  # the published specs and real payloads beside it
