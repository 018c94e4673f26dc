"""Words for user-facing text: a count with its noun in the right number ("1 combination", "2 combinations")."""

from __future__ import annotations


def count(n: float, noun: str, plural: str | None = None) -> str:
    """``n`` (shown as ``:g``) and ``noun``, in the plural (``plural``, default ``noun + "s"``) unless ``n`` is 1."""
    return f"{n:g} {noun if n == 1 else plural or noun + 's'}"


def fixed(value: float, digits: int) -> str:
    """``value`` with ``digits`` decimals; one that rounds to zero is shown as 0 without a sign ("-0.0" is rounding
    of a value on either side of 0, not a negative quantity)."""
    text = f"{value:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0.0 else text
