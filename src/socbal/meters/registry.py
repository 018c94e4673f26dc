"""Which meter a ``[meter]`` section names, validated at the edge, and the meter built from it."""

from __future__ import annotations

from typing import Annotated, Union

from pydantic import Field, TypeAdapter, ValidationError

from socbal.errors import InputError, describe_validation_error
from socbal.meters.base import Meter
from socbal.meters.http_meters import HomeWizardConfig, HomeWizardMeter, ShellyConfig, ShellyMeter
from socbal.meters.mqtt_meter import MqttMeter, MqttMeterConfig

MeterSection = Annotated[Union[ShellyConfig, HomeWizardConfig, MqttMeterConfig], Field(discriminator="kind")]
_ADAPTER: TypeAdapter[ShellyConfig | HomeWizardConfig | MqttMeterConfig] = TypeAdapter(MeterSection)


def meter_config(raw: dict, where: str = "meter") -> ShellyConfig | HomeWizardConfig | MqttMeterConfig:
    """Validate a ``[meter]`` section; raises :class:`InputError` naming the field."""
    try:
        return _ADAPTER.validate_python(raw)
    except ValidationError as err:
        raise InputError(describe_validation_error(err, where)) from None


def open_meter(config: ShellyConfig | HomeWizardConfig | MqttMeterConfig) -> Meter:
    """The meter for a validated section (no I/O until its first read)."""
    if isinstance(config, ShellyConfig):
        return ShellyMeter(config)
    if isinstance(config, HomeWizardConfig):
        return HomeWizardMeter(config)
    return MqttMeter(config)
