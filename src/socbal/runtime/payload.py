"""Bounded JSON for untrusted payloads (MQTT, HTTP): size checked before parsing, depth and numbers limited.

:func:`parse_json` never raises anything but :class:`ValueError` with a short reason,
whatever the bytes: a payload over ``max_bytes``, nested deeper than ``max_depth``,
with an integer of more than ``max_int_digits`` digits, ``NaN``/``Infinity``, or
not UTF-8 JSON at all.
"""

from __future__ import annotations

import json

#: Defaults for device and settings payloads (a real one is a few hundred bytes, depth 2).
MAX_PAYLOAD_BYTES = 4096
MAX_DEPTH = 16
MAX_INT_DIGITS = 20


def json_depth(text: str) -> int:
    """Deepest nesting of ``[``/``{`` in JSON ``text`` (brackets inside strings do not count)."""
    depth = deepest = 0
    in_string = escaped = False
    for ch in text:
        if in_string:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_string = False
        elif ch == '"':
            in_string = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def _parse_int(max_digits: int):
    def parse(text: str) -> int:
        if len(text.lstrip("-")) > max_digits:
            raise ValueError(f"an integer has {len(text.lstrip('-'))} digits (at most {max_digits})")
        return int(text)

    return parse


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not allowed")


def parse_json(
    payload: bytes | str, max_bytes: int = MAX_PAYLOAD_BYTES, max_depth: int = MAX_DEPTH, max_int_digits: int = MAX_INT_DIGITS
) -> object:
    """The JSON value of ``payload``; ``ValueError`` with a one-line reason on anything unsafe or invalid."""
    size = len(payload)
    if size > max_bytes:
        raise ValueError(f"payload of {size} bytes is too large (at most {max_bytes})")
    try:
        text = payload.decode("utf-8") if isinstance(payload, bytes) else payload
    except UnicodeDecodeError:
        raise ValueError("payload is not UTF-8") from None
    depth = json_depth(text)
    if depth > max_depth:
        raise ValueError(f"payload is nested {depth} levels deep (at most {max_depth})")
    try:
        return json.loads(text, parse_int=_parse_int(max_int_digits), parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise ValueError(f"payload is not JSON ({err.msg} at {err.pos})") from None
    except (ValueError, RecursionError) as err:
        raise ValueError(f"payload rejected: {err}"[:200]) from None


def shorten(value: object, limit: int = 120) -> str:
    """``repr(value)`` cut to ``limit`` characters (for log lines about untrusted input)."""
    text = value if isinstance(value, str) else repr(value)
    return text if len(text) <= limit else f"{text[:limit]}… ({len(text)} chars)"
