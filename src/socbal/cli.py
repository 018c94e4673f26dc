"""The ``socbal`` command line: a thin layer over the library API.

Every command turns bad input into one line on standard error that names the
field, and exit status 2, never a traceback.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import inspect
import json
import logging
import math
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional, TypedDict, cast

import typer
from pydantic import ValidationError

from socbal.ems.models import STRATEGY_NAMES
from socbal.errors import InputError, describe_validation_error
from socbal.wording import count

app = typer.Typer(
    name="socbal",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # help texts name TOML sections like [fleet]; never read them as markup
)

EXIT_INPUT_ERROR = 2

#: The per-command --quiet of the commands that print results (same as the root socbal --quiet).
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="Print nothing but errors (same as socbal --quiet).")]
#: The per-command --json of the commands that print a summary.
JsonOption = Annotated[
    bool,
    typer.Option("--json", help="Print the summary (summary.json) as JSON on standard output instead of tables."),
]
#: The Dask options shared by fleet and sweep.
DaskOption = Annotated[bool, typer.Option("--dask", help="Run on a Dask LocalCluster on this machine.")]
SchedulerOption = Annotated[Optional[str], typer.Option("--scheduler", help="Run on the Dask scheduler at tcp://HOST:PORT.")]


def _out_option(default: str):
    """The --out / -o of the commands that save a results folder; ``default`` names the folder when it is not given."""
    return typer.Option(None, "--out", "-o", help=f"Results folder; default {default}.")


def _report_option(text: str):
    """The --report of the commands that can also write their report page; ``text`` says what it writes."""
    return typer.Option(False, "--report", help=text)


log = logging.getLogger("socbal")


class _OutputSettings(TypedDict):
    quiet: bool
    verbose: int


#: Output settings of the current invocation, set by the root options.
_output: _OutputSettings = {"quiet": False, "verbose": 0}


@functools.lru_cache(maxsize=1)
def _stderr_console():
    """One rich console on standard error, shared by log lines and the progress display."""
    from rich.console import Console

    return Console(stderr=True)


def configure_logging(quiet: bool = False, verbose: int = 0) -> None:
    """Route the ``socbal`` loggers for this invocation: ``quiet`` keeps errors only; ``verbose`` 1 logs
    info, 2 debug, to standard error (rich on a terminal, plain lines otherwise). Neither: the logging
    defaults stay (warnings on standard error; commands such as ``run --log-level`` configure their own)."""
    for old in [h for h in log.handlers if getattr(h, "_socbal_cli", False)]:
        log.removeHandler(old)
    log.setLevel(logging.ERROR if quiet else logging.NOTSET)
    log.propagate = True
    if not verbose:
        return
    if sys.stderr.isatty():
        from rich.logging import RichHandler

        handler: logging.Handler = RichHandler(console=_stderr_console(), show_path=False, log_time_format="%X")
    else:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    handler._socbal_cli = True  # type: ignore[attr-defined]
    log.addHandler(handler)
    log.setLevel(logging.INFO if verbose == 1 else logging.DEBUG)
    log.propagate = False


_ROOT_HELP = (
    "SOC-balancing EMS for storage devices with one DC-DC module per battery pack.\n\n"
    "Give --quiet or --verbose before the command (socbal -q simulate ..., socbal -v report ...). "
    "Bad input exits with status 2 and one line on standard error naming what is wrong."
)


def _print_version(value: bool) -> None:
    """``socbal --version``: print the version and stop."""
    if value:
        from socbal import __version__

        typer.echo(f"socbal {__version__}")
        raise typer.Exit()


@app.callback(help=_ROOT_HELP)
def _root(
    version: bool = typer.Option(
        False, "--version", callback=_print_version, is_eager=True, help="Print socbal's version and exit."
    ),
    quiet: bool = typer.Option(
        False, "--quiet", "-q", help="Print nothing but errors: no summaries, no progress display, no log messages."
    ),
    verbose: int = typer.Option(
        0,
        "--verbose",
        "-v",
        count=True,
        show_default=False,
        help="Log the steps and the files written to standard error (-vv: debug detail).",
    ),
) -> None:
    """Root options: output and logging (see ``_ROOT_HELP``)."""
    if quiet and verbose:
        fail("--quiet and --verbose exclude each other; give one of them")
    _output.update({"quiet": quiet, "verbose": verbose})
    configure_logging(quiet, verbose)


def _first_run_note(qualname: str, what: str, about_s: int = 7) -> str:
    """A note for the progress line (and one stderr line off a terminal) when ``qualname`` is not compiled yet;
    ``about_s``: its compile's CPU time, s (``benchmarks/bench_compile.py``)."""
    from socbal._jit_cache import is_compiled

    if is_compiled(qualname):
        return ""
    note = f"compiling {what} (first run only, about {about_s} s)"
    if not _output["quiet"] and not sys.stderr.isatty():
        typer.echo(f"{note} ...", err=True)
    return f"{note}, then "


def _compile_note_once(qualname: str, what: str, about_s: int = 7) -> Callable[[], None]:
    """A callback that says, once a run is checked and about to start, that ``qualname`` compiles first (one stderr
    line unless quiet; ``about_s``: its compile's CPU time, s): a refused fleet says nothing about compiling."""

    def say() -> None:
        from socbal._jit_cache import is_compiled

        if not _output["quiet"] and not is_compiled(qualname):
            typer.echo(f"compiling {what} (first run only, about {about_s} s) ...", err=True)

    return say


@contextlib.contextmanager
def activity(message: str):
    """Progress on standard error while the block runs, when that is a terminal and output is not quiet;
    silent otherwise. Yields ``update(done, total)``: until it is called the display is a spinner with the
    elapsed time, then a bar with the share done and the time left. Logs the block's duration at INFO level."""
    started = time.perf_counter()
    if _output["quiet"] or not sys.stderr.isatty():
        yield lambda done, total: None
    else:
        from rich.progress import (
            BarColumn,
            Progress,
            SpinnerColumn,
            TaskProgressColumn,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )

        with Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            TaskProgressColumn(),
            TimeElapsedColumn(),
            TimeRemainingColumn(),
            console=_stderr_console(),
            transient=True,
        ) as progress:
            task = progress.add_task(message, total=None)
            yield lambda done, total: progress.update(task, completed=done, total=total)
    log.info("%s: done in %.1f s", message.rstrip(". …"), time.perf_counter() - started)


