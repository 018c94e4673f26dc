"""The Marstek emulator against a raw pymodbus client using the register numbers of the community maps
(ViperRNMC/marstek_venus_modbus registers/*.yaml), not the driver's code."""

from __future__ import annotations

import asyncio

from pymodbus.client import AsyncModbusTcpClient

from socbal.emulators.marstek import MarstekEmulator
from tests.emulators.harness import LOOPBACK, device, serving, two_packs, until


async def client(port: int) -> AsyncModbusTcpClient:
    c = AsyncModbusTcpClient(LOOPBACK, port=port, timeout=2, retries=0)
    assert await c.connect()
    return c


def test_venus_e_v3_registers_control_and_keepalive():
    async def scenario():
        emu = MarstekEmulator(device(), model="venus-e-v3", keepalive_timeout_s=0.5)
        async with serving(emu) as port:
            c = await client(port)
            assert (await c.read_holding_registers(34002, count=1, device_id=1)).registers == [600]  # 0.1 %
            r = await c.write_register(42010, 2, device_id=1)
            assert r.isError()  # RS485 control is off
            r = await c.write_register(42000, 0x1234, device_id=1)
            assert r.isError() and r.exception_code == 3
            assert not (await c.write_register(42000, 21930, device_id=1)).isError()  # 0x55AA
            assert not (await c.write_register(42021, 700, device_id=1)).isError()
            assert not (await c.write_register(42010, 2, device_id=1)).isError()
            await until(lambda: emu.device.snapshot().battery_power_w > 695)
            regs = (await c.read_holding_registers(30001, count=1, device_id=1)).registers
            assert c.convert_from_registers(regs, c.DATATYPE.INT16) > 695
            assert (await c.read_holding_registers(35100, count=1, device_id=1)).registers == [3]  # discharge
            assert (await c.read_holding_registers(44002, count=2, device_id=1)).registers == [2400, 2400]
            assert (await c.write_register(42021, 2600, device_id=1)).isError()  # over 2500 W
            await asyncio.sleep(0.7)  # no 0x55AA refresh: the unit drops to standby
            await until(lambda: emu.device.snapshot().battery_power_w == 0.0)
            assert (await c.read_holding_registers(42000, count=1, device_id=1)).registers != [21930]
            c.close()

    asyncio.run(scenario())


def test_venus_e_v12_int32_power_and_venus_a_pack_socs():
    async def scenario():
        emu = MarstekEmulator(device(), model="venus-e-v12")
        async with serving(emu) as port:
            c = await client(port)
            for address, value in ((42000, 21930), (42020, 500), (42010, 1)):
                assert not (await c.write_register(address, value, device_id=1)).isError()
            await until(lambda: emu.device.snapshot().battery_power_w < -495)
            regs = (await c.read_holding_registers(32102, count=2, device_id=1)).registers
            assert c.convert_from_registers(regs, c.DATATYPE.INT32, word_order="big") < -495  # charging, big-endian int32
            assert (await c.read_holding_registers(32104, count=1, device_id=1)).registers == [60]  # 1 %
            c.close()
        emu = MarstekEmulator(device(), model="venus-a")
        async with serving(emu) as port:
            c = await client(port)
            socs = [(await c.read_holding_registers(34002 + 100 * k, count=1, device_id=1)).registers[0] for k in range(2)]
            assert socs == [800, 400]
            c.close()

    asyncio.run(scenario())


def test_venus_d_stops_the_whole_battery_at_the_first_pack_cutoff():
    async def run(model: str) -> list[float]:
        emu = MarstekEmulator(device(two_packs(main_soc=80, pack_soc=9.0)), model=model)
        async with serving(emu) as port:
            c = await client(port)
            for address, value in ((42000, 21930), (42021, 800), (42010, 2)):
                await c.write_register(address, value, device_id=1)
            await asyncio.sleep(0.3)
            c.close()
            return [float(p) for p in emu.device.packs.power_w]

    assert asyncio.run(run("venus-d")) == [0.0, 0.0]
    main_w, pack_w = asyncio.run(run("venus-e-v3"))
    assert main_w > 790 and pack_w == 0.0  # the other firmware lets the pack above the reserve carry on
