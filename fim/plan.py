"""What to ask the model for at a cursor, and how to turn its answer into a suggestion.

`plan_completion` makes every text decision of a request up front: the prompt pieces,
the constraint on the first generated token, single line or block, and the token cap.
Its `Finisher` then judges the generated text: whether more tokens can still change the
suggestion (`done`) and what the suggestion is (`finish`). The completion service only
orchestrates: encode the pieces, decode until `done`, call `finish`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from .formats import FimFormat
from .healing import Vocabulary
from .postprocess import PostOptions, finish_text, is_multiline, on_blank_line, stop_early
from .prompt import Prompt, PromptOptions, Snippet, TokenCounter, build_prompt

# A single line of code rarely needs more tokens; past this a small model is looping.
SINGLE_LINE_MAX_TOKENS = 48


@dataclass(frozen=True)
class PlanOptions:
    """The prompt's options, the finisher's, and the cap on new tokens (single-line
    suggestions get at most SINGLE_LINE_MAX_TOKENS of it)."""

    prompt: PromptOptions
    post: PostOptions
    max_new_tokens: int


@dataclass(frozen=True)
class Finisher:
    """Judges generated text. `text` always starts with what the model wrote at the
    healed prompt's end, i.e. with `healed` when the first token was constrained."""

    prefix: str  # the document before the cursor
    suffix: str  # the document after the cursor
    healed: str  # text the prompt left off and the first token re-typed
    post: PostOptions

    def done(self, text: str) -> bool:
        """True once more tokens cannot change the suggestion."""
        return stop_early(text[len(self.healed) :], self.prefix, self.suffix, self.post)

    def finish(self, text: str) -> str:
        """The suggestion to insert at the cursor ("" for none)."""
        return self.finish_why(text)[0]

    def finish_why(self, text: str) -> tuple[str, str]:
        """The suggestion, and why it is empty when it is (`postprocess.finish_text`'s
        reasons, or "retyped": the text does not continue what the user typed)."""
        if not text.startswith(self.healed):
            return "", "retyped"  # never insert text that does not continue what was typed
        return finish_text(text[len(self.healed) :], self.prefix, self.suffix, self.post)


@dataclass(frozen=True)
class Plan:
    prompt: Prompt
    first_starts_with: str  # the first token must start with this text ("": any)
    first_on_line: bool  # the first token must not open a new line
    multiline: bool
    max_new_tokens: int
    finisher: Finisher

    def allowed_first_ids(self, vocab: Vocabulary | None) -> frozenset[int] | None:
        """The token ids the first generated token may take; None: no constraint."""
        if vocab is None:
            return None
        if self.first_starts_with:
            return frozenset(vocab.ids_starting_with(self.first_starts_with))
        if self.first_on_line:
            return vocab.stays_on_line
        return None


def plan_completion(
    prefix: str,
    suffix: str,
    fmt: FimFormat | None,
    count: TokenCounter,
    options: PlanOptions,
    *,
    path: str = "",
    token_starts: Callable[[str], list[int]] | None = None,
    vocab: Vocabulary | None = None,
    snippets: Sequence[Snippet] = (),
) -> Plan:
    """The plan for a cursor between `prefix` and `suffix` (the whole document around it)."""
    prompt = build_prompt(
        prefix,
        suffix,
        fmt,
        count,
        options.prompt,
        path=path,
        snippets=snippets,
        token_starts=token_starts,
        vocab=vocab,
    )
    multiline = is_multiline(prefix, suffix, options.post.mode, options.post.language)
    max_new = options.max_new_tokens
    if not multiline:
        max_new = min(max_new, SINGLE_LINE_MAX_TOKENS)
    return Plan(
        prompt=prompt,
        first_starts_with=prompt.healed,
        # On a blank line a first token that opens another line gives no suggestion for
        # this one (single-line mode stops at the newline): ask for this line's text.
        first_on_line=not prompt.healed and on_blank_line(prefix, suffix),
        multiline=multiline,
        max_new_tokens=max_new,
        finisher=Finisher(prefix, suffix, prompt.healed, options.post),
    )
