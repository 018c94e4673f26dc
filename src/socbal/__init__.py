"""socbal: SOC-balancing energy management for storage devices with one DC-DC module per battery pack."""

from socbal.ems.decision import Decision, PackDecision, decide
from socbal.ems.models import AllocateInput, PackState, Request, Settings

__all__ = ["AllocateInput", "Decision", "PackDecision", "PackState", "Request", "Settings", "decide"]
__version__ = "0.1.0"
