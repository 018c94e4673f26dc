"""Secrets (MQTT password, API token) from an environment variable or a file; never logged or printed."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import SecretStr

from socbal.errors import InputError


def read_secret(what: str, env: str | None = None, file: Path | None = None) -> SecretStr | None:
    """The secret named by ``env`` (variable name) or ``file`` (path; surrounding whitespace stripped).

    Returns ``None`` when neither is given. A named variable that is unset or a
    file that cannot be read is an :class:`InputError` naming the variable or
    path, never the value.
    """
    if env is not None and file is not None:
        raise InputError(f"{what}: give either an environment variable or a file, not both")
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise InputError(f"{what}: environment variable {env} is not set")
        return SecretStr(value)
    if file is not None:
        try:
            return SecretStr(Path(file).read_text().strip())
        except OSError as err:
            raise InputError(f"{what}: cannot read secret file {file}: {err.strerror}") from None
    return None
