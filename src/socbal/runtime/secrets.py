"""Secrets (MQTT password, API token) from an environment variable or a file; never logged or printed."""

from __future__ import annotations

import os
import re
from pathlib import Path

from pydantic import Field, SecretStr

from socbal.errors import InputError
from socbal.validation import FilePath, StrictModel


def read_secret(
    what: str, env: str | None = None, file: Path | None = None, env_field: str = "the setting that names it"
) -> SecretStr | None:
    """The secret named by ``env`` (variable name) or ``file`` (path; surrounding whitespace stripped).

    Returns ``None`` when neither is given. A named variable that is unset or a
    file that cannot be read is an :class:`InputError` naming the variable or
    path, never the value; an unset variable's error also says to set it or to leave out ``env_field`` (the config
    field that names it).
    """
    if env is not None and file is not None:
        raise InputError(f"{what}: give either an environment variable or a file, not both")
    if env is not None:
        value = os.environ.get(env)
        if value is None:
            raise InputError(f"{what}: environment variable {env} is not set; set it, or leave out {env_field}")
        return SecretStr(value)
    if file is not None:
        try:
            return SecretStr(Path(file).read_text().strip())
        except OSError as err:
            raise InputError(f"{what}: cannot read secret file {file}: {err.strerror}") from None
    return None


class SecretFields(StrictModel):
    """A password from an environment variable or a file (never in the config itself)."""

    password_env: str | None = Field(None, description="Environment variable holding the password")
    password_file: FilePath | None = Field(None, description="File holding the password")

    def password(self, what: str) -> SecretStr | None:
        """The password, or None when none is configured."""
        return read_secret(what, self.password_env, Path(self.password_file) if self.password_file else None, "password_env")


#: RFC 6750 ``b64token``: what a bearer token may be made of.
_TOKEN = re.compile(r"[A-Za-z0-9\-._~+/]+=*")


def read_token(
    what: str, env: str | None = None, file: Path | None = None, env_field: str = "the setting that names it"
) -> SecretStr | None:
    """Like :func:`read_secret`, for a bearer token: refuse one that could never match (never showing it).

    Allowed: one or more of ``A-Z a-z 0-9 - . _ ~ + /``, then only ``=`` (RFC 6750).
    Empty, surrounding or inner spaces, and non-ASCII characters are refused with one line.
    """
    secret = read_secret(what, env, file, env_field)
    if secret is None:
        return None
    value = secret.get_secret_value()
    source = f"environment variable {env}" if env is not None else f"file {file}"
    if not value:
        problem = "it is empty"
    elif value != value.strip():
        problem = "it has surrounding spaces"
    elif _TOKEN.fullmatch(value) is None:
        bad = next((i for i, ch in enumerate(value) if _TOKEN.fullmatch(ch) is None and ch != "="), len(value) - 1)
        problem = f"character {bad + 1} of {len(value)} is not allowed"
    else:
        return secret
    raise InputError(
        f"{what} from {source} is not allowed: {problem}; use 1 or more of A-Z a-z 0-9 - . _ ~ + / (then only =), no spaces"
    )