def fail(message: str) -> None:
    """Print one error line to standard error and exit with status 2."""
    typer.echo(f"error: {message}", err=True)
    raise typer.Exit(EXIT_INPUT_ERROR)


def describe_os_error(err: OSError, func: Callable, arguments: dict) -> str:
    """One line for a file error, naming the command's option or argument whose path (``arguments``) it is, is
    inside or holds: ``--out '/proc/x': No such file or directory``."""
    if err.filename is None or err.strerror is None:
        return str(err)
    failed = Path(str(err.filename))
    where = f" ({str(failed)!r})"
    params = inspect.signature(func).parameters
    for name, value in arguments.items():
        if isinstance(value, Path) and (failed == value or value in failed.parents or failed in value.parents):
            is_option = name in params and isinstance(params[name].default, typer.models.OptionInfo)
            label = f"--{name.replace('_', '-')}" if is_option else name.upper()
            return f"{label} {str(value)!r}: {err.strerror}{where if failed != value else ''}"
    return f"{str(failed)!r}: {err.strerror}"


def input_errors_exit(func: Callable) -> Callable:
    """Turn input errors raised by ``func`` into one stderr line and exit status 2."""

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        try:
            return func(*args, **kwargs)
        except ValidationError as err:
            fail(describe_validation_error(err))
        except InputError as err:
            fail(str(err))
        except OSError as err:
            fail(describe_os_error(err, func, kwargs))
        except MemoryError:
            fail("out of memory: shorten run.horizon_h or record less often (a larger run.record_every_s)")

    return wrapper


@app.command()
@input_errors_exit
def allocate(
    file: Optional[Path] = typer.Argument(None, help="JSON input file; standard input when omitted or '-'."),
    explain: bool = typer.Option(
        False,
        "--explain",
        help="Add each pack's weight, reason and reserve latch (for a home: each device's weight, limit, reason, "
        "write and its state for the next decision).",
    ),
) -> None:
    """One EMS decision: pack states, settings and a request in (JSON), per-pack setpoints out (JSON).

    With "devices" instead of "packs", one home decision: device states, circuits, home settings and the
    home's battery request in, one setpoint per device out (README, "Homes with several devices")."""
    from socbal.ems.decision import decide
    from socbal.ems.models import AllocateInput
    from socbal.validation import json_loads

    from_stdin = file is None or str(file) == "-"
    if file is not None and not from_stdin:
        # any readable path that is not a folder: a file, a pipe (<(...)), a device
        if not file.exists():
            raise InputError(f"input file not found: {file} (expected a JSON file, or '-' for standard input)")
        if file.is_dir():
            raise InputError(f"input file: {file} is a folder (expected a JSON file, or '-' for standard input)")
    try:
        data = sys.stdin.buffer.read() if file is None or from_stdin else file.read_bytes()
    except OSError as err:
        raise InputError(f"input file: cannot read {file}: {err.strerror}") from None
    if not data.strip():
        raise InputError("input is empty: expected one JSON object of settings, packs and request")
    try:
        raw = json_loads(data)
    except UnicodeDecodeError as err:
        raise InputError(f"input is not UTF-8 text (byte {err.start}): expected a JSON object") from None
    except json.JSONDecodeError as err:
        raise InputError(f"input is not valid JSON: {err.msg} at line {err.lineno} column {err.colno}") from None
    except RecursionError:
        raise InputError("input is nested too deeply: expected one JSON object of settings, packs and request") from None
    if not isinstance(raw, dict):
        raise InputError(f"input must be a JSON object, got {type(raw).__name__}")
    if "devices" in raw:
        from socbal.home.decision import decide_home
        from socbal.home.models import HomeAllocateInput

        if "packs" in raw:
            raise InputError("input: give either packs or devices (one device, or a home), not both")
        typer.echo(json.dumps(decide_home(HomeAllocateInput.model_validate(raw)).to_contract(explain=explain)))
        return
    decision = decide(AllocateInput.model_validate(raw))
    typer.echo(json.dumps(decision.to_contract(explain=explain)))


@app.command(
    help=(
        "Simulate one device, or a home of several devices (a scenario with [home]), through time; print a summary "
        "and write Parquet/JSON results.\n\n"
        "The results folder holds packs.parquet (per pack and recorded interval), device.parquet (per interval), "
        "summary.json (metrics) and scenario.json (the validated scenario); for a home, home.parquet (per interval), "
        "devices.parquet (per interval and device), packs.parquet and device_flows.parquet (every device's tables), "
        "summary.json (its home object) and scenario.json. A spinner with the elapsed time shows "
        "on a terminal while the simulation runs; nothing of it in pipes, logs or with --quiet."
    )
)
@input_errors_exit
def simulate(
    scenario: Path = typer.Argument(..., help="Scenario TOML file (see examples/)."),
    out: Optional[Path] = _out_option("results/<scenario name>"),
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    report: bool = _report_option(
        "Also write report.html and figures/*.png into the results folder (same as running socbal report on it)."
    ),
) -> None:
    """Simulate one scenario and save its results (see the command help)."""
    from socbal.console import print_summary
    from socbal.home.scenario import is_home
    from socbal.scenario import scenario_from_dict
    from socbal.sim.engine import simulate as run_simulation
    from socbal.tomlfile import read_toml

    quiet = quiet or _output["quiet"]
    raw = read_toml(scenario, "scenario")
    if is_home(raw):
        folder = _simulate_home(raw, scenario, out, quiet, as_json)
        if report:
            _write_report(folder, None, png=True, quiet=quiet or as_json)
        return
    spec = scenario_from_dict(raw, source=str(scenario), base_dir=scenario.parent)
    with activity(_first_run_note("kernel.advance", "the simulator") + f"simulating {spec.name}") as progress:
        result = run_simulation(spec, progress=progress)
    folder = _save_results(result, out, Path("results") / spec.name, lambda r: print_summary(r.summary), quiet, as_json)
    if report:
        _write_report(folder, None, png=True, quiet=quiet or as_json)


