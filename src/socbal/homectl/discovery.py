"""Home Assistant MQTT discovery for a home: one HA device per storage device (via the home's), plus the home's settings.

Per device: SOC and weakest pack SOC (%), battery power and setpoint (W, + discharge), state (text) and
online (connectivity). Each value's state topic is ``<base>/devices/<id>/<field>`` (:func:`device_topic`);
all but ``online`` are available only while the controller is online *and* the device is
(``<base>/devices/<id>/availability``). With ``commands`` (no settings token: Home Assistant cannot send
one) the home's strategy, staging and grid target become select/number entities of the home's own device.
The payloads come from :mod:`socbal.runtime.discovery`'s builders (HA's discovery schema).
"""

from __future__ import annotations

from typing import get_args

from socbal.home.models import HomeStrategyName, StagingName
from socbal.homectl.config import HomeRunConfig
from socbal.runtime import discovery
from socbal.runtime.mqtt import Topics

#: Per-device values published for Home Assistant (state topic field names), in discovery order.
DEVICE_VALUES = ("soc_pct", "weakest_soc_pct", "power_w", "setpoint_w", "state")


def device_topic(topics: Topics, device_id: str, field: str) -> str:
    """Where one device value is published."""
    return f"{topics.base}/devices/{device_id}/{field}"


def home_discovery_messages(cfg: HomeRunConfig, topics: Topics, commands: bool = True) -> list[discovery.Entity]:
    """(config topic, payload) for every entity (see the module docstring)."""
    m = cfg.mqtt
    assert m is not None
    home = discovery.Node.create(m.discovery_prefix, cfg.name, m.device_name, "home controller", (topics.status,))
    out: list[discovery.Entity] = []
    for d in cfg.devices:
        node = discovery.Node.create(
            m.discovery_prefix, f"{cfg.name}_{d.id}", f"{m.device_name} {d.id}", d.driver, (topics.status,), via=home
        )
        only_while_online = (device_topic(topics, d.id, "availability"),)

        def topic(field: str, device_id: str = d.id) -> str:
            return device_topic(topics, device_id, field)

        out += [
            discovery.soc_sensor(node, "soc_pct", "SOC", topic("soc_pct"), extra_availability=only_while_online),
            discovery.soc_sensor(
                node, "weakest_soc_pct", "Weakest pack SOC", topic("weakest_soc_pct"), extra_availability=only_while_online
            ),
            discovery.power_sensor(node, "power_w", "Battery power", topic("power_w"), extra_availability=only_while_online),
            discovery.power_sensor(node, "setpoint_w", "Setpoint", topic("setpoint_w"), extra_availability=only_while_online),
            discovery.sensor(node, "state", "State", topic("state"), extra_availability=only_while_online),
            discovery.binary_sensor(node, "online", "Online", topic("online"), "connectivity"),
        ]
    if not commands:
        return out
    for name, options in (("strategy", list(get_args(HomeStrategyName))), ("staging", list(get_args(StagingName)))):
        out.append(discovery.select(home, name, name.capitalize(), topics.setting_set(name), topics.setting(name), options))
    out.append(
        discovery.number(
            home,
            "grid_target_w",
            "Grid target",
            topics.setting_set("grid_target_w"),
            topics.setting("grid_target_w"),
            -2000,
            2000,
            10,
            unit="W",
            mode="box",
        )
    )
    return out
