"""`bigcode-ls complete FILE --line L --character C`: one completion, printed; an empty
one says why on stderr."""

from __future__ import annotations

import argparse
import dataclasses
import json
import stat
import sys

# Why a suggestion is empty (`Completion.detail` / `status`), in words.
REASONS = {
    "unsure": "the model was unsure of it (confidence {confidence} below minConfidence {min}; "
    "--min-confidence 0 shows everything)",
    "echo": "the model's line repeats a line next to the cursor (dropped as an echo)",
    "present": "what the model wrote is already there below the cursor",
    "retyped": "the model's text does not continue what is typed before the cursor",
    "junk": "the model's text repeats itself in a loop (hidden as junk)",
    "invalid": "the model's line opens a block the way no Python accepts (hidden)",
    "misplaced": "the model's statement cannot stand here (a `return` outside a function, "
    "a `break` outside a loop, an `else:` with no `if`; hidden)",
    "recursion": "the model's line calls the function it is in with the same arguments, "
    "a recursion that never ends (hidden)",
    "nothing": "the model wrote nothing for this place",
    "deadline": "the deadline (deadlineMs) passed before the model wrote anything",
    "disabled": "completions are disabled (--no-enable)",
}


def run_complete(args: argparse.Namespace, settings) -> int:
    from lsp_server.documents import Document, PositionError

    problem = _unreadable(args.file, settings.max_document_mib)
    if problem:
        sys.stderr.write(f"bigcode-ls: cannot read {args.file}: {problem}\n")
        return 2
    try:
        text = args.file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        sys.stderr.write(f"bigcode-ls: cannot read {args.file}: {reason}\n")
        return 2
    doc = Document(args.file.resolve().as_uri(), text)
    try:
        offset = doc.offset_at(args.line, args.character)
    except PositionError as exc:
        sys.stderr.write(f"bigcode-ls: {exc} (lines and characters count from 0)\n")
        return 2
    # One completion, then exit: no look-ahead (nothing will be accepted, and a thread still
    # inside torch when the interpreter tears down aborts the process).
    settings = dataclasses.replace(settings, precompute=False)
    # Bad arguments are answered above, before torch is imported (a second or two).
    from lsp_server.completion import CompletionRequest, CompletionService
    from model import ModelLoadError

    service = CompletionService(settings)
    reading = service.read_ahead(doc.uri, text)  # the analyser reads while the model loads
    try:
        service.load().result()
    except (ModelLoadError, OSError, ValueError, RuntimeError) as exc:
        sys.stderr.write(f"bigcode-ls: cannot load the model: {exc}\n")
        return 2
    if reading is not None:
        reading.result()  # a one-shot completion has no later keystroke to serve
    request = CompletionRequest(doc.uri, 0, text[:offset], text[offset:], args.file.name)
    result = service.complete_now(request)
    if result.status in ("error", "unavailable"):
        sys.stderr.write(f"bigcode-ls: completion failed: {result.detail}\n")
        return 1
    why = "" if result.text else explain(result, settings.min_confidence)
    if why:
        sys.stderr.write(f"bigcode-ls: no suggestion: {why}\n")
    if args.json:
        start = {"line": args.line, "character": args.character}
        out = {
            "text": result.text,
            "range": {"start": start, "end": start},
            "tokens": result.generated_tokens,
            "ms": round(result.ms, 1),
            "reason": result.detail if not result.text else "",
        }
        sys.stdout.write(json.dumps(out) + "\n")
    elif result.text:
        sys.stdout.write(result.text + "\n")
    return 0


def explain(result, min_confidence: float) -> str:
    key = result.detail or result.status
    confidence = f"{result.confidence:.2f}" if result.confidence is not None else "?"
    template = REASONS.get(key, key or "none")
    return template.format(confidence=confidence, min=min_confidence)


def _unreadable(path, max_mib: float) -> str | None:
    """Why `path` must not be read: not a regular file (a FIFO would hang, /dev/zero never
    end) or larger than maxDocumentMib."""
    try:
        info = path.stat()
    except OSError as exc:
        return exc.strerror or str(exc)
    if not stat.S_ISREG(info.st_mode):
        return "not a regular file"
    if info.st_size > max_mib * (1 << 20):
        return f"larger than maxDocumentMib ({max_mib:g} MiB)"
    return None
