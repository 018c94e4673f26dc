"""An emulated home (one Indevolt, one Zendure, one Marstek, a Shelly meter) seen from plain clients written from
the vendor documentation: OpenData JSON-RPC and zenSDK over httpx, Modbus TCP holding registers over pymodbus."""

from __future__ import annotations

import asyncio
import copy
import json
import socket

import httpx
import pytest
from pymodbus.client import AsyncModbusTcpClient

from socbal.emulators.home import EmulatedHome, serve_home
from socbal.errors import InputError
from socbal.home.engine import simulate_home
from socbal.home.scenario import home_scenario_from_dict
from socbal.tomlfile import read_toml
from tests.emulators.harness import until
from tests.emulators.home_harness import SN, HomeInThread, mixed_home, serving_home, with_free_ports
from tests.runtime.conftest import EXAMPLES, LOOPBACK, free_port

INDEVOLT_MIN_GAP_S = 1.05  # the OpenData documentation's 1 s minimum between requests


async def indevolt(c: httpx.AsyncClient, api: str, config: dict) -> httpx.Response:
    await asyncio.sleep(INDEVOLT_MIN_GAP_S)
    return await c.post(f"/rpc/{api}", params={"config": json.dumps(config)})


async def shelly_w(c: httpx.AsyncClient, port: int) -> float:
    r = await c.get(f"http://{LOOPBACK}:{port}/rpc/EM.GetStatus", params={"id": 0})
    return r.json()["total_act_power"]


async def modbus_client(port: int) -> AsyncModbusTcpClient:
    client = AsyncModbusTcpClient(LOOPBACK, port=port, timeout=2, retries=0)
    assert await client.connect()
    return client