def _simulate_home(raw: dict, path: Path, out: Optional[Path], quiet: bool, as_json: bool) -> Path:
    """``socbal simulate`` for a home scenario (it has [home]); the results folder."""
    from socbal.console import output_console
    from socbal.home.engine import simulate_home
    from socbal.home.scenario import home_scenario_from_dict
    from socbal.home.show import print_home_summary

    spec = home_scenario_from_dict(raw, source=str(path), base_dir=path.parent)
    with activity(
        _first_run_note("loop.advance_home", "the home simulator", 43) + f"simulating the home {spec.name}"
    ) as progress:
        result = simulate_home(spec, progress=progress)
    return _save_results(
        result, out, Path("results") / spec.name, lambda r: print_home_summary(r.summary, output_console()), quiet, as_json
    )


def _save_results(result, out: Optional[Path], default: Path, show: Callable, quiet: bool, as_json: bool = False) -> Path:
    """Save ``result`` into ``out`` (or ``default``), then, unless quiet, ``show(result)`` and say where it went.

    ``as_json``: the summary goes to standard output as JSON instead, and where it went to standard error."""
    folder = out if out is not None else default
    if folder.exists() and not folder.is_dir():
        raise InputError(f"--out: {folder} is a file, expected a folder for the results")
    try:
        folder = result.save(folder)
    except (FileExistsError, NotADirectoryError):
        raise InputError(f"--out: {folder} lies inside a file, expected a folder for the results") from None
    log.info("results written to %s", folder)
    if as_json:
        from socbal.resultfiles import json_bytes

        typer.echo(json_bytes(result.summary).decode())
        if not quiet:
            typer.echo(f"results written to {folder}/", err=True)
    elif not quiet:
        show(result)
        typer.echo(f"results written to {folder}/")
    return folder


def _announce_report(html: Path, pngs: list[Path], quiet: bool) -> None:
    """Say where a report and its PNG figures went (unless quiet)."""
    if not quiet:
        typer.echo(f"report written to {html}")
        if pngs:
            typer.echo(f"figures written to {pngs[0].parent}/ ({', '.join(p.name for p in pngs)})")


def _write_page(write: Callable[[Any, Path], tuple[Path, list[Path]]], what: str, result: Any, folder: Path, quiet: bool) -> None:
    """``write(result, folder)`` one study's report page (the ``what`` report) and say where it went (unless quiet)."""
    with activity(f"writing the {what} report"):
        html, pngs = write(result, folder)
    _announce_report(html, pngs, quiet)


@app.command(
    help=(
        "Simulate a fleet: N devices drawn from the scenario's [fleet] distributions, in parallel; print the "
        "distribution of the key metrics and write Parquet/JSON results.\n\n"
        "The results folder holds devices.parquet (one row per device), packs.parquet (one row per device and pack), "
        "summary.json (percentiles) and scenario.json. The devices run over this machine's cores; with --dask on a "
        "Dask LocalCluster, with --scheduler tcp://HOST:PORT on that cluster. The same seed gives the same results "
        "on every runner.\n\n"
        "A home scenario (with [home], see examples/home_fleet.toml) gives a fleet of homes: --homes homes drawn from "
        "its [fleet] section, each run over the home loop; the folder holds homes.parquet (one row per home: the home "
        "pains and energies), devices.parquet (one row per home and device), summary.json (percentiles of the pains) "
        "and scenario.json."
    )
)
@input_errors_exit
def fleet(
    scenario: Path = typer.Argument(..., help="Scenario TOML file with a [fleet] section (see examples/fleet.toml)."),
    devices: Optional[int] = typer.Option(None, "--devices", "-n", help="Number of devices; default [fleet] devices."),
    homes: Optional[int] = typer.Option(None, "--homes", help="Number of homes (a home scenario); default [fleet] homes."),
    seed: Optional[int] = typer.Option(None, "--seed", help="Seed of the random draws; default [fleet] seed."),
    dask: DaskOption = False,
    scheduler: SchedulerOption = None,
    workers: int = typer.Option(2, "--workers", help="Worker processes of the LocalCluster (with --dask)."),
    out: Optional[Path] = _out_option("results/<name>-fleet"),
    quiet: QuietOption = False,
    as_json: JsonOption = False,
) -> None:
    """Simulate a fleet of devices and save per-device results (see the command help)."""
    from socbal.console import print_distribution
    from socbal.fleet.runner import run_fleet, run_fleet_dask
    from socbal.scenario import load_scenario

    quiet = quiet or _output["quiet"]
    if workers < 1:
        raise InputError(f"--workers: value {workers} is not allowed: must be >= 1")
    if _home_fleet(scenario, devices, homes, seed, dask or scheduler is not None, scheduler, workers, out, quiet, as_json):
        return
    spec = load_scenario(scenario)
    note = _compile_note_once("kernel.advance", "the simulator")
    with activity(f"simulating the {spec.name} fleet"):
        if dask or scheduler is not None:
            result = run_fleet_dask(spec, devices, seed, scheduler=scheduler, workers=workers, on_start=note)
        else:
            result = run_fleet(spec, devices, seed, on_start=note)
    _save_results(result, out, Path("results") / f"{spec.name}-fleet", lambda r: print_distribution(r.summary), quiet, as_json)


