"""The one module that joins the server object and its handlers."""

from __future__ import annotations

from .handlers import HANDLERS
from .server import BigCodeServer
from .settings import Settings


def build_server(settings: Settings | None = None) -> BigCodeServer:
    ls = BigCodeServer(settings)
    for method, options, handler in HANDLERS:
        ls.feature(method, options)(handler)
    return ls
