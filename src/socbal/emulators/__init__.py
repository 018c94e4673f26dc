"""Emulators that behave like real devices and meters, over their vendor protocols (``socbal emulate --protocol``).

:mod:`.device` is the device itself (a scenario's packs, the pack physics and the
SOC estimator of :mod:`socbal.runtime.emulator`, socbal's EMS as the firmware that
shares the device setpoint between the packs, actuator latency and ramp, fault
injection); :mod:`.indevolt`, :mod:`.zendure` and :mod:`.marstek` serve it over
each vendor's protocol; :mod:`.meters` serves a smart meter.
"""
