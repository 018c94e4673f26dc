"""Live runtime: the EMS controlling real or emulated devices over Modbus TCP and MQTT.

Modules, each small and usable on its own:

- :mod:`.config` — the validated ``socbal run`` TOML (register map, MQTT, HTTP, packs).
- :mod:`.secrets` — passwords and tokens from environment variables or files, never logged.
- :mod:`.telemetry` — telemetry records, validation (age, NaN, range) and the fail-safe clamp.
- :mod:`.control` — one control cycle as a pure function, and the asyncio control loop.
- :mod:`.store` — settings store and event log (SQLite, atomic).
- :mod:`.modbus` — register codec and the Modbus TCP device link.
- :mod:`.mqtt` — the MQTT service: device link over JSON topics, settings topics, HA discovery.
- :mod:`.api` — the small HTTP API (FastAPI, token auth for writes).
- :mod:`.emulator` — a simulated device served over Modbus TCP and MQTT (``socbal emulate``).
"""
