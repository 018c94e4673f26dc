"""Input errors that name the field, the value and what is allowed."""

from __future__ import annotations

from pydantic import ValidationError
from pydantic_core import PydanticCustomError

#: Error type of a model-level check whose problems already name their fields (see :func:`field_problems`).
FIELD_PROBLEMS = "socbal_field_problems"


class InputError(ValueError):
    """Bad user input; the message is one line meant for the user."""


def _location(loc: tuple, raw: object = None) -> str:
    """``('packs', 1, 'soc_pct')`` -> ``packs[1].soc_pct``; with the ``raw`` input, the ``kind`` tags pydantic puts
    into the location of a discriminated union (``load.file.path``) are left out (``load.path``)."""
    text = ""
    node = raw
    for part in loc:
        if isinstance(node, dict) and isinstance(part, str) and part not in node and node.get("kind") == part:
            continue
        node = (
            node.get(part)
            if isinstance(node, dict)
            else node[part]
            if isinstance(node, list) and isinstance(part, int) and part < len(node)
            else None
        )
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += ("." if text else "") + str(part)
    return text


def field_problems(problems: list[str]) -> PydanticCustomError:
    """The error a model validator raises for problems that each start with the field they concern
    (``packs[1].id: ...``, relative to the model): reported as they are, without the model's whole input."""
    return PydanticCustomError(FIELD_PROBLEMS, "{text}", {"text": "; ".join(problems), "problems": tuple(problems)})


def describe_validation_error(err: ValidationError, prefix: str = "", raw: object = None) -> str:
    """One line per problem: ``field: value X is not allowed: <rule>`` (``raw``: the input, to name fields as given)."""
    lines: list[str] = []
    for e in err.errors():
        loc = _location(tuple(x for x in e["loc"] if not str(x).startswith("function-")), raw)
        where = ".".join(part for part in (prefix, loc) if part) or "input"
        msg = e["msg"].removeprefix("Value error, ")
        if e["type"] == FIELD_PROBLEMS:
            lines.extend(".".join(part for part in (prefix, loc, problem) if part) for problem in e["ctx"]["problems"])
        elif not loc and e["type"] == "value_error":  # a check across fields: its message names them, the input is a section
            lines.append(msg if not prefix else f"{prefix}: {msg}")
        elif e["type"] == "missing":
            lines.append(f"{where}: missing: this field is required")
        elif e["type"] == "file_not_found":
            lines.append(f"{where}: {msg}")
        elif e["type"] == "extra_forbidden":
            lines.append(f"{where}: unknown field (check its spelling)")
        else:
            lines.append(f"{where}: value {e.get('input')!r} is not allowed: {msg}")
    return "; ".join(lines)
