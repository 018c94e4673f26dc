"""socbal: SOC-balancing energy management for storage devices with one DC-DC module per battery pack."""

from socbal import _jit_cache

_jit_cache.configure()

from socbal.ems.decision import Decision, PackDecision, decide  # noqa: E402
from socbal.ems.models import AllocateInput, PackState, Request, Settings  # noqa: E402

__all__ = ["AllocateInput", "Decision", "PackDecision", "PackState", "Request", "Settings", "decide"]
__version__ = "0.1.0"
