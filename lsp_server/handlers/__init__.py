"""The LSP handlers, one module per concern, and the table that `app.build_server`
registers. Each handler parses its params, calls the document store or the completion
service, and answers; every handler that waits is `async`, so `$/cancelRequest` reaches it.
"""

from lsprotocol import types

from .acceptance import (
    ACCEPT_METHOD,
    DISMISS_METHOD,
    SHOW_METHOD,
    did_accept,
    did_dismiss,
    did_show,
)
from .lifecycle import did_change_configuration, initialize, initialized, shutdown
from .next_edit import INLINE_EDIT_METHOD, inline_edit
from .notebooks import did_change_notebook, did_close_notebook, did_open_notebook, did_save_notebook
from .status import STATUS_METHOD, status
from .suggest import MOVE_METHOD, completion, did_move_cursor, inline_completion
from .text import did_change, did_close, did_open
from .workspace import did_change_watched_files, did_change_workspace_folders, did_save

# (method, registration options, handler), registered by `app.build_server`.
HANDLERS = (
    (types.INITIALIZE, None, initialize),
    (types.INITIALIZED, None, initialized),
    (types.SHUTDOWN, None, shutdown),
    (types.WORKSPACE_DID_CHANGE_CONFIGURATION, None, did_change_configuration),
    (types.TEXT_DOCUMENT_DID_OPEN, None, did_open),
    (types.TEXT_DOCUMENT_DID_CHANGE, None, did_change),
    (types.TEXT_DOCUMENT_DID_CLOSE, None, did_close),
    (types.TEXT_DOCUMENT_DID_SAVE, types.SaveOptions(include_text=False), did_save),
    (types.WORKSPACE_DID_CHANGE_WORKSPACE_FOLDERS, None, did_change_workspace_folders),
    (types.WORKSPACE_DID_CHANGE_WATCHED_FILES, None, did_change_watched_files),
    (types.TEXT_DOCUMENT_INLINE_COMPLETION, types.InlineCompletionOptions(), inline_completion),
    (
        types.TEXT_DOCUMENT_COMPLETION,
        types.CompletionOptions(resolve_provider=False),
        completion,
    ),
    (STATUS_METHOD, None, status),
    (INLINE_EDIT_METHOD, None, inline_edit),
    (MOVE_METHOD, None, did_move_cursor),
    (types.NOTEBOOK_DOCUMENT_DID_OPEN, None, did_open_notebook),
    (types.NOTEBOOK_DOCUMENT_DID_CHANGE, None, did_change_notebook),
    (types.NOTEBOOK_DOCUMENT_DID_CLOSE, None, did_close_notebook),
    (types.NOTEBOOK_DOCUMENT_DID_SAVE, None, did_save_notebook),
    (SHOW_METHOD, None, did_show),
    (ACCEPT_METHOD, None, did_accept),
    (DISMISS_METHOD, None, did_dismiss),
)