def _home_fleet(
    path: Path, devices: Optional[int], homes: Optional[int], seed: Optional[int], on_dask: bool, scheduler: Optional[str],
    workers: int, out: Optional[Path], quiet: bool, as_json: bool,
) -> bool:  # fmt: skip
    """``socbal fleet`` for a home scenario (it has [home]): run and save the home fleet; False for any other scenario.
    A scenario without [fleet] is refused: its defaults draw no spread, so every device (or home) would be the same."""
    from socbal.home.scenario import home_scenario_from_dict, is_home
    from socbal.tomlfile import read_toml

    raw = read_toml(path, "scenario")
    if "fleet" not in raw:
        raise InputError(
            f"{path}: fleet: missing: socbal fleet draws its devices or homes from the scenario's [fleet] section "
            "(see examples/fleet.toml, examples/home_fleet.toml); for one device or home use socbal simulate"
        )
    if not is_home(raw):
        if homes is not None:
            raise InputError(f"--homes: value {homes} is not allowed: only for a home scenario (with [home]); use --devices")
        return False
    if devices is not None:
        raise InputError(f"--devices: value {devices} is not allowed for a home scenario: give the number of homes, --homes")
    from socbal.console import print_distribution
    from socbal.fleet.home_runner import run_home_fleet, run_home_fleet_dask

    spec = home_scenario_from_dict(raw, source=str(path), base_dir=path.parent)
    note = _compile_note_once("loop.advance_home", "the home simulator", 43)
    with activity(f"simulating the {spec.name} home fleet"):
        if on_dask:
            result = run_home_fleet_dask(spec, homes, seed, scheduler=scheduler, workers=workers, on_start=note)
        else:
            result = run_home_fleet(spec, homes, seed, on_start=note)
    default = Path("results") / f"{spec.name}-fleet"
    _save_results(result, out, default, lambda r: print_distribution(r.summary), quiet, as_json)
    return True


def _write_report(results: Path, out: Optional[Path], png: bool, quiet: bool) -> None:
    """Write the report of a results folder (any kind socbal writes) and say where it went (unless quiet)."""
    from socbal.report import REPORT_FILE, write_folder_report

    if out is not None and out.is_dir():
        out = out / REPORT_FILE
    with activity(f"writing the report of {results}"):
        html, pngs = write_folder_report(results, out, png=png)
    _announce_report(html, pngs, quiet)


@app.command(
    help=(
        "Write a self-contained, interactive HTML report of a results folder; it works offline.\n\n"
        "The page is chosen by what the folder holds: a fleet (socbal fleet) gets the distributions over the devices "
        "and the worst devices; a home fleet (socbal fleet HOME.toml) the pains' percentiles and histograms and the homes "
        "with the most avoidable import; a sizing study (socbal sweep) its table and the gain of each added pack; a comparison "
        "(socbal compare) and a lifetime study (socbal lifetime, written to lifetime.html) the page their --report "
        "writes; a home (socbal simulate HOME.toml) the pains' metrics (avoidable import and export, cross-charging, "
        "longest handover gap, writes per device per hour, device SOC spread), then per device SOC and power with its "
        "setpoints and the home's grid power; one device's run (socbal simulate) the headline numbers (self-sufficiency, "
        "self-consumption, round trip, losses by cause, cycles, time at reserve) and the summary tables, then, "
        "for runs up to two weeks, the SOC of every pack (true and estimated), the SOC spread with the backup reserve "
        "and the spec's 3-15 % band, stacked per-pack power, the energy flows and per-pack cycles; for longer runs "
        "the SOC and spread per day (min-max band and mean), a week view at full resolution, monthly energy and time "
        "at the reserve. The main figures are also written as PNG files for papers and issues. It reads the "
        "recorded results; nothing is re-simulated."
    )
)
@input_errors_exit
def report(
    results: Path = typer.Argument(..., help="Results folder written by socbal simulate, fleet, sweep, compare or lifetime."),
    out: Optional[Path] = typer.Option(
        None, "--out", "-o", help="HTML file to write (or a folder to write report.html into); default RESULTS/report.html."
    ),
    png: bool = typer.Option(
        True,
        "--png/--no-png",
        help="Also export the main figures (SOC, spread, power, energy flows) as PNG under figures/ beside the HTML file.",
    ),
) -> None:
    """Report a results folder (see the command help)."""
    _write_report(results, out, png=png, quiet=_output["quiet"])


@app.command(
    help=(
        "Compare a parallel bank, a series string and the DC-DC architecture with socbal's EMS on the same packs and "
        "the same battery demand (spec sections 4 and 5); print the table and write Parquet/JSON results.\n\n"
        "The packs keep their usable capacity (capacity x SOH), initial SOC and internal resistance; the optional "
        "[compare] section sets the chemistry (lfp, nmc), cells in series and a BMS trip current. All three run the "
        "device's battery demand, load minus PV within its limits, without AC backup charging. The results folder "
        "holds metrics.parquet (one row per topology), packs.parquet, spread.parquet (SOC spread over time), "
        "soc.parquet, profile.parquet, summary.json and scenario.json."
    )
)
@input_errors_exit
def compare(
    scenario: Path = typer.Argument(..., help="Scenario TOML file (see examples/compare_mixed.toml)."),
    out: Optional[Path] = _out_option("results/<scenario name>-compare"),
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    report: bool = _report_option(
        "Also write report.html and figures/*.png (SOC spread, SOC, metric bars) into the results folder."
    ),
) -> None:
    """Series, parallel and DC-DC side by side (see the command help)."""
    from socbal.compare import compare_scenario
    from socbal.console import print_comparison
    from socbal.scenario import load_scenario

    quiet = quiet or _output["quiet"]
    spec = load_scenario(scenario)
    with activity(f"comparing series, parallel and DC-DC on {spec.name}"):
        result = compare_scenario(spec)
    folder = _save_results(result, out, Path("results") / f"{spec.name}-compare", print_comparison, quiet, as_json)
    if report:
        from socbal.report.compare import write_comparison_page

        _write_page(write_comparison_page, "comparison", result, folder, quiet or as_json)


def _number_option(name: str, text: str, low: float, high: float, integer: bool = False) -> float:
    """A numeric option given as text, checked to lie in (low, high]; one clear error line otherwise."""
    try:
        value = int(text) if integer else float(text)
    except ValueError:
        raise InputError(f"{name}: value {text!r} is not allowed: must be a{'n integer' if integer else ' number'}") from None
    if not low < value <= high:
        raise InputError(f"{name}: value {text!r} is not allowed: must be > {low:g} and <= {high:g}")
    return value


