"""Which driver a ``[[devices]]`` entry names, validated at the edge, and the driver built from it."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter, ValidationError

from socbal.drivers.base import Driver
from socbal.drivers.indevolt_http import IndevoltConfig, IndevoltDriver
from socbal.drivers.marstek_modbus import MarstekConfig, MarstekDriver
from socbal.drivers.socbal_modbus import SocbalModbusConfig, SocbalModbusDriver
from socbal.drivers.socbal_mqtt import SocbalMqttConfig, SocbalMqttDriver
from socbal.drivers.zendure_http import ZendureConfig, ZendureDriver
from socbal.errors import InputError, describe_validation_error

AnyDriverConfig = IndevoltConfig | ZendureConfig | MarstekConfig | SocbalModbusConfig | SocbalMqttConfig
DeviceDriverConfig = Annotated[
    Union[IndevoltConfig, ZendureConfig, MarstekConfig, SocbalModbusConfig, SocbalMqttConfig], Field(discriminator="driver")
]
_ADAPTER: TypeAdapter[AnyDriverConfig] = TypeAdapter(DeviceDriverConfig)


def driver_config(raw: dict, where: str = "devices") -> AnyDriverConfig:
    """Validate one ``[[devices]]`` entry; raises :class:`InputError` naming the field."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as err:
        raise InputError(describe_validation_error(err, where)) from None


def open_driver(config: AnyDriverConfig) -> Driver:
    """The driver for a validated entry (no I/O until its first read or write)."""
    if isinstance(config, IndevoltConfig):
        return IndevoltDriver(config)
    if isinstance(config, ZendureConfig):
        return ZendureDriver(config)
    if isinstance(config, SocbalModbusConfig):
        return SocbalModbusDriver(config)
    if isinstance(config, SocbalMqttConfig):
        return SocbalMqttDriver(config)
    return MarstekDriver(config)
