"""The session's lifecycle and settings: initialize, initialized, shutdown, and
`workspace/didChangeConfiguration` (pushed values, or pulled from clients that send null)."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from lsprotocol import types

from ..logs import attach_client
from ..server import BigCodeServer, user_notifier, watch_parent
from ..settings import SECTION
from .acceptance import save_periodically, save_stats
from .workspace import initial_folders, watch_files

log = logging.getLogger("bigcode_ls")


def initialize(ls: BigCodeServer, params: types.InitializeParams) -> None:
    if ls.log_handler is None:
        ls.log_handler = attach_client(log, ls, asyncio.get_running_loop())
    ls.service.notify = user_notifier(ls, asyncio.get_running_loop())
    if ls.stats_task is None:
        ls.stats_task = asyncio.ensure_future(save_periodically(ls))
    ls.apply_settings(params.initialization_options)
    ls.index.set_folders(initial_folders(params))
    if params.process_id:
        ls.watch_task = asyncio.ensure_future(watch_parent(ls, params.process_id))


def initialized(ls: BigCodeServer, params: types.InitializedParams) -> None:
    ls.ensure_loaded()
    watch_files(ls)


def shutdown(ls: BigCodeServer, params: Any) -> None:
    save_stats(ls)
    if ls.load_task is not None:
        ls.load_task.cancel()  # no progress may be sent after exit
    ls.service.cancel_all()  # the model stays: over TCP another client may come


async def did_change_configuration(
    ls: BigCodeServer, params: types.DidChangeConfigurationParams
) -> None:
    values = params.settings
    caps = ls.client_capabilities.workspace
    if not values and caps is not None and caps.configuration:
        # Pull-model clients (VS Code) send null and expect us to ask.
        items = [types.ConfigurationItem(section=SECTION)]
        try:
            pulled = await asyncio.wait_for(
                ls.workspace_configuration_async(types.ConfigurationParams(items=items)), 5
            )
            values = pulled[0] if pulled else None
        except Exception as exc:
            log.warning("could not read the configuration: %s", exc)
            return
    ls.apply_settings(values)
