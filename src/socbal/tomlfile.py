"""Reading the user's TOML files (scenarios, runtime configs) with one-line errors."""

from __future__ import annotations

import tomllib
from pathlib import Path

from socbal.errors import InputError


def read_toml(path: str | Path, what: str) -> dict:
    """The TOML file at ``path`` as a dict; ``what`` names it in errors ("scenario", "config")."""
    path = Path(path)
    try:
        return tomllib.loads(path.read_text())
    except FileNotFoundError:
        raise InputError(f"{what} file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"{path}: is a folder, expected a {what} TOML file") from None
    except UnicodeDecodeError:
        raise InputError(f"{path}: not a text file, expected a {what} TOML file") from None
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: not valid TOML: {err}") from None
