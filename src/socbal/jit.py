"""The Numba options of socbal's compiled code, in one place (and typed, so mypy sees plain functions).

Every helper is compiled once per signature as a function of its own, without reference counting
(``_nrt=False``, so it must never allocate); LLVM then inlines it into the compiled loops that call it
(``forceinline``), which pay no call and no atomic reference-count update per step. Each such function
costs the first run a pass of its own through the compiler: type inference, lowering, and LLVM
optimising it with its callees linked in and generating its machine code, which the loop that inlines it
never uses. Numba's own IR inlining (``inline="always"``) instead types the callee inside its caller and
gives it no compiled copy, but copies the callee's IR at every call site at a cost that grows with its
size squared: it pays for a large function with one call site per loop, not for small helpers called
from several places (that made the first run's compile several times longer).

- ``inline_kernel``: a small per-step helper (EMS, pack physics, dispatch, profiles), callable from
  Python as well: through a twin dispatcher of its own, so the compiled loops' copy has no Python
  wrapper and no cache entry to compile;
- ``compiled_only_kernel``: the same for helpers that only compiled code calls: it gets no Python
  entry point (calling it from Python would crash the interpreter), which saves a wrapper per function
  in the first run's compile;
- ``helper_kernel``: a rarely taken path that stays a call of its own, so it does not grow the loop;
- ``ir_inline_kernel``: a function with one call site in each loop (a device's firmware step, the EMS
  decision, the home controller): Numba inlines its IR there, so it gets no compiled copy and no LLVM
  pass of its own (inlined, it takes the loop's options, numpy's error model included); called from
  Python it is compiled as a function of its own (``socbal allocate``);
- ``loop_kernel``: the loops themselves (numpy's error model), cached on disk; they release the GIL, so
  threads can run several at once (the fleet).

A kernel marked :func:`fast_arithmetic` (below its decorator) compiles with three fast-math flags
(:data:`FAST_ARITHMETIC_FLAGS`: fused multiply-adds, reciprocals of loop-invariant divisors, no signed zeros):
the loop and the helpers of the pack physics, the limits, the EMS and the dispatch, whose records stay within
1e-9 relative of the plain arithmetic (``benchmarks/compare_records.py``). Every other kernel has fast-math off
explicitly, since Numba compiles a helper that sets none with its caller's; the profiles' index
(:func:`socbal.profiles.holding.value_at`) stays a rounded division, and the DC-DC curve and cell-side power
stay plain, as the set-up computes the battery side at rating in Python and the loop compares it with theirs.

Compiled code takes the smaller or larger of two numbers with :func:`fmin` / :func:`fmax` (Python's ``min`` /
``max``, lowered in place), not the builtins: each of those compiles an overload of its own per signature and
per caller's compiler flags.

Only the loops (and the few helpers that Python calls) are cached: a cached loop holds the machine code
of every helper it calls, so caching the helpers as well would only write their code to disk a second time.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable
from typing import Any, TypeVar, cast

from numba import njit
from numba import types as numba_types
from numba.core import cgutils
from numba.core.imputils import impl_ret_borrowed
from numba.extending import lower_builtin, type_callable

from socbal.jit_pipeline import VECTORISED, SocbalCompiler

F = TypeVar("F", bound=Callable[..., Any])

_INLINE_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False, "forceinline": True, "pipeline_class": SocbalCompiler}
_NO_WRAPPERS: dict[str, Any] = {"cache": False, "no_cpython_wrapper": True, "no_cfunc_wrapper": True}
_HELPER_OPTIONS: dict[str, Any] = {"_nrt": False, "pipeline_class": SocbalCompiler, **_NO_WRAPPERS}
_IR_INLINE_OPTIONS: dict[str, Any] = {**_INLINE_OPTIONS, "inline": "always"}
_LOOP_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False, "error_model": "numpy", "nogil": True, "no_cfunc_wrapper": True}
_LOOP_OPTIONS["pipeline_class"] = SocbalCompiler


#: The fast-math flags of the kernels marked :func:`fast_arithmetic`: fused multiply-adds (``contract``), a division
#: by a loop-invariant divisor as a multiplication by its reciprocal (``arcp``), and no care for the sign of a zero
#: (``nsz``). Each rounds differently from the plain arithmetic, by an ulp or so per operation; none assumes that no
#: NaN or infinity occurs, and none reorders a sum. ``benchmarks/compare_records.py`` measures what they change.
FAST_ARITHMETIC_FLAGS = frozenset({"nsz", "arcp", "contract"})


def fast_arithmetic(func: F) -> F:
    """Mark ``func`` (below the kernel decorator) to be compiled with :data:`FAST_ARITHMETIC_FLAGS`: only for
    arithmetic whose records stay within 1e-9 relative of the plain arithmetic's (none of the profiles' indexing,
    whose rounded division picks a value). A function that Numba inlines as IR takes its caller's flags instead."""
    func._socbal_fastmath = True  # type: ignore[attr-defined]
    return func


