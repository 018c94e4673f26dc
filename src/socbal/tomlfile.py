"""Reading the user's TOML files (scenarios, runtime configs) with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from socbal.errors import InputError


def read_toml(path: str | Path, what: str) -> dict:
    """The TOML file at ``path`` (UTF-8, a leading byte-order mark allowed) as a dict; ``what`` names it in errors
    ("scenario", "config"). A missing, unreadable, binary, invalid or empty file is an :class:`InputError`."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a {what} TOML file") from None
    except OSError as err:
        raise InputError(f"{path}: cannot read the {what} file: {err.strerror or err}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as err:
        raise InputError(f"{path}: not a UTF-8 text file (byte {err.start}), expected a {what} TOML file") from None
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not valid TOML: {err}") from None
    if not raw:
        raise InputError(f"{path}: the {what} file is empty (no key, no section); see examples/ for one to start from")
    return raw
