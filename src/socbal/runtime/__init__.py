"""Live runtime: the EMS controlling real or emulated devices over Modbus TCP and MQTT.

Modules, each small and usable on its own; each imports only modules above it
in this list. The building blocks marked * are meant for every link, driver and
service to come.

- :mod:`.payload` * — bounded JSON for untrusted payloads (size before parsing, depth, digits).
- :mod:`.ratelimit` * — token bucket and rate-limited log lines.
- :mod:`.supervise` * — long-lived asyncio tasks restarted with backoff, their health for ``/status``.
- :mod:`.dbwriter` * — a writer thread per SQLite file: bounded queue, retried writes, never blocks the caller.
- :mod:`.instancelock` * — one process per state file.
- :mod:`.httpguard` * — ASGI guard: token before body, capped bodies.
- :mod:`.discovery` * — Home Assistant MQTT discovery payloads, one builder per entity kind.
- :mod:`.energy` * — kWh totals integrated from power readings, never decreasing.
- :mod:`.secrets` — passwords and tokens from environment variables or files, never logged.
- :mod:`.config` — the validated ``socbal run`` TOML (register map, MQTT and its login, HTTP, packs, limits).
- :mod:`.telemetry` — telemetry records, validation (age, NaN, range) and the fail-safe clamp.
- :mod:`.link` — the device-link protocol (read telemetry, write setpoints) that Modbus and MQTT implement.
- :mod:`.control` — one control cycle as a pure function.
- :mod:`.store` — settings store, event log and energy totals (SQLite through :mod:`.dbwriter`, retention).
- :mod:`.settings` — settings changed at run time: validated, persisted, applied next cycle, announced to listeners.
- :mod:`.modbus` — register codec and the Modbus TCP device link.
- :mod:`.mqtt_login` — every broker connection's login and TLS (checked at start) and why a broker refused it.
- :mod:`.mqtt` — the MQTT service: device link over JSON topics, settings topics, HA discovery, a bounded inbox.
- :mod:`.api` — the small HTTP API (FastAPI, token auth for writes).
- :mod:`.supervised` — what the runtime and the live home controller share: store, settings, supervised MQTT and HTTP tasks.
- :mod:`.service` — the asyncio control loop tying them together (``socbal run``).
- :mod:`.emulator` — a simulated device served over Modbus TCP and MQTT (``socbal emulate``).
"""
