"""The two request dialects of a remote backend, and every difference between them.

* `OpenAICompletions` (`backend: openai`): POST /v1/completions with the whole FIM prompt
  as text (the server parses the special tokens' spellings). Our SPM layout only ever
  appends at the cursor, so the server's prefix cache (llama.cpp's `cache_prompt`,
  vLLM's prefix caching) hits.
* `LlamaInfill` (`backend: llamacpp`): llama.cpp's native POST /infill with the prefix,
  suffix and snippets as fields; the server lays out the FIM prompt with the model's own
  tokens.

Behind an OpenAI-style endpoint may be llama.cpp or vLLM; the model listing says which
(`ServerInfo.server`), and a few fields depend on that too.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .config import RemoteConfigError

if TYPE_CHECKING:
    from fim.formats import FimFormat
    from fim.plan import Plan

    from .http import HttpClient


@dataclass
class ServerInfo:
    """What a probe learned of the server."""

    server: str = ""  # "llamacpp" or "vllm" when it says so
    n_ctx: int | None = None  # its context size, where it reports one
    served: list[str] = field(default_factory=list)  # the models it lists


class LlamaInfill:
    name = "llamacpp"
    limit = "n_predict"  # the field that caps new tokens

    def probe(self, client: HttpClient) -> ServerInfo:
        props = client.get_json("/props")
        n_ctx = (props.get("default_generation_settings") or {}).get("n_ctx")
        return ServerInfo("llamacpp", n_ctx if isinstance(n_ctx, int) and n_ctx > 0 else None)

    def body(self, plan: Plan, fmt: FimFormat | None, server: str, with_ids: bool) -> dict:
        prompt = plan.prompt
        return {
            "input_prefix": prompt.prefix,
            "input_suffix": prompt.suffix,
            "input_extra": [{"filename": "", "text": t} for t in prompt.snippets],
            "prompt": "",
            "n_predict": plan.max_new_tokens,
            "stream": True,
            "cache_prompt": True,
            "return_tokens": with_ids,  # to stop at a special token where we would
            "timings_per_token": True,
        }

    def endpoint(self, client: HttpClient) -> str:
        return "/infill"

    def continue_after(self, body: dict, text: str, ids: list[int | None]) -> None:
        """Ask for the rest after the first token (`text`, with its `ids`)."""
        body["prompt"] = text  # /infill appends it to the prefix, tokenized alone


class OpenAICompletions:
    name = "openai"
    limit = "max_tokens"

    @staticmethod
    def path(endpoint: str, client: HttpClient) -> str:
        """`/completions` or `/models` under /v1, unless the URL already ends in /v1."""
        return endpoint if client.base_path.endswith("/v1") else "/v1" + endpoint

    def probe(self, client: HttpClient) -> ServerInfo:
        listing = client.get_json(self.path("/models", client))
        models = [m for m in listing.get("data") or [] if isinstance(m, dict)]
        owners = {str(m.get("owned_by")) for m in models}
        server = "llamacpp" if "llamacpp" in owners else "vllm" if "vllm" in owners else ""
        return ServerInfo(server, None, [str(m.get("id")) for m in models])

    def body(self, plan: Plan, fmt: FimFormat | None, server: str, with_ids: bool) -> dict:
        body: dict[str, Any] = {
            "prompt": "".join(plan.prompt.pieces),
            "max_tokens": plan.max_new_tokens,
            "stream": True,
            "stream_options": {"include_usage": True},  # vLLM reports cached tokens there
            "stop": list(fmt.stop_texts) if fmt else [],
        }
        # We hang up as soon as the suggestion is complete, before the usage figures at
        # the stream's end: servers that can put them in every event are asked to.
        if server == "llamacpp":
            body["timings_per_token"] = True
        elif server == "vllm":
            body["stream_options"] = {"include_usage": True, "continuous_usage_stats": True}
        return body

    def endpoint(self, client: HttpClient) -> str:
        return self.path("/completions", client)

    def continue_after(self, body: dict, text: str, ids: list[int | None]) -> None:
        if len(ids) == 1 and ids[0] is not None:
            body["prompt"] = [body["prompt"], ids[0]]  # the very token, not its text again
        else:
            body["prompt"] += text


DIALECTS = {"llamacpp": LlamaInfill, "openai": OpenAICompletions}


def check_served(info: ServerInfo, wanted: str, origin: str) -> None:
    """A server that lists its models must list the one configured."""
    if wanted and info.served and wanted not in info.served:
        raise RemoteConfigError(
            f"{origin} does not serve the model {wanted!r} "
            f"(it serves: {', '.join(info.served[:8])})"
        )
