"""socbal's compiler pipeline: IR inlining without copies gives the Python function's results and leaves plain IR."""

from __future__ import annotations

import copy
import re

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit
from numba.core import config, ir
from numba.core.compiler import Flags
from numba.core.untyped_passes import PreserveIR

from socbal.jit import ir_inline_kernel, loop_kernel, vectorised
from socbal.jit_pipeline import InlineWithoutCopies, SocbalCompiler, _Flags


@ir_inline_kernel
def _clipped(x: float, high: float) -> float:
    return high if x > high else x


@ir_inline_kernel
def _clipped_sum(values, high: float) -> float:  # calls an inlined function itself
    total = 0.0
    for v in values:
        if v < 0.0:
            continue
        total += _clipped(v, high)
    return total


@loop_kernel
def _twice_clipped_sum(values, high: float) -> float:
    return _clipped_sum(values, high) + _clipped_sum(values, 0.5 * high)


@given(st.lists(st.floats(-1e6, 1e6), max_size=12), st.floats(0.0, 1e6))
@settings(max_examples=40, deadline=None)
def test_nested_ir_inlining_gives_the_python_functions_results(values, high):
    def expected(limit: float) -> float:
        total = 0.0
        for v in values:
            total += min(v, limit) if v >= 0.0 else 0.0
        return total

    assert _twice_clipped_sum(np.array(values, dtype=np.float64), high) == expected(high) + expected(0.5 * high)
    assert _clipped_sum.signatures == [] and _clipped.signatures == []  # inlined, never compiled on their own


class _Preserving(SocbalCompiler):
    """socbal's pipeline that keeps the IR after inlining (Numba's ``preserve_ir`` pass) for the test to read."""

    def define_pipelines(self):
        (pm,) = super().define_pipelines()
        pm.add_pass_after(PreserveIR, InlineWithoutCopies)
        pm.finalize()
        return [pm]


def test_after_inlining_the_callers_blocks_are_plain_blocks_that_copy_as_usual():
    @njit(pipeline_class=_Preserving)
    def caller(x: float) -> float:
        return _clipped(x, 10.0) + 1.0

    assert caller(12.0) == 11.0
    (metadata,) = caller.get_metadata().values()
    blocks = list(metadata["preserved_ir"].blocks.values())
    assert len(blocks) > 1  # the callee's blocks are in
    assert {type(block) for block in blocks} == {ir.Block}
    assert all(copy.deepcopy(block) is not block for block in blocks)


_OPTIONS = st.sampled_from(["boundscheck", "fastmath", "nrt", "no_cpython_wrapper", "error_model", "forceinline", "enable_ssa"])


@given(st.lists(st.tuples(_OPTIONS, st.booleans()), max_size=6))
@settings(max_examples=40, deadline=None)
def test_flags_read_once_still_see_every_change(changes):
    numba_flags, kept = Flags(), _Flags()
    assert kept == numba_flags and hash(kept) == hash(numba_flags)
    for name, value in changes:
        value = ("numpy" if value else "python") if name == "error_model" else value
        setattr(kept, name, value)
        differs = kept.values() != numba_flags.values()  # Numba's flags not changed yet
        assert (kept != numba_flags) == differs and (numba_flags != kept) == differs
        setattr(numba_flags, name, value)
        assert kept.values() == numba_flags.values()  # read again after the change
        assert kept == numba_flags and numba_flags == kept and hash(kept) == hash(numba_flags)
    kept.discard("nrt")  # a change that bypasses attribute assignment
    numba_flags.discard("nrt")
    assert kept.values() == numba_flags.values()


def _scaled():
    """A fresh function (so a mark on it stays its own) whose loop LLVM's vectoriser turns into vector code."""

    def scaled(a, b, out):
        for i in range(a.shape[0]):
            out[i] = a[i] * b[i] + 1.0

    return scaled


def _has_vector_code(dispatcher) -> bool:
    """Run ``dispatcher`` (a compiled :func:`_scaled`) once, check its result, and say whether its LLVM IR has vectors."""
    a, b, out = np.arange(64.0), np.full(64, 2.0), np.zeros(64)
    dispatcher(a, b, out)
    assert np.array_equal(out, a * b + 1.0)
    return re.search(r"<\d+ x double>", dispatcher.inspect_llvm(dispatcher.signatures[0])) is not None


def test_socbal_kernels_compile_without_llvms_vectorisers_which_numba_leaves_on():
    saved = config.LOOP_VECTORIZE, config.SLP_VECTORIZE
    assert _has_vector_code(njit(cache=False)(_scaled()))  # the loop vectorises where Numba's settings hold
    assert not _has_vector_code(njit(cache=False, pipeline_class=SocbalCompiler)(_scaled()))
    assert (config.LOOP_VECTORIZE, config.SLP_VECTORIZE) == saved  # Numba's settings restored for other code


def test_a_kernel_marked_vectorised_keeps_llvms_vectorisers():
    assert _has_vector_code(njit(cache=False, pipeline_class=SocbalCompiler)(vectorised(_scaled())))
