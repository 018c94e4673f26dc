"""The runtime's state on real SQLite: a locked database (2), retention (9), one runtime per state file (10),
tokens refused at start (11), stored settings announced and reset (12); plus the bounded JSON parser and the
runtime package's import graph.
"""

from __future__ import annotations

import ast
import asyncio
import json
import logging
import re
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

import socbal.runtime
from socbal.errors import InputError
from socbal.runtime.emulator import serve
from socbal.runtime.payload import parse_json
from socbal.runtime.service import Runtime
from socbal.runtime.store import StateStore, trim_events
from tests.emulators.harness import LoopLag

from .conftest import LOOPBACK, emulated_device, free_port, runtime_config, stop_all, wait_until

pytestmark = pytest.mark.timeout(90)


# --- 2: a locked database neither blocks the loop nor loses what was accepted --------------------


def test_a_locked_database_does_not_stop_setpoints_and_loses_nothing(tmp_path):
    port = free_port()
    cfg = runtime_config(tmp_path, modbus_port=port, setpoint_log_interval_s=0.2)
    device = emulated_device()

    async def scenario() -> tuple[float, int]:
        stop_dev, stop_rt = asyncio.Event(), asyncio.Event()
        dev_task = asyncio.create_task(serve(device, stop_dev, host=LOOPBACK, modbus_port=port, tick_s=0.05))
        rt = Runtime(cfg)
        rt_task = asyncio.create_task(rt.run(stop_rt))
        blocker = sqlite3.connect(str(cfg.runtime.state_db), isolation_level=None)
        try:
            await wait_until(lambda: rt.last_plan is not None and rt.last_plan.setpoints_w["p1"] > 0, 15, "driving")
            blocker.execute("BEGIN EXCLUSIVE")  # another process holds the write lock
            async with LoopLag() as lag:  # a loaded machine's stalls of the loop: not the runtime's
                cycles, rt.max_cycle_s, locked_s = rt.cycles, 0.0, time.monotonic()
                rt.settings.propose({"backup_reserve_pct": 22}, "http")  # accepted while locked
                await wait_until(lambda: "eventlog" in rt.faults.active, 5, "eventlog fault shown")
                assert rt.state()["eventlog"]["pending"] > 0
                # 2 s of the loop's own time while locked, however long a stalled machine takes to give them
                await wait_until(lambda: time.monotonic() - locked_s - lag.late_s >= 2.0, 30, "2 s of loop time")
                assert rt.cycles - cycles >= 8, "the control loop stalled"
                assert rt.max_cycle_s < 0.3 + lag.late_s, (rt.max_cycle_s, lag.late_s)
            assert rt.settings.current.backup_reserve_pct == 22
            assert not device.watchdog_tripped and device.power_w[1] > 0, "setpoints stopped flowing"
            blocker.execute("ROLLBACK")
            await wait_until(lambda: "eventlog" not in rt.faults.active, 10, "eventlog writable again")
        finally:
            blocker.close()
            await stop_all((stop_rt, stop_dev), (rt_task, dev_task))
        return rt.max_cycle_s, rt.store.writer.dropped

    max_cycle_s, dropped = asyncio.run(scenario())
    assert dropped == 0
    store = StateStore(cfg.runtime.state_db)
    events = store.events(limit=100_000)
    assert store.load_settings().backup_reserve_pct == 22
    store.close()
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "stop"
    assert not [e for e in events if e["kind"] == "link" or (e["kind"] == "fault" and not e["message"].startswith("eventlog"))]
    assert any(e["kind"] == "setting" and "backup_reserve_pct=22" in e["message"] for e in events)
    assert any(e["kind"] == "fault" and e["message"].startswith("eventlog:") for e in events)
    assert any(e["kind"] == "recovered" and e["message"].startswith("eventlog") for e in events)
    assert [e["id"] for e in events] == sorted(e["id"] for e in events)
    ts = [e["ts"] for e in events]
    assert ts == sorted(ts), "events were written out of order"


# --- 9: retention by age and by size --------------------------------------------------------------


