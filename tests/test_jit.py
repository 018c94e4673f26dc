"""socbal.jit's kernel kinds: what a compiled caller compiles, and that Python can still call each helper."""

from __future__ import annotations

import math

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from numba.core import event as numba_event

from socbal.jit import fast_arithmetic, fmax, fmin, inline_kernel, ir_inline_kernel, python_function, rows
from tests.sim.test_setup_compiles_nothing import _Compiles


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


@njit
def _compiled_min_max(a, b):
    return fmin(a, b), fmax(a, b)


def _same(x: float, y: float) -> bool:
    """Bit for bit the same float (NaN equal to NaN, 0.0 not equal to -0.0)."""
    return math.copysign(1.0, x) == math.copysign(1.0, y) and (x == y or (math.isnan(x) and math.isnan(y)))


@settings(deadline=None)  # the first example compiles
@given(st.floats(allow_nan=True, allow_infinity=True), st.floats(allow_nan=True, allow_infinity=True))
def test_compiled_fmin_fmax_give_pythons_min_and_max_of_two_floats_bit_for_bit(a: float, b: float):
    low, high = _compiled_min_max(a, b)
    assert _same(low, min(a, b)) and _same(high, max(a, b))
    assert _same(fmin(a, b), min(a, b)) and _same(fmax(a, b), max(a, b))  # the plain Python function, the same


@settings(deadline=None)  # the first example compiles
@given(st.integers(-(2**53), 2**53), st.one_of(st.integers(-(2**62), 2**62), st.floats(-1e6, 1e6)))
def test_compiled_fmin_fmax_of_an_integer_take_the_common_type_as_min_and_max_do(a: int, b: float):
    """An integer and a float: a float (as Numba's ``min``/``max``; exact here, the integer within 2**53)."""
    low, high = _compiled_min_max(a, b)
    assert low == min(a, b) and high == max(a, b)
    assert isinstance(low, float) == isinstance(b, float)


def test_fmin_fmax_compile_no_function_of_their_own_where_builtin_min_max_do():
    def clip_with(low, high):
        @njit(error_model="numpy")  # flags of no other test here, so no overload is compiled already
        def clip(x: float) -> float:
            return low(high(x, -3.5), 7.25)

        compiles = _Compiles()
        with numba_event.install_listener("numba:compile", compiles):
            assert clip(-9.0) == -3.5 and clip(0.25) == 0.25 and clip(9.0) == 7.25
        return [name.rsplit(".", 1)[-1] for name in compiles.names]

    assert clip_with(fmin, fmax) == ["clip"]
    assert len(clip_with(min, max)) > 1  # the yardstick: builtin min and max compile overloads of their own


def test_only_a_kernel_marked_fast_arithmetic_divides_by_a_reciprocal_even_under_a_fast_math_caller():
    # 3 / 10 is 0.3, but 3 x (1 / 10) is 0.30000000000000004: the reciprocal shows where arcp applied. A kernel that
    # is not marked keeps its exact division under a caller with fast-math (Numba would otherwise pass the caller's
    # flags on to it): the profiles' index, a rounded division, must not move.
    @inline_kernel
    def divided(x: float, divisor: float) -> float:
        return x / divisor

    @inline_kernel
    @fast_arithmetic
    def divided_fast(x: float, divisor: float) -> float:
        return x / divisor

    @njit(fastmath={"arcp"})
    def fast_caller(values: np.ndarray, divisor: float, out: np.ndarray) -> None:
        for i in range(values.shape[0]):
            out[i] = divided(values[i], divisor)

    @njit
    def plain_caller(values: np.ndarray, divisor: float, out: np.ndarray) -> None:
        for i in range(values.shape[0]):
            out[i] = divided_fast(values[i], divisor)

    values, out = np.full(8, 3.0), np.zeros(8)
    fast_caller(values, 10.0, out)
    assert (out == 0.3).all()
    plain_caller(values, 10.0, out)
    assert (out == 3.0 * (1.0 / 10.0)).all() and (out != 0.3).all()


@njit
def _rows_of(array: np.ndarray, start: int, stop: int, column: int) -> tuple[np.ndarray, float]:
    view = rows(array, start, stop)
    view[0, column] += 0.5  # a view: written through to the array
    total = 0.0
    for i in range(view.shape[0]):
        total += view[i, column]
    return view, total


@settings(max_examples=40, deadline=None)
@given(n_rows=st.integers(1, 8), n_cols=st.integers(1, 5), data=st.data())
def test_rows_is_the_slice_along_the_first_axis_typed_c_contiguous(n_rows: int, n_cols: int, data: st.DataObject):
    start = data.draw(st.integers(0, n_rows - 1))
    stop = data.draw(st.integers(start + 1, n_rows))
    column = data.draw(st.integers(0, n_cols - 1))
    array = np.arange(n_rows * n_cols, dtype=np.float64).reshape(n_rows, n_cols)
    expected = array[start:stop].copy()
    expected[0, column] += 0.5
    view, total = _rows_of(array, start, stop, column)
    assert np.array_equal(view, expected) and np.array_equal(array[start:stop], expected)
    assert view.flags.c_contiguous and view.strides == array.strides
    assert total == expected[:, column].sum()
    result_type = _rows_of.nopython_signatures[-1].return_type.types[0]
    assert result_type.layout == "C"  # where array[start:stop] would be typed "A"
    assert rows(array, start, stop).shape == (stop - start, n_cols)  # from Python, the plain slice


def test_rows_of_a_strided_array_is_its_slice_typed_of_unknown_layout():
    array = np.arange(40.0).reshape(5, 8)[:, ::3]
    view = njit(lambda a: rows(a, 1, 4))(array)
    assert np.array_equal(view, array[1:4]) and view.strides == array.strides
    of_columns = njit(lambda a: rows(a, 1, 4))
    fortran = np.asfortranarray(np.arange(12.0).reshape(4, 3))
    assert np.array_equal(of_columns(fortran), fortran[1:4])
    assert of_columns.nopython_signatures[-1].return_type.layout == "A"