@app.command(
    help=(
        "Battery lifetime under each EMS strategy: the same device, profiles and packs simulated once per strategy "
        f"({', '.join(STRATEGY_NAMES)}), then each pack's cycles counted and its capacity fade "
        "extrapolated with NREL's BLAST-Lite by repeating the simulated period.\n\n"
        "Prints years until the first pack reaches 80 % capacity, the capacity of each pack after --years, energy "
        "served and losses per year, and per pack SOC-swing equivalent full cycles (sum of |SOC change| / 200 %), "
        "deep cycles and time at high and low SOC. "
        "The optional [lifetime] section sets chemistry (lfp, nmc) and cell temperature_c (default lfp, 25 °C). The "
        "results folder holds strategies.parquet, packs.parquet, dod.parquet (rainflow histogram), fade.parquet "
        "(capacity trajectories), summary.json and scenario.json. Without BLAST-Lite it prints cycles and energy only."
    )
)
@input_errors_exit
def lifetime(
    scenario: Path = typer.Argument(..., help="Scenario TOML file (see examples/lifetime.toml); ideally one year."),
    years: str = typer.Option("10", "--years", "-y", metavar="YEARS", help="Report capacity after this many years (0-50]."),
    max_years: str = typer.Option(
        "30",
        "--max-years",
        metavar="YEARS",
        help="Follow the fade this far to find 80 % capacity (0-50]; later is shown as '> YEARS'.",
    ),
    strategies: str = typer.Option(
        ",".join(STRATEGY_NAMES),
        "--strategies",
        help="Comma-separated strategies to compare.",
    ),
    out: Optional[Path] = _out_option("results/<scenario name>-lifetime"),
    jobs: str = typer.Option("0", "--jobs", "-j", metavar="N", help="Processes for the fade model; 0: one per CPU."),
    save_runs: bool = typer.Option(
        False,
        "--save-runs",
        help="Also save each strategy's simulation results under "
        "runs/<strategy>/ (for socbal report; about 10 MB each for a year at 15 min).",
    ),
    quiet: QuietOption = False,
    as_json: JsonOption = False,
    report: bool = _report_option("Also write lifetime.html and figures/*.png into the results folder."),
) -> None:
    """Lifetime per strategy (see the command help)."""
    import os

    from socbal.console import print_study
    from socbal.lifetime.study import MAX_YEARS_LIMIT, run_study
    from socbal.scenario import load_scenario

    quiet = quiet or _output["quiet"]
    years_value = _number_option("--years", years, 0, MAX_YEARS_LIMIT)
    max_years_value = _number_option("--max-years", max_years, 0, MAX_YEARS_LIMIT)
    jobs_value = int(_number_option("--jobs", jobs, -1, 1024, integer=True)) or (os.cpu_count() or 1)
    names = [s.strip() for s in strategies.split(",") if s.strip()]
    spec = load_scenario(scenario)
    with activity(f"lifetime of {spec.name} under {count(len(names), 'strategy', 'strategies')}"):
        study = run_study(
            spec,
            years=years_value,
            strategies=names,
            max_years=max_years_value,
            workers=jobs_value,
            on_step=lambda text: log.info("lifetime: %s", text),
        )
    study.save_runs = save_runs
    folder = _save_results(study, out, Path("results") / f"{spec.name}-lifetime", print_study, quiet, as_json)
    if report:
        from socbal.report.lifetime import write_lifetime_page

        _write_page(write_lifetime_page, "lifetime", study, folder, quiet or as_json)


def _run_until_signal(coro_factory) -> None:
    """Run ``coro_factory(stop)`` until SIGINT/SIGTERM sets ``stop``."""
    import asyncio
    import signal

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, stop.set)
            except (NotImplementedError, RuntimeError):  # pragma: no cover - non-Unix
                pass
        await coro_factory(stop)

    try:
        asyncio.run(main())
    finally:
        # Stopped: exit now. The interpreter's last garbage collections over the ~200,000 objects the compiled EMS and
        # the servers leave took 1-2 s, and 9 s on a loaded machine (past a 10 s stop timeout); at exit they free nothing.
        gc.freeze()


def _run_home(cfg, log_level: str, reset_settings: bool) -> None:
    """``socbal run`` on a home config: the live home controller until SIGINT/SIGTERM."""
    import logging

    from socbal.homectl.controller import HomeController

    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    logging.getLogger("httpx").setLevel(max(logging.WARNING, logging.getLogger().level))  # no line per device request
    controller = HomeController.from_config(cfg, reset_settings=reset_settings)
    devices = ", ".join(f"{d.id} ({d.driver})" for d in cfg.devices)
    typer.echo(f"socbal run: home {cfg.name}, {devices}, meter {cfg.meter.kind}, period {cfg.home.period_s:g} s", err=True)
    _run_until_signal(controller.run)


@app.command()
@input_errors_exit
def run(
    config: Path = typer.Argument(
        ...,
        help="Runtime config TOML: one device (examples/runtime_modbus.toml) or a home (examples/run_home_mixed.toml).",
    ),
    log_level: str = typer.Option("info", "--log-level", help="debug, info, warning or error."),
    reset_settings: bool = typer.Option(
        False, "--reset-settings", help="Forget settings changed at run time (stored in runtime.state_db); use the config's."
    ),
) -> None:
    """Control a real or emulated device (per-pack setpoints), or a home of several devices behind a smart meter."""
    import logging

    from socbal.homectl.config import home_config_from_dict, is_home_config
    from socbal.runtime.config import config_from_dict
    from socbal.runtime.service import Runtime
    from socbal.tomlfile import read_toml

    if log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR"):
        raise InputError(f"--log-level: value {log_level!r} is not allowed: use debug, info, warning or error")
    raw = read_toml(config, "config")
    if is_home_config(raw):
        _run_home(home_config_from_dict(raw, str(config), config.parent), log_level, reset_settings)
        return
    cfg = config_from_dict(raw, source=str(config), base_dir=config.parent)
    logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    runtime = Runtime.from_config(cfg, reset_settings=reset_settings)
    typer.echo(
        f"socbal run: {cfg.name}, {count(len(cfg.packs), 'pack')}, link {cfg.link}, period {cfg.runtime.period_s:g} s", err=True
    )
    _run_until_signal(runtime.run)