def vectorised(func: F) -> F:
    """Mark ``func`` (below the kernel decorator) to be compiled with LLVM's vectorisers on, which socbal's pipeline
    turns off elsewhere (:class:`socbal.jit_pipeline.LowerWithoutVectorisers`): only where it is measured faster. A
    function that Numba inlines as IR takes its caller's setting instead."""
    setattr(func, VECTORISED, True)
    return func


def _options(base: dict[str, Any], func: Callable[..., Any]) -> dict[str, Any]:
    """``base`` with :data:`FAST_ARITHMETIC_FLAGS` where ``func`` is marked :func:`fast_arithmetic`, else with fast-math
    off: set either way, as a function compiled for a caller takes the caller's fast-math flags when it has none."""
    marked = getattr(func, "_socbal_fastmath", False)
    return {**base, "fastmath": set(FAST_ARITHMETIC_FLAGS) if marked else False}


class _TwinKernel:
    """A helper that compiled code and Python both call: two dispatchers of the same function.

    Compiled callers get the one without a Python wrapper or a cache entry (``_numba_type_`` is how Numba
    types a global), so the simulator's first run compiles neither; a call from Python compiles, on first
    use, the twin that has them (``socbal emulate``, the live runtime, the tests).
    """

    def __init__(self, func: Callable[..., Any]) -> None:
        functools.update_wrapper(self, func)
        self.py_func = func
        self.compiled = njit(**_options({**_INLINE_OPTIONS, **_NO_WRAPPERS}, func))(func)
        self._from_python: Callable[..., Any] | None = None

    @property
    def _numba_type_(self) -> Any:
        return self.compiled._numba_type_

    def __call__(self, *args: Any) -> Any:
        if self._from_python is None:
            self._from_python = njit(**_options(_INLINE_OPTIONS, self.py_func))(self.py_func)
        return self._from_python(*args)


def inline_kernel(func: F) -> F:
    """Compile ``func`` as an allocation-free helper that LLVM inlines into its compiled callers; Python may call
    it as well (through a twin of its own, see :class:`_TwinKernel`)."""
    return cast(F, _TwinKernel(func))


def compiled_only_kernel(func: F) -> F:
    """:func:`inline_kernel` for a helper that only compiled code calls (no Python entry point)."""
    compiled: F = njit(**_options({**_INLINE_OPTIONS, **_NO_WRAPPERS}, func))(func)
    return compiled


def helper_kernel(func: F) -> F:
    """Compile ``func`` as an allocation-free helper that stays a call of its own (not inlined; compiled callers only)."""
    compiled: F = njit(**_options(_HELPER_OPTIONS, func))(func)
    return compiled


def ir_inline_kernel(func: F) -> F:
    """Inline ``func``'s IR into each compiled caller (Numba's IR inlining: no compiled function of its own there);
    a call from Python compiles it as :func:`inline_kernel` does."""
    compiled: F = njit(**_IR_INLINE_OPTIONS)(func)
    return compiled


def loop_kernel(func: F) -> F:
    """Compile ``func`` as an allocation-free, cached loop (it may call the helpers above)."""
    compiled: F = njit(**_options(_LOOP_OPTIONS, func))(func)
    return compiled


def python_function(compiled: F) -> F:
    """The plain Python function behind a compiled one, calling the plain Python functions behind the compiled helpers
    it names (so none of them compiles a Python entry point either): for the few scalar calls of a run's set-up,
    where compiling a set-up function of its own would cost the first run more than its loop saves."""
    plain = getattr(compiled, "py_func", compiled)
    if not isinstance(plain, types.FunctionType):
        return cast(F, plain)
    names = {name: plain.__globals__[name] for name in plain.__code__.co_names if name in plain.__globals__}
    helpers = {name: python_function(value) for name, value in names.items() if getattr(value, "py_func", None) is not None}
    if not helpers:
        return cast(F, plain)
    namespace = {**plain.__globals__, **helpers}
    return cast(F, types.FunctionType(plain.__code__, namespace, plain.__name__, plain.__defaults__, plain.__closure__))