def test_retention_drops_old_events_and_keeps_the_file_under_its_cap(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore(path, housekeeping_s=3600)
    now = time.time()
    rows = [(now - 400 * 86400 + i, "setpoints", None, "old " + "z" * 250, None) for i in range(2000)]
    rows += [(now - 3600 + i * 0.1, "setpoints", None, f"new {i} " + "z" * 250, None) for i in range(12000)]
    sql = "INSERT INTO events (ts, kind, pack_id, message, data) VALUES (?, ?, ?, ?, ?)"
    for i in range(0, len(rows), 1000):
        assert store.writer.submit([(sql, r) for r in rows[i : i + 1000]])
    assert store.flush(30)
    store.close()
    size_full = path.stat().st_size
    assert size_full > 3_000_000
    conn = sqlite3.connect(str(path), isolation_level=None)
    deleted = trim_events(conn, retention_s=365 * 86400, max_bytes=1_000_000)
    remaining = conn.execute("SELECT min(ts), count(*), max(message) FROM events").fetchone()
    conn.close()
    assert deleted >= 2000 and remaining[0] > now - 365 * 86400  # nothing older than a year is left
    assert path.stat().st_size <= 1_000_000, path.stat().st_size  # the space came back to the file system
    assert "new 11999" in remaining[2] or remaining[1] > 0
    store = StateStore(path)  # the newest are kept
    last = store.events(after_id=0, limit=100_000)[-1]
    store.close()
    assert last["message"].startswith("new 11999")


def test_the_writer_runs_retention_by_itself(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1, event_log_max_mb=1, housekeeping_s=1)
    store = StateStore(cfg.runtime.state_db, max_mb=cfg.runtime.event_log_max_mb, housekeeping_s=cfg.runtime.housekeeping_s)
    try:
        for i in range(8000):
            store.log("setpoints", f"{i} " + "q" * 300)
        assert store.flush(30)
        time.sleep(1.1)
        store.log("stop", "last")
        assert store.flush(30)
        assert cfg.runtime.state_db.stat().st_size <= 1_100_000
        assert store.events(after_id=0, limit=100_000)[-1]["message"] == "last"
    finally:
        store.close()


def test_default_retention_keeps_a_year_under_200_mb():
    cfg = runtime_config(Path("/tmp"), modbus_port=1)
    assert cfg.runtime.event_retention_days >= 365 and cfg.runtime.event_log_max_mb <= 200


# --- 10: one runtime per state file ---------------------------------------------------------------


def test_a_second_runtime_on_the_same_state_file_is_refused(tmp_path):
    cfg = runtime_config(tmp_path, modbus_port=1)
    first = Runtime(cfg)
    try:
        with pytest.raises(InputError, match="already uses this state file"):
            Runtime(cfg)
        config = tmp_path / "rt.toml"
        config.write_text(
            f'link = "modbus"\n[runtime]\nstate_db = "{cfg.runtime.state_db}"\n[modbus]\nport = 1\n'
            '[[packs]]\nid = "main"\ncapacity_wh = 1920\nmax_discharge_w = 1200\nmax_charge_w = 1200\n'
        )
        r = subprocess.run([sys.executable, "-m", "socbal", "run", str(config)], capture_output=True, text=True, timeout=60)
        assert r.returncode == 2 and r.stdout == ""
        lines = r.stderr.strip().splitlines()
        assert len(lines) == 1 and "already uses this state file" in lines[0] and "Traceback" not in r.stderr
    finally:
        first.close()
    Runtime(cfg).close()  # free again once the first is gone


# --- 11: tokens that could never match are refused at start ---------------------------------------


@pytest.mark.parametrize("value", ["", " tok-123", "tok-123 ", "tök-123", "tok 123"])
def test_an_unusable_api_token_is_refused_at_start(tmp_path, monkeypatch, value):
    monkeypatch.setenv("SOCBAL_TEST_API_TOKEN", value)
    cfg = runtime_config(tmp_path, modbus_port=1, http={"token_env": "SOCBAL_TEST_API_TOKEN"})
    with pytest.raises(InputError, match="SOCBAL_TEST_API_TOKEN is not allowed") as err:
        Runtime.from_config(cfg)
    assert value.strip() == "" or value.strip() not in str(err.value)  # never shown
    monkeypatch.setenv("SOCBAL_TEST_API_TOKEN", "tok-123_abc.~+/==")
    Runtime.from_config(cfg).close()


# --- 12: stored settings are announced at start and can be reset ---------------------------------


def test_stored_settings_are_announced_at_start_and_reset_on_request(tmp_path, caplog):
    cfg = runtime_config(tmp_path, modbus_port=free_port(), startup_wait_s=0)
    rt = Runtime(cfg)
    rt.settings.propose({"backup_reserve_pct": 35}, "http")
    rt.close()

    async def run_briefly(rt: Runtime) -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(rt.run(stop))
        await asyncio.sleep(0.3)
        await stop_all((stop,), (task,))

    rt = Runtime(cfg)
    assert rt.settings.current.backup_reserve_pct == 35
    with caplog.at_level(logging.WARNING, logger="socbal.runtime"):
        asyncio.run(run_briefly(rt))
    notes = [r.getMessage() for r in caplog.records if "stored state" in r.getMessage()]
    assert len(notes) == 1 and "backup_reserve_pct=35.0 (config 10.0)" in notes[0] and "--reset-settings" in notes[0]
    rt = Runtime(cfg, reset_settings=True)
    assert rt.settings.current.backup_reserve_pct == 10 and rt.settings.stored_overrides() == {}
    rt.close()
    rt = Runtime(cfg)  # the reset is persisted
    assert rt.settings.current.backup_reserve_pct == 10
    events = rt.store.events(limit=10_000)
    rt.close()
    assert any(e["kind"] == "start" and "backup_reserve_pct=35.0" in e["message"] for e in events)
    assert events[-1]["kind"] == "setting" and "--reset-settings" in events[-1]["message"]
    r = subprocess.run([sys.executable, "-m", "socbal", "run", "--help"], capture_output=True, text=True, timeout=60)
    assert "--reset-settings" in r.stdout


# --- the bounded parser and the import graph ------------------------------------------------------


@given(
    st.binary(max_size=300)
    | st.recursive(st.integers() | st.floats() | st.text(), lambda c: st.lists(c) | st.dictionaries(st.text(), c)).map(
        lambda v: json.dumps(v).encode()
    )
)
def test_parse_json_returns_a_value_or_one_value_error(payload):
    try:
        parse_json(payload, max_bytes=200, max_depth=3, max_int_digits=5)
    except ValueError as err:
        assert "\n" not in str(err) and len(str(err)) <= 200


def test_parse_json_limits():
    assert parse_json(b'{"a": [1, 2.5, "x"]}') == {"a": [1, 2.5, "x"]}
    for bad, why in [
        (b"[" * 40 + b"]" * 40, "nested"),
        (b'{"a": ' + b"9" * 21 + b"}", "digits"),
        (b'{"a": NaN}', "NaN"),
        (b"x" * 5000, "too large"),
        (b"\xff", "UTF-8"),
        (b'{"a": "[[[[[[[[[[[[[[[[[[[[[[[[[[["}', None),  # brackets in strings do not count
    ]:
        if why is None:
            assert parse_json(bad)["a"].startswith("[")
            continue
        with pytest.raises(ValueError, match=why):
            parse_json(bad)


def test_runtime_modules_import_only_those_listed_above_them():
    """The package docstring's module list is the layer order: no module imports one listed below it (so no circle)."""
    folder = Path(socbal.runtime.__file__).parent
    order = re.findall(r"^- :mod:`\.(\w+)`", socbal.runtime.__doc__ or "", re.MULTILINE)
    assert sorted(order) == sorted(p.stem for p in folder.glob("*.py") if p.stem != "__init__")
    for i, name in enumerate(order):
        tree = ast.parse((folder / f"{name}.py").read_text())  # TYPE_CHECKING imports count too
        deps = {
            n.module.split(".")[2]
            for n in ast.walk(tree)
            if isinstance(n, ast.ImportFrom) and n.module and n.module.startswith("socbal.runtime.")
        }
        assert deps <= set(order[:i]), f"{name} imports {sorted(deps - set(order[:i]))}, listed below it"


def test_the_write_queue_is_bounded_and_keeps_what_it_accepted(tmp_path):
    path = tmp_path / "s.sqlite"
    store = StateStore(path, queue_max=5)
    assert store.flush()
    blocker = sqlite3.connect(str(path), isolation_level=None)
    blocker.execute("BEGIN EXCLUSIVE")
    try:
        accepted = [store.log("fault", f"while locked {i}") for i in range(40)]
        t0 = time.monotonic()
        assert not store.log("fault", "one more") and time.monotonic() - t0 < 0.05  # refused at once, never blocks
        assert 5 <= sum(accepted) <= 7 and store.writer.dropped == 40 - sum(accepted) + 1
        deadline = time.monotonic() + 5
        while store.fault is None and time.monotonic() < deadline:
            time.sleep(0.02)
        assert store.fault is not None and "locked" in store.fault
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert store.flush(10) and store.fault is None
    messages = [e["message"] for e in store.events()]
    store.close()
    assert messages == [f"while locked {i}" for i, ok in enumerate(accepted) if ok]
