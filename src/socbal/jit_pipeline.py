"""socbal's Numba compiler pipeline (``pipeline_class=`` of every socbal kernel): Numba's nopython pipeline, where

- IR inlining does not copy its callee. Numba's inliner (``inline="always"``, :func:`socbal.jit.ir_inline_kernel`)
  runs the untyped passes on the callee, which gives a fresh IR made for that one call site, and then
  deep-copies it twice, block by block: once to protect an IR it made itself, once to return an unmutated
  copy that the inlining pass throws away (numba/numba#8989). Each block's copy copies the callee's whole
  variable scope, so the cost grows with the callee's blocks times its variables: most of the first run's IR
  inlining. Here the fresh IR's blocks are marked, for the time of that one inlining, as blocks that copying
  returns as they are;
- the compiler flags are read once until one changes (see :class:`_Flags`);
- the rewrites after type inference are left out (see :func:`_with_socbal_passes`);
- a function compiled without reference counting is lowered without Numba's ``del`` statements
  (see :class:`LegalizeWithoutDels`);
- LLVM's loop and SLP vectorisers are off, except in a function marked :func:`socbal.jit.vectorised`
  (see :class:`LowerWithoutVectorisers`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from numba.core import config, ir, ir_utils, postproc
from numba.core.compiler import CompilerBase, DefaultPassBuilder, Flags
from numba.core.compiler_machinery import PassManager, register_pass
from numba.core.inline_closurecall import InlineWorker, callee_ir_validator
from numba.core.typed_passes import IRLegalization, NativeLowering, NopythonRewrites
from numba.core.untyped_passes import InlineInlinables


class _Flags(Flags):
    """Numba's compiler flags, whose values are read once until one changes.

    Numba's overload templates (``min``, ``max``, ``int``, numpy's functions…) key their cache on the flags
    of the function being compiled, at every one of thousands of calls in a first compile: each lookup hashes
    them and compares them, each time reading every option (about 40 attribute reads). Here the values
    are kept with the explicitly set options they came from, and read again only when those differ.
    """

    __slots__ = ("_read",)  # (the set options, every option's value, their hash), or unset

    def _values_read(self) -> tuple[Any, dict[str, Any], int]:
        set_options = tuple(self._values.items())
        read: tuple[Any, dict[str, Any], int] | None = getattr(self, "_read", None)
        if read is None or read[0] != set_options:
            values = super().values()
            read = (set_options, values, hash(tuple(sorted(values))))  # the hash as Numba's: of the option names
            self._read = read
        return read

    def values(self) -> dict[str, Any]:
        return dict(self._values_read()[1])

    def __eq__(self, other: object) -> bool:
        if isinstance(other, _Flags):
            return self._values_read()[1] == other._values_read()[1]
        equal: bool = super().__eq__(other)
        return equal

    def __hash__(self) -> int:
        return self._values_read()[2]


class _FreshBlock(ir.Block):
    """A block of a callee's IR made for one inlining: nothing else holds it, so a copy may be itself."""

    def __deepcopy__(self, memo: dict[int, Any]) -> ir.Block:
        return self


class _FreshIRInliner(InlineWorker):
    """Numba's inliner, without copying the callee IR that it has just made for this call site."""

    def __init__(self, state: Any) -> None:
        super().__init__(state.typingctx, state.targetctx, state.locals, state.pipeline, state.flags, callee_ir_validator)
        self._compiler_pipeline = untyped_pipeline  # a callee's own inlined callees: inlined the same way

    def inline_function(self, caller_ir: ir.FunctionIR, block: ir.Block, i: int, function: Any, arg_typs: Any = None) -> Any:
        callee_ir = self.run_untyped_passes(function)
        for callee_block in callee_ir.blocks.values():
            callee_block.__class__ = _FreshBlock
        try:
            return self.inline_ir(caller_ir, block, i, callee_ir, function.__code__.co_freevars, arg_typs=arg_typs)
        finally:  # from here on, the caller's blocks copy as any block does
            for caller_block in caller_ir.blocks.values():
                if isinstance(caller_block, _FreshBlock):
                    caller_block.__class__ = ir.Block  # type: ignore[assignment]


@register_pass(mutates_CFG=True, analysis_only=False)
class InlineWithoutCopies(InlineInlinables):
    """Numba's ``inline_inlinables`` pass through :class:`_FreshIRInliner`."""

    _name = "socbal_inline_inlinables"

    def _do_work(self, state: Any, work_list: Any, block: ir.Block, i: int, expr: ir.Expr, inline_worker: InlineWorker) -> bool:
        done: bool = super()._do_work(state, work_list, block, i, expr, _FreshIRInliner(state))
        return done