async def take_control(c: httpx.AsyncClient, mk: AsyncModbusTcpClient) -> None:
    """Indevolt real-time mode in standby; Marstek RS485 control (0x55AA) in standby: nobody follows the meter."""
    assert (await indevolt(c, "Indevolt.SetData", {"f": 16, "t": 47005, "v": [4]})).json() == {"result": True}
    assert (await indevolt(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": [0, 0, 5]})).json() == {"result": True}
    for address, value in ((42000, 0x55AA), (42010, 0)):
        assert not (await mk.write_register(address, value, device_id=1)).isError()


def test_each_device_answers_its_own_protocol_on_its_port():
    async def scenario():
        home = EmulatedHome(with_free_ports(mixed_home(load_w=900, zendure_pv_w=200)))
        async with serving_home(home) as meter_port:
            assert meter_port is not None
            async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{home.ports['indevolt']}", timeout=5) as iv:
                grid_before_w = home.grid_w()  # the devices ramp towards zero export meanwhile
                r = await iv.post("/rpc/Indevolt.GetData", params={"config": json.dumps({"t": [6002, 9000, 142, 11016]})})
                grid_after_w = home.grid_w()
                values = r.json()  # SOC %, main battery SOC %, rated kWh, and the meter it sees: the home's grid
                assert {k: values[k] for k in ("6002", "9000", "142")} == {"6002": 80.0, "9000": 80.0, "142": 2.0}
                low_w, high_w = sorted((grid_before_w, grid_after_w))
                assert low_w - 1 <= values["11016"] <= high_w + 1  # the grid at the moment it answered, rounded to 1 W
            async with httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{home.ports['zendure']}", timeout=5) as zd:
                report = (await zd.get("/properties/report")).json()
                assert report["sn"] == SN and [p["socLevel"] for p in report["packData"]] == [70]
                assert report["properties"]["solarInputPower"] == 200
            mk = await modbus_client(home.ports["marstek"])
            try:
                assert (await mk.read_holding_registers(34002, count=1, device_id=1)).registers == [600]  # 0.1 %
            finally:
                mk.close()
            async with httpx.AsyncClient(timeout=5) as c:
                # Indevolt and Marstek start in their own zero-export mode and cover what the Zendure's PV leaves
                await until(lambda: abs(home.meter_w()) < 5, timeout_s=10)
                assert abs(await shelly_w(c, meter_port)) < 5
                assert home.snapshot().ac_output_w["zendure"] == pytest.approx(200, abs=1)

    asyncio.run(scenario())


def test_a_command_on_each_device_lowers_the_meter_by_that_much_after_its_latency():
    async def scenario():
        raw = mixed_home(load_w=2500, zendure_pv_w=300)
        for dev in raw["devices"]:
            dev["actuator_latency_s"], dev["ramp_w_per_s"] = 1.0, 1000  # 1 s, then 0.5 s of ramp for 500 W
        home = EmulatedHome(with_free_ports(raw))
        async with (
            serving_home(home) as meter_port,
            httpx.AsyncClient(base_url=f"http://{LOOPBACK}:{home.ports['indevolt']}", timeout=5) as c,
        ):
            assert meter_port is not None
            mk = await modbus_client(home.ports["marstek"])
            try:
                await take_control(c, mk)
                await until(lambda: home.meter_w() == pytest.approx(2200, abs=2), timeout_s=10)  # load - Zendure PV
                expected = 2200.0
                zendure = f"http://{LOOPBACK}:{home.ports['zendure']}/properties/write"
                commands = (
                    ("zendure", 500, lambda: c.post(zendure, json={"sn": SN, "properties": {"acMode": 2, "outputLimit": 500}})),
                    ("indevolt", 400, lambda: indevolt(c, "Indevolt.SetData", {"f": 16, "t": 47015, "v": [2, 400, 5]})),
                    ("marstek", 600, None),
                )
                for dev_id, power_w, send in commands:
                    before = home.grid_w()
                    if send is None:
                        await mk.write_register(42021, power_w, device_id=1)
                        assert not (await mk.write_register(42010, 2, device_id=1)).isError()
                    else:
                        assert (await send()).status_code == 200
                    assert home.grid_w() == pytest.approx(before, abs=2)  # not yet: the actuator latency
                    expected -= power_w
                    await until(lambda e=expected: abs(home.meter_w() - e) < 3, timeout_s=8)
                    assert await shelly_w(c, meter_port) == pytest.approx(expected, abs=3), dev_id
                    assert home.devices[dev_id].true_state().battery_power_w == pytest.approx(power_w, abs=3)
            finally:
                mk.close()

    asyncio.run(scenario())


def test_a_dropped_out_device_is_unreachable_for_its_seconds_then_back():
    async def scenario():
        home = EmulatedHome(with_free_ports(mixed_home()))
        async with serving_home(home), httpx.AsyncClient(timeout=0.3) as c:
            report = f"http://{LOOPBACK}:{home.ports['zendure']}/properties/report"
            away = [home.devices["zendure"], home.devices["marstek"]]
            for dev in away:  # 2 s: the checks below take 0.6 s, and a loaded machine may stall them for a while
                dev.drop_out(2.0)
            with pytest.raises(httpx.TimeoutException):
                await c.get(report)
            mk = AsyncModbusTcpClient(LOOPBACK, port=home.ports["marstek"], timeout=0.3, retries=0, reconnect_delay=0)
            await mk.connect()
            await until(lambda: not mk.connected, timeout_s=1)  # refused while away
            mk.close()
            # the others keep answering
            assert (await c.get(f"http://{LOOPBACK}:{home.ports['indevolt']}/rpc/Sys.GetConfig")).status_code == 200
            await until(lambda: all(dev.online() for dev in away), timeout_s=3)
            assert (await c.get(report)).status_code == 200
            mk = await modbus_client(home.ports["marstek"])
            try:
                assert (await mk.read_holding_registers(34002, count=1, device_id=1)).registers == [600]
            finally:
                mk.close()

    asyncio.run(scenario())


def test_two_devices_on_one_port_are_refused_with_one_line():
    raw = mixed_home()
    for dev in raw["devices"]:
        dev["port"] = 18500
    with pytest.raises(InputError) as err:
        home_scenario_from_dict(raw)
    assert str(err.value) == (
        "scenario: devices[1].port: value 18500 is not allowed: already the port of device 'indevolt': one port per device"
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"protocol": "sonnen"}, "devices[0].protocol: value 'sonnen' is not allowed"),
        ({"model": "venus-e-v3"}, "devices[0].model: value 'venus-e-v3' is not allowed: not a model of indevolt: use sf2000"),
        ({"port": 70000}, "devices[0].port: value 70000 is not allowed"),
        (
            {"protocol": "socbal-modbus"},
            "devices[0].model: value 'sf2000' is not allowed: not a model of socbal-modbus: it has no models",
        ),
        ({"protocol": None, "port": 18501}, "devices[0].port: value 18501 is not allowed: only with a protocol"),
    ],
)
def test_bad_protocol_fields_name_the_field(change, message):
    raw = mixed_home()
    raw["devices"][0].update(change)
    with pytest.raises(InputError) as err:
        home_scenario_from_dict(raw)
    assert message in str(err.value) and "\n" not in str(err.value)


