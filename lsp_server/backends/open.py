"""Make the backend the settings name. The only module that knows every kind; the local
one is imported when asked for, since it imports torch."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..settings import Settings
    from .base import Backend


def open_backend(
    settings: Settings,
    report: Callable[[str, int], None],
    notify: Callable[[str], None],
) -> Backend:
    """The backend the settings name: load the model, or set up the remote client.
    `report(message, percent)` tracks progress; `notify(message)` tells the user of
    trouble that arises later (a remote server that goes down)."""
    if settings.backend == "local":
        from .engine import Engine  # imports torch
        from .local import LocalBackend

        s = settings
        return LocalBackend(
            Engine.load(
                s.model,
                s.device,
                s.dtype,
                s.threads,
                s.quantize,
                report,
                s.packed_linears,
                s.wide_passes,
            )
        )
    from .remote.client import RemoteBackend

    return RemoteBackend.open(settings, report, notify)
