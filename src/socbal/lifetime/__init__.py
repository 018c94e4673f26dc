"""Battery lifetime: cycle counting per pack and capacity fade (NREL BLAST-Lite)."""