def test_a_home_without_protocols_cannot_be_emulated_and_the_meter_port_must_be_free():
    raw = mixed_home()
    for key in ("protocol", "port", "model", "serial"):
        raw["devices"][2].pop(key, None)
    with pytest.raises(InputError, match="devices: 'marstek' has no protocol"):
        EmulatedHome(home_scenario_from_dict(raw))
    home = EmulatedHome(with_free_ports(mixed_home()))
    with pytest.raises(InputError, match="meter_port: value .* already the port of device 'zendure'"):
        asyncio.run(serve_home(home, asyncio.Event(), meter="homewizard-p1", meter_port=home.ports["zendure"]))


def test_the_simulator_ignores_protocol_port_model_and_serial():
    path = EXAMPLES / "home_emulated.toml"
    raw = read_toml(path, "scenario")
    plain = copy.deepcopy(raw)
    for dev in plain["devices"]:
        for key in ("protocol", "port", "model", "serial"):
            dev.pop(key, None)
    served = simulate_home(home_scenario_from_dict(raw, base_dir=path.parent)).summary["home"]
    without = simulate_home(home_scenario_from_dict(plain, base_dir=path.parent)).summary["home"]
    assert json.dumps(without, sort_keys=True) == json.dumps(served, sort_keys=True)  # NaN where no reserve was reached
    assert served["served_by_storage_kwh"] > 1.0


def test_the_threaded_harness_serves_the_home_and_stops_by_itself():
    with HomeInThread(mixed_home(load_w=700), meter="homewizard-p1", max_s=3.0) as h:
        assert httpx.get(f"{h.url('zendure')}/properties/report", timeout=5).json()["sn"] == SN
        assert isinstance(httpx.get(f"{h.meter_url}/api/v1/data", timeout=5).json()["active_power_w"], int)
        assert h.wait_stopped(6)  # max_s: it stops by itself
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{h.url('zendure')}/properties/report", timeout=1)


@pytest.mark.parametrize("taken", ["zendure", "marstek"])
def test_a_taken_port_is_an_oserror_and_nothing_is_left_listening(taken):
    home = EmulatedHome(with_free_ports(mixed_home()))
    meter_port = free_port()
    with socket.socket() as blocker:
        blocker.bind((LOOPBACK, home.ports[taken]))
        blocker.listen()
        with pytest.raises(OSError, match=f"{home.ports[taken]}"):
            asyncio.run(asyncio.wait_for(serve_home(home, asyncio.Event(), LOOPBACK, "shelly-pro-3em", meter_port), 20))
    for port in [meter_port, *(p for i, p in home.ports.items() if i != taken)]:
        with socket.socket() as probe:
            probe.bind((LOOPBACK, port))  # free again