def fmin(a: float, b: float) -> float:
    """The smaller of two numbers, as Python's ``min(a, b)`` (``a`` unless ``b < a``: a NaN ``b`` gives ``a``).

    Compiled, it is a comparison and a select at the call site: builtin ``min`` compiles an overload of its own
    per signature and per caller's compiler flags (twice in a first ``socbal simulate``), a conditional a branch.
    """
    return b if b < a else a


def fmax(a: float, b: float) -> float:
    """The larger of two numbers, as Python's ``max(a, b)`` (``a`` unless ``b > a``); compiled as :func:`fmin`."""
    return b if b > a else a


_REAL = (numba_types.Integer, numba_types.Float)


def _compile_minmax(func: Callable[[float, float], float], operator: str) -> None:
    """Type ``func(a, b)`` of two real numbers as their common type, and lower it to ``select(b OP a, b, a)`` there."""

    @type_callable(func)
    def typer(context: Any) -> Callable[[Any, Any], Any]:
        def typed(a: Any, b: Any) -> Any:
            return context.unify_types(a, b) if isinstance(a, _REAL) and isinstance(b, _REAL) else None

        return typed

    @lower_builtin(func, numba_types.Number, numba_types.Number)
    def lower(context: Any, builder: Any, sig: Any, args: Any) -> Any:
        common = sig.return_type
        a, b = (context.cast(builder, value, ty, common) for value, ty in zip(args, sig.args))
        if isinstance(common, numba_types.Float):
            b_first = builder.fcmp_ordered(operator, b, a)
        elif common.signed:
            b_first = builder.icmp_signed(operator, b, a)
        else:
            b_first = builder.icmp_unsigned(operator, b, a)
        return builder.select(b_first, b, a)


_compile_minmax(fmin, "<")
_compile_minmax(fmax, ">")


def rows(array: Any, start: int, stop: int) -> Any:
    """``array[start:stop]``: rows along the first axis, ``0 <= start <= stop <= len(array)`` (not clipped).

    Compiled, the view of a C-contiguous array keeps its C-contiguous type: Numba types a slice along any axis but
    the last as of unknown layout, so code on a 2-D view (a device's packs of the home's parameter matrix) computes
    every address from run-time strides, where on a C-contiguous one it knows them; and it costs no slice bounds
    arithmetic. The view of an array of another layout is typed of unknown layout, as a slice is.
    """
    return array[start:stop]


@type_callable(rows)
def _rows_typer(context: Any) -> Callable[[Any, Any, Any], Any]:
    def typed(array: Any, start: Any, stop: Any) -> Any:
        if not (isinstance(array, numba_types.Array) and isinstance(start, numba_types.Integer)):
            return None
        if not isinstance(stop, numba_types.Integer):
            return None
        return array if array.layout == "C" else array.copy(layout="A")  # its strides are kept: right for any layout

    return typed


@lower_builtin(rows, numba_types.Array, numba_types.Integer, numba_types.Integer)
def _rows_lower(context: Any, builder: Any, sig: Any, args: Any) -> Any:
    array = context.make_array(sig.args[0])(context, builder, args[0])
    start, stop = (context.cast(builder, value, ty, numba_types.intp) for value, ty in zip(args[1:], sig.args[1:]))
    shape = cgutils.unpack_tuple(builder, array.shape)
    strides = cgutils.unpack_tuple(builder, array.strides)
    n_rows = builder.sub(stop, start)
    data = builder.inttoptr(
        builder.add(builder.ptrtoint(array.data, cgutils.intp_t), builder.mul(start, strides[0])), array.data.type
    )
    view = context.make_array(sig.return_type)(context, builder)
    context.populate_array(
        view, data=data, shape=[n_rows, *shape[1:]], strides=strides, itemsize=array.itemsize, meminfo=array.meminfo,
        parent=array.parent,
    )  # fmt: skip
    return impl_ret_borrowed(context, builder, sig.return_type, view._getvalue())
