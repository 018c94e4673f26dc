"""socbal.jit's kernel kinds: what a compiled caller compiles, and that Python can still call each helper."""

from __future__ import annotations

import numpy as np
from numba import njit

from socbal.jit import inline_kernel, ir_inline_kernel, python_function


def test_an_inline_kernel_serves_compiled_callers_without_its_python_twin():
    @inline_kernel
    def scaled(x: float, factor: float) -> float:
        return x * factor

    @njit
    def caller(values: np.ndarray) -> float:
        total = 0.0
        for v in values:
            total += scaled(v, 2.5)
        return total

    assert caller(np.array([1.0, 2.0, 4.0])) == 17.5
    assert len(scaled.compiled.signatures) == 1  # the loops' dispatcher, compiled once
    assert scaled._from_python is None  # the caller compiled no Python wrapper
    assert scaled(3.0, 2.5) == 7.5  # a call from Python builds its own twin
    assert len(scaled._from_python.signatures) == 1


def test_an_ir_inline_kernel_has_no_compiled_copy_in_its_caller_but_python_can_call_it():
    @ir_inline_kernel
    def clipped(x: float, high: float) -> float:
        return high if x > high else x

    @njit
    def caller(x: float) -> float:
        return clipped(x, 10.0) + 1.0

    assert caller(12.0) == 11.0
    assert caller(3.0) == 4.0
    assert clipped.signatures == []  # typed inside the caller, never compiled on its own
    assert clipped(12.0, 10.0) == 10.0
    assert len(clipped.signatures) == 1


@inline_kernel
def _doubled(x: float) -> float:
    return 2.0 * x


@inline_kernel
def _doubled_plus_one(x: float) -> float:
    return _doubled(x) + 1.0


def test_python_function_calls_the_plain_helpers_it_names_so_no_python_twin_compiles():
    plain = python_function(_doubled_plus_one)
    assert plain(3.0) == 7.0
    assert _doubled._from_python is None and _doubled_plus_one._from_python is None  # nothing compiled
    assert _doubled_plus_one(3.0) == 7.0  # the compiled twin still works, and now exists
    assert _doubled_plus_one._from_python is not None
