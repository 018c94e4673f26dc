"""The EMS decision: pure, compiled array code plus its validated models."""
