"""Small builders for home-decision inputs used across the home tests."""

from socbal.home.decision import HomeDecision, decide_home
from socbal.home.models import HomeAllocateInput


def device(did: str, soc: float, capacity_wh: float = 5000.0, max_w: float = 2400.0, **extra) -> dict:
    """A device dict in the home allocate contract's shape."""
    return {"id": did, "soc_pct": soc, "capacity_wh": capacity_wh, "max_discharge_w": max_w, "max_charge_w": max_w, **extra}


def decide(
    devices: list[dict], request: dict, circuits: list[dict] | None = None, cycle_s: float = 1.0, **settings
) -> tuple[dict, HomeDecision]:
    """Decide and return (setpoints by id, decision)."""
    raw = {"settings": settings, "devices": devices, "circuits": circuits or [], "request": request, "cycle_s": cycle_s}
    d = decide_home(HomeAllocateInput.model_validate(raw))
    return {x.id: x.power_w for x in d.devices}, d


def carry(devices: list[dict], d: HomeDecision, elapsed_s: float, measured: dict | None = None) -> list[dict]:
    """The devices' input for the next decision: the state it returned, timers advanced by ``elapsed_s``;
    each device measured at its new setpoint unless ``measured`` says otherwise."""
    out = []
    for dev, x in zip(devices, d.devices):
        nxt = dict(dev)
        nxt.update(
            staged_on=x.staged_on,
            since_stage_change_s=x.since_stage_change_s + elapsed_s,
            since_write_s=x.since_write_s + elapsed_s,
            last_setpoint_w=x.last_setpoint_w,
            last_moving_setpoint_w=x.last_moving_setpoint_w,
            measured_w=(measured or {}).get(x.id, x.last_setpoint_w),
        )
        out.append(nxt)
    return out