#: The ``socbal emulate`` options each kind of scenario takes (parameter names); any other given is refused.
_EMULATE_COMMON = {"scenario", "host", "speed", "tick_s", "duration_s", "meter", "meter_port"}
_EMULATE_VENDOR = _EMULATE_COMMON | {"protocol", "port", "model", "serial"}
_EMULATE_SOCBAL = _EMULATE_COMMON | {"protocol", "modbus_port", "config", "mqtt", "mqtt_port", "mqtt_host", "base_topic"}
_EMULATE_SOCBAL |= {"watchdog_s"}


def _given_options(ctx: typer.Context) -> list[str]:
    """The parameters given on the command line (or from the environment), in their declared order."""
    sources = {name: ctx.get_parameter_source(name) for name in ctx.params}  # typer's own click: compare by name
    return [name for name, source in sources.items() if source is not None and source.name not in ("DEFAULT", "DEFAULT_MAP")]


def _refuse(given: list[str], allowed: set[str], why: str) -> None:
    """One error line for the first given option not in ``allowed``: ``--name: why``."""
    for name in given:
        if name not in allowed:
            raise InputError(f"--{name.replace('_', '-')}: {why}")


@app.command()
@input_errors_exit
def emulate(
    ctx: typer.Context,
    scenario: Path = typer.Argument(..., help="Scenario TOML file: one device, or a home (see examples/home_emulated.toml)."),
    host: str = typer.Option("127.0.0.1", "--host", help="Address the servers listen on."),
    modbus_port: int = typer.Option(5020, "--modbus-port", help="Modbus TCP port; 0 disables Modbus."),
    config: Optional[Path] = typer.Option(None, "--config", help="Runtime config: take its register map and [mqtt] section."),
    mqtt: bool = typer.Option(False, "--mqtt", help="Also publish over MQTT (broker from --config, else --mqtt-port)."),
    mqtt_port: Optional[int] = typer.Option(None, "--mqtt-port", help="Broker port on --mqtt-host (implies --mqtt)."),
    mqtt_host: str = typer.Option("127.0.0.1", "--mqtt-host", help="Broker host when no --config gives one."),
    base_topic: str = typer.Option("socbal/device1", "--base-topic", help="MQTT base topic when no --config gives one."),
    speed: float = typer.Option(1.0, "--speed", help="Simulated seconds per wall-clock second."),
    watchdog_s: float = typer.Option(10.0, "--watchdog-s", help="Setpoints fall back to 0 after this long without one, s."),
    tick_s: float = typer.Option(0.2, "--tick-s", help="Wall-clock step of the emulation, s."),
    duration_s: Optional[float] = typer.Option(
        None, "--duration-s", min=0.0, metavar="<float>", help="Stop after this many wall-clock seconds."
    ),
    protocol: str = typer.Option("socbal", "--protocol", help="socbal (its own Modbus map/MQTT), indevolt, zendure or marstek."),
    port: Optional[int] = typer.Option(None, "--port", help="Port of a vendor protocol (default 8080, 80, 502)."),
    model: Optional[str] = typer.Option(None, "--model", help="Vendor model, e.g. sf2000, solarflow-800, venus-e-v3."),
    serial: Optional[str] = typer.Option(None, "--serial", help="Serial number the vendor device reports."),
    meter: Optional[str] = typer.Option(None, "--meter", help="Also serve the grid meter: shelly-pro-3em or homewizard-p1."),
    meter_port: int = typer.Option(8000, "--meter-port", help="Port of the --meter."),
) -> None:
    """Serve a simulated device over Modbus TCP (and MQTT), or a vendor protocol (--protocol), or a home (each device
    on its own protocol and port), in real time or faster."""
    import asyncio

    from socbal.runtime.config import MqttConfig, RegisterMap, load_config
    from socbal.runtime.emulator import EmulatedDevice, serve
    from socbal.runtime.mqtt_login import checked_password
    from socbal.scenario import load_scenario

    for name, value, low, high in (
        ("--speed", speed, 0.001, 1e6),
        ("--watchdog-s", watchdog_s, 0.1, 3600),
        ("--tick-s", tick_s, 0.01, 60),
        ("--modbus-port", modbus_port, 0, 65535),
    ):
        if not low <= value <= high:
            raise InputError(f"{name}: value {value} is not allowed: must be {low:g}..{high:g}")
    from socbal.home.scenario import is_home
    from socbal.tomlfile import read_toml

    raw = read_toml(scenario, "scenario")
    given = _given_options(ctx)  # an option the chosen mode would not use is refused, never silently dropped
    if "meter_port" in given and meter is None:
        raise InputError("--meter-port: only with --meter (shelly-pro-3em or homewizard-p1)")
    if is_home(raw):
        home_why = "not for a home scenario: each [[devices]] entry has its own protocol, port, model (socbal-mqtt: its mqtt);"
        home_why += " a home takes --host, --meter, --meter-port, --speed, --tick-s, --duration-s"
        _refuse(given, _EMULATE_COMMON, home_why)
        _emulate_home(raw, scenario, host, meter, meter_port, speed, tick_s, duration_s)
        return
    spec = load_scenario(scenario)
    if protocol != "socbal":
        _emulate_vendor(spec, protocol, host, port, model, serial, meter, meter_port, speed, tick_s, duration_s, given)
        return
    # silently dropped before: e.g. --port 5021 served on 5020
    why = "not for --protocol socbal (socbal's own map: its port is --modbus-port); use a vendor --protocol"
    _refuse(given, _EMULATE_SOCBAL, why)
    wants_mqtt = mqtt or mqtt_port is not None
    if modbus_port == 0 and not wants_mqtt:
        raise InputError("--modbus-port: value 0 (no Modbus) is not allowed without --mqtt: nothing would serve the device")
    if not wants_mqtt:
        _refuse(given, _EMULATE_SOCBAL - {"mqtt_host", "base_topic"}, "only with --mqtt (or --mqtt-port)")
    reg_map, mqtt_cfg, password = RegisterMap(), None, None
    if config is not None:
        rcfg = load_config(config)
        if rcfg.modbus is not None:
            reg_map = rcfg.modbus.map
        if rcfg.mqtt is not None and wants_mqtt:
            _refuse(
                given,
                _EMULATE_SOCBAL - {"mqtt_port", "mqtt_host", "base_topic"},
                f"not with {config}'s [mqtt]: it gives the broker",
            )
            mqtt_cfg = rcfg.mqtt.model_copy(update={"client_id": rcfg.mqtt.client_id + "-emulator", "discovery": False})
            password = checked_password(mqtt_cfg, f"{config}: mqtt")
    if mqtt_cfg is None and wants_mqtt:
        mqtt_cfg = MqttConfig(host=mqtt_host, port=mqtt_port or 1883, client_id="socbal-emulator", base_topic=base_topic)
    if len(spec.all_packs) * reg_map.pack_stride + reg_map.pack_base > 65000:
        raise InputError("too many packs for the register map")
    _check_meter(meter, meter_port)
    device = EmulatedDevice(spec, reg_map, speed=speed, watchdog_s=watchdog_s)
    where = [f"modbus {host}:{modbus_port}"] if modbus_port else []
    if mqtt_cfg is not None:
        where.append(f"mqtt {mqtt_cfg.host}:{mqtt_cfg.port} {mqtt_cfg.base_topic}")
    if meter is not None:
        where.append(f"{meter} {host}:{meter_port}")

    def ready() -> None:
        typer.echo(
            f"emulating {spec.name} ({', '.join(device.ids)}) on {', '.join(where) or 'nothing'}; speed {speed:g}x", err=True
        )

    async def main(stop: asyncio.Event) -> None:
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        runs = [
            serve(
                device,
                stop,
                host=host,
                modbus_port=modbus_port or None,
                mqtt=mqtt_cfg,
                mqtt_password=password,
                tick_s=tick_s,
                on_ready=ready,
            )
        ]
        if meter is not None:  # the device's grid: its load - PV - battery
            from socbal.emulators.http import serve_app
            from socbal.emulators.meters import MeterKind, meter_app

            kind = cast(MeterKind, meter)  # checked by _check_meter
            runs.append(serve_app(meter_app(kind, device.grid_w), stop, host, meter_port))
        await asyncio.gather(*runs)

    _run_until_signal(main)


