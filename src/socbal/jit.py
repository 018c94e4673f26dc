"""The Numba options of socbal's compiled code, in one place (and typed, so mypy sees plain functions).

``inline_kernel`` is for the small per-step helpers (EMS, pack physics, dispatch, profiles): they are
compiled without reference counting (``_nrt=False``, so they must never allocate) and inlined into
the loops that call them, which then pay no call and no atomic reference-count update per step;
``helper_kernel`` is the same without inlining, for rarely taken paths that should not grow the loop.
``loop_kernel`` is for those loops themselves (no reference counting either, numpy's error model).
"""

from __future__ import annotations

from typing import Any, Callable, TypeVar

from numba import njit

F = TypeVar("F", bound=Callable[..., Any])

_INLINE_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False, "inline": "always"}
_HELPER_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False}
_LOOP_OPTIONS: dict[str, Any] = {"cache": True, "_nrt": False, "error_model": "numpy"}


def inline_kernel(func: F) -> F:
    """Compile ``func`` as an allocation-free helper, inlined into its compiled callers."""
    compiled: F = njit(**_INLINE_OPTIONS)(func)
    return compiled


def helper_kernel(func: F) -> F:
    """Compile ``func`` as an allocation-free helper that stays a call of its own (not inlined)."""
    compiled: F = njit(**_HELPER_OPTIONS)(func)
    return compiled


def loop_kernel(func: F) -> F:
    """Compile ``func`` as an allocation-free loop (it may call :func:`inline_kernel` helpers)."""
    compiled: F = njit(**_LOOP_OPTIONS)(func)
    return compiled
