"""Evaluation metrics shipped as local `evaluate` modules (no hub access)."""

from __future__ import annotations

from pathlib import Path

ROUGE_PATH = Path(__file__).resolve().parent / "rouge"


def load_rouge():
    """Return the script-aware ROUGE `evaluate` module from this package (never the hub)."""
    import evaluate

    return evaluate.load(str(ROUGE_PATH))
