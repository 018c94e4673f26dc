"""Smart meters: the home's grid power (+ import / - export), each with a period and a staleness timeout.

``[meter]`` of a home config names its kind (``"shelly-pro-3em"``, ``"homewizard-p1"`` or ``"mqtt"``);
:func:`socbal.meters.registry.open_meter` builds it from the validated section.
"""
