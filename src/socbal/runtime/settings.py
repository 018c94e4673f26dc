"""EMS settings that change at run time: validated, persisted, applied on the next cycle, announced to listeners.

The HTTP API and the MQTT service :meth:`~SettingsController.propose` changes;
the control loop :meth:`~SettingsController.apply_pending` them at the start of a
cycle; listeners (e.g. the MQTT service republishing the retained setting topics)
hear of every accepted change through :meth:`~SettingsController.subscribe`.
Persisted settings win over the config's at the next start, unless reset.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

from pydantic import BaseModel, ValidationError

from socbal.ems.models import check_pack_ids
from socbal.errors import InputError, describe_validation_error
from socbal.runtime.payload import shorten
from socbal.runtime.store import StateStore

log = logging.getLogger("socbal.runtime.settings")

S = TypeVar("S", bound=BaseModel)
Listener = Callable[[S], None]
#: The problems of a settings model against the device it runs (empty when none).
Check = Callable[[S], Sequence[str]]


class SettingsController(Generic[S]):
    """Thread-safe holder of the settings in force (see the module docstring).

    ``reset`` forgets the persisted settings, so the config's ``initial`` apply. The settings are EMS
    :class:`~socbal.ems.models.Settings` checked against ``pack_ids``, or any other model (the type of
    ``initial``) with its own ``check``.
    """

    def __init__(
        self, store: StateStore, initial: S, pack_ids: Sequence[str] = (), reset: bool = False, check: Check[S] | None = None
    ) -> None:
        self.store = store
        self.pack_ids = list(pack_ids)
        self.configured = initial
        self.model = type(initial)
        self._check: Check[S] = check or (lambda s: check_pack_ids(self.pack_ids, s))  # type: ignore[arg-type]
        self._listeners: list[Listener[S]] = []
        self._lock = threading.Lock()
        self._pending: S | None = None
        persisted = None if reset else store.load_settings(self.model)
        if reset:
            store.clear_settings("settings reset to the config's (--reset-settings)")
        self.current = persisted if persisted is not None and self._priority_problem(persisted) is None else initial

    def stored_overrides(self) -> dict[str, tuple[object, object]]:
        """Settings that come from the stored state and differ from the config: name -> (stored, configured)."""
        cur, cfg = self.current.model_dump(), self.configured.model_dump()
        return {k: (cur[k], cfg[k]) for k in cur if cur[k] != cfg[k]}

    def subscribe(self, listener: Listener[S]) -> None:
        """Call ``listener(new_settings)`` after every accepted change (in the proposer's thread; must not block)."""
        self._listeners.append(listener)

    def _priority_problem(self, s: S) -> str | None:
        """The first problem of ``s`` (with the configured pack ids: the one rule, :func:`check_pack_ids`), or None."""
        problems = self._check(s)
        return problems[0] if problems else None

    @property
    def latest(self) -> S:
        """The settings in force after the next cycle (pending change, else current)."""
        with self._lock:
            return self._pending or self.current

    def propose(self, patch: object, source: str) -> S:
        """Validate a partial change; on success queue its persistence (with a ``setting`` event) and apply it next cycle.

        Raises :class:`InputError` (and logs one ``rejected`` event, cut short) when the change is invalid,
        or when the event log cannot take the change right now.
        """
        with self._lock:
            base = self._pending or self.current
            try:
                if not isinstance(patch, dict) or not patch:
                    raise InputError(f"settings: a change must be a non-empty object, got {shorten(patch)}")
                try:
                    new = self.model.model_validate({**base.model_dump(), **patch})
                except ValidationError as err:
                    raise InputError(describe_validation_error(err, prefix="settings")) from None
                problem = self._priority_problem(new)
                if problem:
                    raise InputError(problem)
            except InputError as err:
                self.store.log("rejected", f"{source}: {err}")
                raise
            changes = {k: v for k, v in new.model_dump().items() if v != base.model_dump()[k]}
            text = ", ".join(f"{k}={v!r}" for k, v in changes.items()) or "no change"
            if not self.store.save_settings(new, f"{source}: {text}", data={"source": source, "changes": changes}):
                raise InputError("settings: the event log is backed up and cannot take the change now; try again later")
            self._pending = new
        for listener in list(self._listeners):
            try:
                listener(new)
            except Exception:  # noqa: BLE001 - a listener's bug must not undo an accepted change
                log.exception("settings listener failed")
        return new

    def apply_pending(self) -> S | None:
        """Make a queued change current (called at the start of a cycle); returns it, or ``None``."""
        with self._lock:
            if self._pending is None:
                return None
            self.current, self._pending = self._pending, None
            return self.current
