"""The device model shared by the simulator, the emulator, the runtime and compare: dispatch and pack physics."""

from socbal import _jit_cache

_jit_cache.configure()  # before any compiled module of this package is imported