def test_socbal_own_device_in_a_home_takes_per_pack_setpoints_with_its_watchdog():
    """The default register map (examples/runtime_modbus.toml): pack blocks at 100 + 20 i, SOC u16 0.1 % at +0,
    power s16 at +1, setpoint s32 (big-endian words) at +10; the watchdog timeout, s, at 10."""
    raw = mixed_home(load_w=1000)
    own = raw["devices"][0]
    raw["devices"] = [
        {
            **{k: v for k, v in own.items() if k != "model"},
            "id": "own",
            "protocol": "socbal-modbus",
            "packs": [{"id": "p1", "soc_pct": 40, "capacity_wh": 2000, "max_discharge_w": 1200}],
        }
    ]

    async def scenario():
        home = EmulatedHome(with_free_ports(raw))
        async with serving_home(home) as meter_port, httpx.AsyncClient(timeout=5) as c:
            assert meter_port is not None
            mk = await modbus_client(home.ports["own"])  # a plain Modbus client; several connections are fine
            try:
                soc = [(await mk.read_holding_registers(100 + 20 * i, count=1, device_id=1)).registers[0] for i in (0, 1)]
                assert soc == [800, 400]
                # watchdog 3 s: the setpoints below hold until 3.5 s after they were written (the fallback comes after
                # the 0.5 s latency too); the meter shows them 0.75-1.75 s after, and the registers are read after that
                assert not (await mk.write_register(10, 3, device_id=1)).isError()
                assert not (await mk.write_registers(110, [0, 300], device_id=1)).isError()
                assert not (await mk.write_registers(130, [0, 200], device_id=1)).isError()
                await until(lambda: abs(home.meter_w() - 500) < 3, timeout_s=5)
                assert await shelly_w(c, meter_port) == pytest.approx(500, abs=3)
                power = [(await mk.read_holding_registers(101 + 20 * i, count=1, device_id=1)).registers[0] for i in (0, 1)]
                assert power == [300, 200]
                # no write for 3 s: the watchdog, 0 W (at 3 s + latency + ramp + up to a meter period: 4.75 s after)
                await until(lambda: abs(home.meter_w() - 1000) < 3, timeout_s=8)
                home.devices["own"].faults.ignore_writes = True
                assert not (await mk.write_registers(110, [0xFFFF, 0xFFFF - 299], device_id=1)).isError()  # -300 W
                await asyncio.sleep(0.3)
                assert home.devices["own"].true_state().battery_power_w == pytest.approx(0, abs=1)
            finally:
                mk.close()
            own = home.devices["own"]
            own.drop_out(2.0)  # the checks take 0.3 s; a loaded machine may stall them for a while
            await asyncio.sleep(0.2)
            refused = AsyncModbusTcpClient(LOOPBACK, port=home.ports["own"], timeout=0.3, retries=0, reconnect_delay=0)
            await refused.connect()
            await until(lambda: not refused.connected, timeout_s=1)
            refused.close()
            await until(own.online, timeout_s=3)
            mk = await modbus_client(home.ports["own"])
            assert (await mk.read_holding_registers(100, count=1, device_id=1)).registers == [800]
            mk.close()

    asyncio.run(scenario())


def test_the_meter_gives_no_reading_in_its_outages():
    """``[meter] outages`` (simulated seconds from the run's start), as the simulator has them: the meter answers 503."""
    raw = mixed_home(load_w=700)
    raw["meter"]["outages"] = [{"start_s": 1.0, "duration_s": 2.0}]

    async def scenario():
        # 2 simulated seconds per wall second: the outage lasts 1 wall second, so a loaded machine's requests (each
        # answered at the simulated time of the last tick, which moves in steps of tick x speed) still land in it
        home = EmulatedHome(with_free_ports(raw), speed=2.0)
        async with serving_home(home, meter="homewizard-p1") as meter_port, httpx.AsyncClient(timeout=5) as c:
            url = f"http://{LOOPBACK}:{meter_port}/api/v1/data"
            await until(lambda: home.sim_time_s > 0.0, timeout_s=5)
            seen = []  # (simulated time before the request, after its answer, status): it was answered in between
            while home.sim_time_s < 5.0:
                before_s = home.sim_time_s
                r = await c.get(url)
                seen.append((before_s, home.sim_time_s, r.status_code))
                await asyncio.sleep(0.02)
            assert any(code == 503 for _, _, code in seen)
            assert all(after_s >= 1.0 and before_s < 3.0 for before_s, after_s, code in seen if code == 503)
            assert all(before_s < 1.0 or after_s >= 3.0 for before_s, after_s, code in seen if code == 200)
            assert home.snapshot().meter_w == pytest.approx(home.meter_w())  # the truth stays readable in tests

    asyncio.run(scenario())
