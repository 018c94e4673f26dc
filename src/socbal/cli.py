"""The ``socbal`` command line: a thin layer over the library API.

Every command turns bad input into one line on standard error that names the
field, and exit status 2, never a traceback.
"""

from __future__ import annotations

import functools
import json
import sys
from pathlib import Path
from typing import Callable, Optional

import typer
from pydantic import ValidationError

from socbal.errors import InputError, describe_validation_error

app = typer.Typer(
    name="socbal",
    help="SOC-balancing EMS for storage devices with one DC-DC module per battery pack.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

EXIT_INPUT_ERROR = 2


@app.callback()
def _root() -> None:
    """SOC-balancing EMS for storage devices with one DC-DC module per battery pack."""


def fail(message: str) -> None:
    """Print one error line to standard error and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_INPUT_ERROR)


def input_errors_exit(func: Callable) -> Callable:
    """Turn input errors raised by ``func`` into one stderr line and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValidationError as err:
            fail(describe_validation_error(err))
        except (InputError, OSError) as err:
            fail(str(err))

    return wrapper


@app.command()
@input_errors_exit
def allocate(
    file: Optional[Path] = typer.Argument(None, help="JSON input file; standard input when omitted or '-'."),
    explain: bool = typer.Option(False, "--explain", help="Add each pack's weight, reason and reserve latch."),
) -> None:
    """One EMS decision: pack states, settings and a request in (JSON), per-pack setpoints out (JSON)."""
    from socbal.ems.decision import decide
    from socbal.ems.models import AllocateInput

    text = sys.stdin.read() if file is None or str(file) == "-" else file.read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputError(f"input is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    if not isinstance(raw, dict):
        raise InputError(f"input must be a JSON object, got {type(raw).__name__}")
    decision = decide(AllocateInput.model_validate(raw))
    typer.echo(json.dumps(decision.to_contract(explain=explain)))


@app.command()
@input_errors_exit
def simulate(
    scenario: Path = typer.Argument(..., help="Scenario TOML file (see examples/)."),
    out: Optional[Path] = typer.Option(None, "--out", "-o", help="Results folder; default results/<scenario name>."),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="Print nothing but errors."),
) -> None:
    """Simulate one device through time; print a summary and write Parquet/JSON results."""
    from socbal.console import print_summary
    from socbal.sim.engine import simulate as run_simulation
    from socbal.sim.scenario import load_scenario

    spec = load_scenario(scenario)
    result = run_simulation(spec)
    folder = result.save(out if out is not None else Path("results") / spec.name)
    if not quiet:
        print_summary(result.summary)
        typer.echo(f"results written to {folder}/")


def main() -> None:  # pragma: no cover - entry point for ``python -m socbal``
    app()
