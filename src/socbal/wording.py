"""Words for user-facing text: a count with its noun in the right number ("1 combination", "2 combinations")."""

from __future__ import annotations


def count(n: float, noun: str, plural: str | None = None) -> str:
    """``n`` (shown as ``:g``) and ``noun``, in the plural (``plural``, default ``noun + "s"``) unless ``n`` is 1."""
    return f"{n:g} {noun if n == 1 else plural or noun + 's'}"
