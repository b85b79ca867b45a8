"""A next-edit model behind the remote server: the prompt (`fim.next_edit_prompt`) sent
to its OpenAI-compatible completions route, greedily, the answer read whole.

Its own connection: the completions' one belongs to the model thread, and an HTTP
connection carries one request at a time.
"""

from __future__ import annotations

from ...settings import Settings
from .config import http_client
from .dialects import OpenAICompletions
from .events import event_text

MAX_TOKENS = 512  # a rewritten region of ~17 lines


def rewrite(settings: Settings, prompt: str, stop: list[str]) -> str:
    client = http_client(settings)
    body = {
        "prompt": prompt,
        "max_tokens": MAX_TOKENS,
        "temperature": 0,
        "stream": True,
        "stop": stop,
    }
    if settings.remote_model:
        body["model"] = settings.remote_model
    try:
        path = OpenAICompletions.path("/completions", client)
        return "".join(event_text(e) for e in client.stream_events(path, body, lambda: False))
    finally:
        client.close()
