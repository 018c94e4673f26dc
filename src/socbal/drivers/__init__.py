"""Device drivers: one vendor protocol each, behind :class:`socbal.drivers.base.Driver`.

A ``[[devices]]`` entry of a home config names its driver (``driver = "indevolt-http"``,
``"zendure-http"``, ``"marstek-modbus"``, ``"socbal-modbus"`` or ``"socbal-mqtt"``);
:func:`socbal.drivers.registry.open_driver` builds it from the validated entry.
"""
