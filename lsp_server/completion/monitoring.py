"""Static analysis in the decoding loop (`staticAnalysis`): while the model writes an
attribute (`os.path.jo`) or a name imported from a module (`from os.path import jo`),
only tokens that keep it one Jedi says exists may follow.

The local backend calls the request's `AttributeMonitor` with the text generated so far
before each token; the monitor finds a trigger (`fim.monitor`), asks `Analysis` for the
receiver's names within what is left of the request's analysis budget, and turns them
into the allowed token ids. Out of budget, unknown receiver, or no name fits what is
written already: no constraint, never no suggestion.
"""

from __future__ import annotations

import time
import weakref
from collections.abc import Collection
from concurrent.futures import Future
from pathlib import Path
from typing import TYPE_CHECKING

from fim.healing import Vocabulary
from fim.monitor import NameConstraint, Trigger, name_trigger

from ..analysis import Analysis
from ..workspace import uri_to_path

if TYPE_CHECKING:
    from fim.plan import Plan

    from ..repo_context import RepoContext
    from .requests import CompletionRequest

# Most time one request waits for the analyser, all its questions together: about what
# a few tokens of the bundled model cost. A question not answered in time is answered
# for the next keystroke (the answer is cached by place).
BUDGET_S = 0.05
PYTHON = (".py", ".pyi")
MAX_READ_AHEAD_CHARS = 1 << 20  # larger files are analysed around the cursor only


class AttributeMonitor:
    def __init__(
        self,
        analysis: Analysis,
        constraint: NameConstraint | None,
        before: str,
        suffix: str,
        path: str,
        root: Path | None,
        budget_s: float | None = None,
    ):
        self.analysis, self.constraint = analysis, constraint
        self.before, self.suffix = before, suffix  # the text before the generated, after it
        self.path, self.root = path, root
        self.budget_s = BUDGET_S if budget_s is None else budget_s
        self.left_s = self.budget_s

    @property
    def waited_s(self) -> float:
        """How long the request has waited for the analyser so far."""
        return self.budget_s - self.left_s

    def __call__(self, generated: str) -> Collection[int] | None:
        text = self.before + generated
        trigger = name_trigger(text)
        names = self._names(text, trigger) if trigger else None
        if not names or self.constraint is None:
            return None
        allowed = self.constraint.allowed(trigger.spellings(names), trigger.partial)
        # empty: what is written fits no name, and the analyser may not know them all
        return allowed or None

    def at_cursor(self, healed: str) -> list[str] | None:
        """For a server, which takes a grammar and no per-token constraint: what the
        generation may start with when the cursor is in an attribute (each fitting name's
        rest after the prompt, among those that re-type the `healed` text). None: the
        cursor is in no attribute or import, no answer in time, or nothing fits."""
        trigger = name_trigger(self.before)
        names = self._names(self.before, trigger) if trigger else None
        typed = trigger.partial if trigger else ""
        spelled = trigger.spellings(names) if trigger and names else []
        rests = {n[len(typed) :] for n in spelled if n.startswith(typed)}
        return sorted(r for r in rests if r.startswith(healed)) or None

    def _names(self, text: str, trigger: Trigger) -> list[str] | None:
        """The analyser's names at `trigger` in `text`, within what is left of the budget."""
        if self.left_s <= 0:
            return None
        # the file's imports ahead of the window (the request's text may start far below)
        head = self.analysis.header(self.path) + text[: trigger.dot] + trigger.lead
        line = head.count("\n") + 1
        column = len(head) - (head.rfind("\n") + 1)
        t0 = time.monotonic()
        names = self.analysis.attributes(
            head + self.suffix, line, column, trigger.receiver, self.path, self.root, self.left_s
        )
        self.left_s -= time.monotonic() - t0
        return names


_constraints: weakref.WeakKeyDictionary[Vocabulary, NameConstraint] = weakref.WeakKeyDictionary()


class StaticAnalysis:
    """The service's analyser, started on first use, and the monitors it makes."""

    def __init__(self, context: RepoContext | None) -> None:
        self.context = context  # its workspace folders are Jedi's projects
        self.analysis: Analysis | None = None

    def _started(self) -> Analysis:
        if self.analysis is None:
            self.analysis = Analysis()
        return self.analysis

    def _place(self, uri: str) -> tuple[str, Path | None]:
        path = uri_to_path(uri)  # Jedi resolves imports relative to the file
        root = self.context.index.folder_of(path) if self.context and path else None
        return (str(path) if path else uri), root  # an untitled buffer has no file

    def monitor(
        self, request: CompletionRequest, plan: Plan, vocab: Vocabulary | None
    ) -> AttributeMonitor | None:
        """The request's monitor: Python files, a backend that knows its tokens' spellings."""
        if vocab is None or not (request.path or request.uri).endswith(PYTHON):
            return None
        if vocab not in _constraints:
            _constraints[vocab] = NameConstraint(vocab)
        before = request.prefix[: len(request.prefix) - len(plan.finisher.healed)]
        where, root = self._place(request.uri)
        return AttributeMonitor(
            self._started(), _constraints[vocab], before, request.suffix, where, root
        )

    def forget(self, uri: str) -> None:
        """The document closed: what was read of it goes."""
        if self.analysis is not None:
            self.analysis.forget(self._place(uri)[0])

    def status(self) -> dict | None:
        return self.analysis.status() if self.analysis else None

    def stop(self) -> None:
        if self.analysis is not None:
            self.analysis.stop()

    def read_ahead(self, uri: str, text: str) -> Future | None:
        """A Python file was opened or saved: its old answers go, and Jedi reads it (and
        what it imports) now rather than on the first keystroke (done: the Future)."""
        if not uri.endswith(PYTHON) or len(text) > MAX_READ_AHEAD_CHARS:
            return None  # Jedi takes minutes over a 50 MB file, a core all along
        where, root = self._place(uri)
        analysis = self._started()
        analysis.forget(where)
        return analysis.warm(text, where, root)