@register_pass(mutates_CFG=False, analysis_only=False)
class LegalizeWithoutDels(IRLegalization):
    """Numba's check of the IR before lowering, without the ``del`` statements that it then inserts after each
    variable's last use, where the function is compiled without reference counting (``_nrt=False``).

    A ``del`` only releases a reference (a no-op without reference counting) and clears the variable's stack
    slot, so it changes nothing in the machine code once LLVM has removed the dead stores, yet it is about half
    of the statements lowered in the simulator's loop (each one a load and a store that LLVM must then remove),
    and one seen before its variable's assignment (in a loop) gives that variable a stack slot.
    """

    _name = "socbal_ir_legalization"

    def run_pass(self, state: Any) -> bool:
        if state.flags.nrt:
            return bool(super().run_pass(state))
        ir_utils.enforce_no_phis(state.func_ir)
        ir_utils.enforce_no_dels(state.func_ir)
        postproc.PostProcessor(state.func_ir).run(emit_dels=False)  # Numba's legalisation, less the dels
        return True


@contextmanager
def without_vectorisers() -> Iterator[None]:
    """LLVM's loop and SLP vectorisers off for what Numba compiles meanwhile (its pass managers read the settings
    as each function is optimised); Numba's settings restored after."""
    settings: Any = config  # its attributes are set at run time, from the environment
    saved = settings.LOOP_VECTORIZE, settings.SLP_VECTORIZE
    settings.LOOP_VECTORIZE = settings.SLP_VECTORIZE = False
    try:
        yield
    finally:
        settings.LOOP_VECTORIZE, settings.SLP_VECTORIZE = saved


#: The attribute that :func:`socbal.jit.vectorised` sets on a function to keep LLVM's vectorisers on for it.
VECTORISED = "_socbal_vectorised"


@register_pass(mutates_CFG=True, analysis_only=False)
class LowerWithoutVectorisers(NativeLowering):
    """Numba's lowering, with LLVM's loop and SLP vectorisers off while it optimises the function (unless the
    function carries :data:`VECTORISED`).

    socbal's loops run over a handful of packs or devices, fewer than a vector body takes or about as many, so the
    vector code and its checks (trip count, aliasing) mostly cost without running: without it the first run compiles
    faster and the home loop runs as fast. The results are the same (no vectoriser reorders a sum without
    fast-math's ``reassoc``, which no kernel has). ``docs/performance.md`` has the figures.
    """

    _name = "socbal_native_lowering"

    def run_pass(self, state: Any) -> bool:
        if getattr(state.func_id.func, VECTORISED, False):
            return bool(super().run_pass(state))
        with without_vectorisers():
            return bool(super().run_pass(state))


_SOCBAL_PASSES = {
    InlineInlinables: InlineWithoutCopies,
    IRLegalization: LegalizeWithoutDels,
    NativeLowering: LowerWithoutVectorisers,
}


def _with_socbal_passes(pm: PassManager) -> PassManager:
    """``pm`` with socbal's passes in place of Numba's, less Numba's rewrites after type inference, finalized.

    Those rewrites (array expressions, arrays of constants, items got or set by a string literal) find nothing
    in kernels that allocate nothing and index arrays by number (none fires in ``socbal simulate``, a home,
    a fleet or ``socbal allocate``), yet the pass walks the typed IR three times per compiled function.
    """
    pm.passes = [(_SOCBAL_PASSES.get(cls, cls), description) for cls, description in pm.passes if cls is not NopythonRewrites]
    pm.finalize()
    return pm


def untyped_pipeline(state: Any, name: str = "untyped") -> PassManager:
    """Numba's untyped pipeline (what the inliner runs on a callee) with socbal's passes."""
    return _with_socbal_passes(DefaultPassBuilder.define_untyped_pipeline(state, name))


class SocbalCompiler(CompilerBase):
    """Numba's nopython pipeline with socbal's passes (``pipeline_class=`` of every socbal kernel)."""

    def __init__(
        self, typingctx: Any, targetctx: Any, library: Any, args: Any, return_type: Any, flags: Flags, locals: Any
    ) -> None:
        super().__init__(typingctx, targetctx, library, args, return_type, _Flags(flags), locals)

    def define_pipelines(self) -> list[PassManager]:
        return [_with_socbal_passes(DefaultPassBuilder.define_nopython_pipeline(self.state))]
