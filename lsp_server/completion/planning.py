"""A request's prompt plan from the settings and what the backend says about itself:
the budgets (prompt tokens, new tokens, characters of text to read) and fim's options."""

from __future__ import annotations

import re

from fim.languages import language_of
from fim.plan import Plan, PlanOptions, plan_completion
from fim.postprocess import PostOptions
from fim.prompt import PromptOptions, Snippet

from ..backends.base import Backend
from ..settings import Settings
from .requests import CompletionRequest

# Characters of text read around the cursor per prompt token of budget: a bound, more
# than any tokenizer packs into a token, so that the token budget, not this, limits the
# prompt (the remote backend's CHARS_PER_TOKEN_ESTIMATE is an average, for counting).
MAX_CHARS_PER_TOKEN = 32
LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def plan_request(
    request: CompletionRequest,
    backend: Backend,
    settings: Settings,
    snippets: list[Snippet],
    window_ahead: bool = False,
) -> Plan:
    s = settings
    prompt = PromptOptions(
        budget=prompt_budget(backend, s),
        order=s.fim_order,
        filename_header=backend.filename_header,
        heal=s.token_healing and backend.token_starts is not None,
        snippet_share=s.repo_context_share,
        window_ahead=window_ahead,
    )
    post = PostOptions(
        mode=request.mode or s.multiline,
        max_lines=s.max_lines,
        drop_echoes=s.drop_echoes,
        language=language_of(request.path or request.uri).name,
    )
    options = PlanOptions(prompt, post, max_new_tokens(backend, s))
    # The tokenizer refuses lone surrogates (valid in LSP's UTF-16, not in UTF-8).
    return plan_completion(
        LONE_SURROGATE.sub("\ufffd", request.prefix),
        LONE_SURROGATE.sub("\ufffd", request.suffix),
        backend.fmt,
        backend.count,
        options,
        path=request.path,
        token_starts=backend.token_starts,
        vocab=backend.vocab,
        snippets=snippets,
    )


def window_chars(backend: Backend | None, settings: Settings) -> int:
    """How much text around the cursor a prompt can possibly use."""
    context = backend.context_size if backend else settings.context_tokens
    return min(settings.context_tokens, context) * MAX_CHARS_PER_TOKEN


def max_new_tokens(backend: Backend, settings: Settings) -> int:
    """New tokens per completion: the setting, but never more than half the context,
    so that the prompt keeps at least the other half."""
    return max(1, min(settings.max_new_tokens, backend.context_size // 2))


def prompt_budget(backend: Backend, settings: Settings) -> int:
    """Prompt tokens: the setting, within what the context leaves after generation."""
    limit = backend.context_size - max_new_tokens(backend, settings) - 1
    return max(16, min(settings.context_tokens, limit))
