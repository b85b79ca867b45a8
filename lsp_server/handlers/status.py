"""`bigcode/status`: the server's state for health checks, clients' status lines and tests."""

from __future__ import annotations

from typing import Any

from .. import __version__
from ..model_languages import model_languages
from ..rpc.wire import field_of
from ..server import BigCodeServer

STATUS_METHOD = "bigcode/status"


def status(ls: BigCodeServer, params: Any) -> dict:
    """Server state for health checks and tests: the model, the KV cache sessions and,
    with {"uri": ...}, the server's copy of that document and its last completion."""
    uri = field_of(params, "uri", str)
    out = {
        "version": __version__,
        "positionEncoding": ls.encoding,
        "documents": len(ls.documents),
        "completionRequests": ls.protocol.completion_requests,  # received (some cancelled)
        **ls.service.status(),
        "workspace": ls.index.status(),
        "acceptance": ls.acceptance.summary(),
    }
    # What the clients start for: the languages the model completes ("*": every one).
    out["languages"] = model_languages(out["modelPath"], out["backend"], out["demonstration"])
    doc = ls.documents.get(uri) if uri else None
    if doc is not None:
        out["document"] = {"text": doc.text, "version": doc.version}
        last = ls.service.last(uri)
        if last is not None:
            out["last"] = {
                "status": last.status,
                "text": last.text,
                "generatedTokens": last.generated_tokens,
                "promptTokens": last.prompt_tokens,
                "reusedTokens": last.reused_tokens,
                "room": last.room,
                "context": list(last.context),
                "source": last.source,
                "alternatives": list(last.alternatives),
                "confidence": last.confidence,
                "detail": last.detail,
                "ms": round(last.ms, 2),
                "phases": last.phases,
                "cutByDeadline": last.detail == "deadline",
            }
    return out
