"""Pack description: validation at the edge, Wh <-> Ah, pack OCV."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from socbal.errors import InputError
from socbal.topology import PackElectrical, cell_ocv_v
from socbal.topology.pack_electrical import pack_arrays


def test_from_capacity_wh_keeps_the_energy_capacity():
    pack = PackElectrical.from_capacity_wh(1920.0, 80.0, "lfp", internal_resistance_ohm=0.04)
    assert pack.cells_in_series == 16
    assert pack.capacity_wh == pytest.approx(1920.0)
    assert 36.0 < pack.capacity_ah < 38.5  # 1920 Wh at about 51 V
    assert pack.ocv_v == pytest.approx(16 * cell_ocv_v("lfp", 80.0))


@pytest.mark.parametrize(
    ("field", "value"),
    [("soc_pct", 120.0), ("capacity_ah", 0.0), ("internal_resistance_ohm", float("inf")),
     ("chemistry", "lead-acid"), ("cells_in_series", 0), ("max_current_a", -1.0)],
)  # fmt: skip
def test_bad_values_are_rejected_naming_the_field(field, value):
    fields = dict(capacity_ah=50.0, soc_pct=50.0, chemistry="nmc", cells_in_series=14, internal_resistance_ohm=0.05)
    fields[field] = value
    with pytest.raises(ValidationError, match=field):
        PackElectrical(**fields)


def test_from_capacity_wh_rejects_bad_input_with_a_clear_message():
    with pytest.raises(InputError, match="chemistry: value 'lco' is not allowed"):
        PackElectrical.from_capacity_wh(1920.0, 50.0, "lco", internal_resistance_ohm=0.04)
    with pytest.raises(InputError, match="capacity_wh: value -5.0 is not allowed"):
        PackElectrical.from_capacity_wh(-5.0, 50.0, "lfp", internal_resistance_ohm=0.04)


def test_pack_arrays_reject_an_empty_list_and_foreign_objects(pack):
    with pytest.raises(InputError, match="packs: the list is empty"):
        pack_arrays([])
    with pytest.raises(InputError, match=r"packs\[1\]: dict is not a PackElectrical"):
        pack_arrays([pack(50), {"soc_pct": 50}])