def _check_meter(meter: Optional[str], meter_port: int) -> None:
    """``--meter`` names a known meter and ``--meter-port`` is a TCP port."""
    if meter is not None and meter not in ("shelly-pro-3em", "homewizard-p1"):
        raise InputError(f"--meter: value {meter!r} is not allowed: use shelly-pro-3em or homewizard-p1")
    if not 1 <= meter_port <= 65535:
        raise InputError(f"--meter-port: value {meter_port} is not allowed: must be 1..65535")


def _emulate_home(raw: dict, path: Path, host, meter, meter_port, speed, tick_s, duration_s) -> None:
    """``socbal emulate HOME.toml``: every device on its protocol and port, one clock, the meter (``--meter``)."""
    import asyncio

    from socbal.emulators.home import EmulatedHome, serve_home
    from socbal.home.scenario import home_scenario_from_dict

    _check_meter(meter, meter_port)
    home = EmulatedHome(home_scenario_from_dict(raw, source=str(path), base_dir=path.parent), speed=speed)
    if meter is not None and meter_port in home.ports.values():
        dev_id = next(i for i, p in home.ports.items() if p == meter_port)
        raise InputError(f"--meter-port: value {meter_port} is not allowed: already the port of device {dev_id!r}")
    where = home.addresses(host) + ([f"{meter} {host}:{meter_port}"] if meter else [])

    def ready() -> None:
        typer.echo(f"emulating the home {home.scenario.name}: {', '.join(where)}; speed {speed:g}x", err=True)

    async def main(stop: asyncio.Event) -> None:
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        await serve_home(home, stop, host, meter, meter_port if meter else None, tick_s, on_ready=ready)

    _run_until_signal(main)


def _emulate_vendor(spec, protocol, host, port, model, serial, meter, meter_port, speed, tick_s, duration_s, given) -> None:
    """``socbal emulate --protocol indevolt|zendure|marstek``: checks its options, then serves until stopped."""
    import asyncio

    from socbal.drivers import indevolt_http, marstek_modbus, zendure_http
    from socbal.emulators import serve
    from socbal.home.scenario import SERIAL_PROTOCOLS

    models: dict[str, list[str]] = {
        "indevolt": list(indevolt_http.MAX_POWER_W),
        "zendure": list(zendure_http.MODEL_LIMITS_W),
        "marstek": list(marstek_modbus.MAPS),
    }
    if protocol not in models:
        raise InputError(f"--protocol: value {protocol!r} is not allowed: use socbal, indevolt, zendure or marstek")
    if model is not None and model not in models[protocol]:
        raise InputError(f"--model: value {model!r} is not allowed for {protocol}: use {', '.join(models[protocol])}")
    _check_meter(meter, meter_port)
    _refuse(given, _EMULATE_VENDOR, f"only with --protocol socbal (not for {protocol})")
    if serial is not None and protocol not in SERIAL_PROTOCOLS:
        raise InputError(f"--serial: not for {protocol}: it reports no serial number (only {', '.join(SERIAL_PROTOCOLS)} do)")
    port = port if port is not None else serve.DEFAULT_PORT[protocol]
    if not 1 <= port <= 65535:
        raise InputError(f"--port: value {port} is not allowed: must be 1..65535")
    emulator = serve.build(protocol, spec, model, serial, speed)
    where = f"{protocol} {host}:{port}" + (f", {meter} {host}:{meter_port}" if meter else "")

    def ready() -> None:
        typer.echo(f"emulating {spec.name} ({', '.join(emulator.device.packs.ids)}) on {where}; speed {speed:g}x", err=True)

    async def main(stop: asyncio.Event) -> None:
        if duration_s is not None:
            asyncio.get_running_loop().call_later(duration_s, stop.set)
        await serve.serve_vendor(emulator, stop, host, port, tick_s, meter, meter_port, on_ready=ready)

    _run_until_signal(main)


