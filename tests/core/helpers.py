"""Small builders for EMS inputs used across the core tests."""

from socbal.ems.decision import decide
from socbal.ems.models import AllocateInput


def pack(pid: str, soc: float, capacity_wh: float = 1920.0, max_w: float = 1200.0, **extra) -> dict:
    """A pack dict in the allocate contract's shape."""
    return {"id": pid, "soc_pct": soc, "capacity_wh": capacity_wh, "max_discharge_w": max_w, "max_charge_w": max_w, **extra}


def run(packs: list[dict], request: dict, **settings):
    """Decide and return (powers by id, decision)."""
    decision = decide(AllocateInput.model_validate({"settings": settings, "packs": packs, "request": request}))
    return {p.id: p.power_w for p in decision.packs}, decision