@app.command(
    help=(
        "Write the example scenarios shipped with socbal into DIR (default ./examples), to start from: "
        "socbal init && socbal simulate examples/spec_example.toml. Existing files are kept unless --force."
    )
)
@input_errors_exit
def init(
    folder: Path = typer.Argument(Path("examples"), metavar="DIR", help="Folder to write the examples into."),
    force: bool = typer.Option(False, "--force", help="Overwrite example files that already exist."),
) -> None:
    """Write the shipped examples (see the command help)."""
    from socbal.bundled import write_examples

    written = write_examples(folder, force=force)
    if not _output["quiet"]:
        typer.echo(f"{len(written)} example scenarios written to {folder}/ ({', '.join(p.name for p in written[:4])}, …)")


def _int_list(name: str, text: str | None, low: int, high: int, what: str) -> list[int] | None:
    """'0..3' or '0,1,3' as a list of integers, each ``low..high``; one clear error line naming ``text`` otherwise."""
    if text is None:
        return None
    try:
        if ".." in text:
            first, last = (int(v) for v in text.split(".."))
            values = [first, last] if first <= last else []
        else:
            values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: value {text!r} is not allowed: give a range like 0..3 or a list like 0,1,3") from None
    if any(not low <= v <= high for v in values):
        raise InputError(f"{name}: value {text!r} is not allowed: every value must be within {low}..{high} {what}")
    return list(range(values[0], values[1] + 1)) if ".." in text and values else values


def _float_list(name: str, text: str | None, what: str) -> list[float] | None:
    """'0.8,1.6,2.4' as a list of numbers, each finite and > 0; one clear error line naming ``text`` otherwise."""
    if text is None:
        return None
    try:
        values = [float(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise InputError(f"{name}: value {text!r} is not allowed: give numbers separated by commas, e.g. 0.8,1.6") from None
    if any(not (math.isfinite(v) and v > 0) for v in values):
        raise InputError(f"{name}: value {text!r} is not allowed: every value must be a number > 0 {what}")
    return values


@app.command(
    help=(
        "Sizing study: should I add a pack? Simulate every combination of expansion-pack count, PV size and strategy "
        "on the scenario's profiles and print, per combination, grid import, self-sufficiency, losses and cycles per "
        "pack (scaled to a year) and the marginal gain of each added pack (kWh/yr saved per kWh of storage added).\n\n"
        "Added packs copy the scenario's last expansion pack. Options override the scenario's [sweep] section; a "
        "[tariff] section (flat or time-of-use import price, feed-in price) turns energy into money, and with a pack "
        "price the payback per added pack. The results folder holds sweep.parquet, summary.json, scenario.json and "
        "report.html. Combinations run over this machine's cores; with --dask on a Dask LocalCluster."
    )
)
@input_errors_exit
def sweep(
    scenario: Path = typer.Argument(..., help="Scenario TOML file (ideally a year; see examples/sizing.toml)."),
    packs: Optional[str] = typer.Option(None, "--packs", help="Expansion packs to try: a range 0..3 or a list 0,1,3."),
    pv_kwp: Optional[str] = typer.Option(
        None, "--pv-kwp", help="PV sizes to try, kWp, e.g. 0.8,1.6,2.4 (needs [pv] kind pvlib)."
    ),
    strategy: Optional[list[str]] = typer.Option(
        None, "--strategy", metavar="<str>", help="Strategy to try; repeat for several."
    ),
    pack_price: Optional[float] = typer.Option(None, "--pack-price", help="Price of one added pack (needs [tariff])."),
    workers: int = typer.Option(0, "--workers", help="Processes (or Dask workers); 0: one per CPU."),
    dask: DaskOption = False,
    scheduler: SchedulerOption = None,
    out: Optional[Path] = _out_option("results/<name>-sweep"),
    quiet: QuietOption = False,
) -> None:
    """Sizing study (see the command help)."""
    from socbal.console import output_console
    from socbal.report import REPORT_FILE, write_folder_report
    from socbal.scenario import load_scenario
    from socbal.scenario.studies import MAX_SWEEP_PACKS
    from socbal.sweep import run_sweep
    from socbal.sweep.show import print_sweep

    quiet = bool(quiet or _output["quiet"])
    if workers < 0:
        raise InputError(f"--workers: value {workers} is not allowed: must be >= 0")
    if pack_price is not None and pack_price < 0:
        raise InputError(f"--pack-price: value {pack_price:g} is not allowed: must be >= 0")
    spec = load_scenario(scenario)
    with activity(f"sizing {spec.name}") as progress:
        result = run_sweep(
            spec,
            packs=_int_list("--packs", packs, 0, MAX_SWEEP_PACKS, "expansion packs"),
            pv_kwp=_float_list("--pv-kwp", pv_kwp, "kWp"),
            strategies=strategy or None,
            pack_price=pack_price,
            workers=workers or None,
            dask=dask,
            scheduler=scheduler,
            progress=progress,
        )
    folder = _save_results(result, out, Path("results") / f"{spec.name}-sweep", lambda r: print_sweep(r, output_console()), quiet)
    html, pngs = write_folder_report(folder, folder / REPORT_FILE)
    _announce_report(html, pngs, quiet)


def main() -> None:  # pragma: no cover - entry point for ``python -m socbal``
    app()
