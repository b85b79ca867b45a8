"""Acceptance statistics, local only: how often suggestions are shown, taken and kept.

Clients report what the user did with a suggestion through three notifications (LSP
3.18 has none for this; the Copilot language server uses its own too):

    bigcode/didShowCompletion     {uri, text}
    bigcode/didAcceptCompletion   {uri, text, acceptedLength}   (shorter: a partial accept)
    bigcode/didDismissCompletion  {uri, text}

A suggestion shown and then replaced by another without being accepted counts as
dismissed, so a client that cannot see dismissals (VS Code) still gets them counted.
Thirty seconds after an accept the document is checked for the accepted text near where
it went: the characters still there are the retained ones (Copilot's measure). Counts
are per language, in memory, and optionally merged into a local JSON file; nothing
leaves the machine. A language whose suggestions are rarely taken is backed off (single
lines, a longer pause before asking), which the log says.
"""

from __future__ import annotations

import json
import logging
import math
import os
import stat
import tempfile
import time
from dataclasses import asdict, dataclass, field
from difflib import SequenceMatcher
from pathlib import Path

from .settings import camel

log = logging.getLogger("bigcode_ls")
RETENTION_S = 30.0
MAX_CHECKED_CHARS = 4000  # of an accept, checked for retention (the rest is not checked)
MAX_PENDING = 100  # accepts awaiting their check; older ones are dropped
MAX_LINE_CHARS = 400  # of a line, compared character by character
RETENTION_WINDOW = 2000  # characters around the accept point searched for the text
BACK_OFF_AFTER = 30  # shown suggestions before a language can be backed off
BACK_OFF_BELOW = 0.05  # taken share under which it is
BACK_OFF_LIFT = 0.10  # taken share at which the back-off ends again
BACK_OFF_DELAY_MS = 300


def stats_path() -> Path:
    state = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(state) / "bigcode-ls" / "stats.json"


@dataclass
class LanguageStats:
    shown: int = 0
    accepted: int = 0  # the whole suggestion
    partial: int = 0  # a word or line of it
    dismissed: int = 0
    shown_chars: int = 0
    accepted_chars: int = 0
    retained_chars: int = 0  # of the accepted ones still there after 30 s
    checked_chars: int = 0  # accepted characters whose 30 s check has run
    latency_ms_total: float = 0.0
    served: int = 0  # suggestions the server answered (for the mean latency)

    @property
    def taken_rate(self) -> float:
        return (self.accepted + self.partial) / self.shown if self.shown else 0.0

    def summary(self) -> dict:
        out = asdict(self)
        out["takenRate"] = round(self.taken_rate, 4)
        out["retainedRate"] = (
            round(self.retained_chars / self.checked_chars, 4) if self.checked_chars else None
        )
        out["meanLatencyMs"] = (
            round(self.latency_ms_total / self.served, 1) if self.served else None
        )
        return {camel(k): v for k, v in out.items()}


@dataclass
class Accept:
    uri: str
    language: str
    text: str
    offset: int  # where it went in the document (characters)
    due: float


@dataclass
class AcceptanceStats:
    languages: dict[str, LanguageStats] = field(default_factory=dict)
    backed_off: set[str] = field(default_factory=set)
    _showing: dict[str, tuple[str, str]] = field(default_factory=dict)  # uri -> (lang, text)
    _pending: list[Accept] = field(default_factory=list)  # accepts awaiting their check
    _saved_before: dict[str, dict] | None = None  # the file's counts from earlier sessions

    def of(self, language: str) -> LanguageStats:
        return self.languages.setdefault(language or "unknown", LanguageStats())

    # --- events ---------------------------------------------------------------------
    def served(self, language: str, ms: float) -> None:
        s = self.of(language)
        s.served += 1
        s.latency_ms_total += ms

    def shown(self, uri: str, language: str, text: str) -> None:
        if not text:
            return
        if uri in self._showing and self._showing[uri][1] != text:
            self.dismissed(uri)  # replaced without an accept
        if self._showing.get(uri, ("", ""))[1] == text:
            return  # the same suggestion drawn again (a redraw, a repeated notice)
        self._showing[uri] = (language, text)
        s = self.of(language)
        s.shown += 1
        s.shown_chars += len(text)
        self._review(language)

    def accepted(self, uri: str, language: str, text: str, length: int, offset: int) -> None:
        length = max(0, min(length, len(text))) if text else 0
        if not length:
            return
        self._showing.pop(uri, None)
        s = self.of(language)
        if length < len(text):
            s.partial += 1
        else:
            s.accepted += 1
        s.accepted_chars += length
        due = time.monotonic() + RETENTION_S
        # bounded: a flood of huge accepts must not hold their text for RETENTION_S
        kept = text[: min(length, MAX_CHECKED_CHARS)]
        self._pending = self._pending[-(MAX_PENDING - 1) :] + [
            Accept(uri, language, kept, offset, due)
        ]
        self._review(language)

    def dismissed(self, uri: str) -> None:
        showing = self._showing.pop(uri, None)
        if showing is not None:
            self.of(showing[0]).dismissed += 1
            self._review(showing[0])

    # --- retention --------------------------------------------------------------------
    def due_checks(self, now: float | None = None) -> list[Accept]:
        now = time.monotonic() if now is None else now
        due = [a for a in self._pending if a.due <= now]
        self._pending = [a for a in self._pending if a.due > now]
        return due

    def check(self, accept: Accept, document_text: str | None) -> None:
        """Count how much of an accepted text is still near where it went."""
        s = self.of(accept.language)
        s.checked_chars += len(accept.text)
        if document_text is None:  # closed meanwhile: nothing to say it was kept
            return
        lo = max(0, accept.offset - RETENTION_WINDOW)
        window = document_text[lo : accept.offset + len(accept.text) + RETENTION_WINDOW]
        s.retained_chars += retained(accept.text, window, accept.offset - lo)

    # --- back-off ---------------------------------------------------------------------
    def _review(self, language: str) -> None:
        s = self.of(language)
        rate = s.taken_rate
        if language not in self.backed_off and s.shown >= BACK_OFF_AFTER and rate < BACK_OFF_BELOW:
            self.backed_off.add(language)
            log.info(
                "%s: %d of %d suggestions taken; backing off (single lines, %d ms pause "
                "before asking) until more are taken",
                language,
                s.accepted + s.partial,
                s.shown,
                BACK_OFF_DELAY_MS,
            )
        elif language in self.backed_off and rate >= BACK_OFF_LIFT:
            self.backed_off.discard(language)
            log.info("%s: suggestions are taken again; back-off lifted", language)

    # --- views --------------------------------------------------------------------------
    def summary(self) -> dict:
        return {
            lang: {**s.summary(), "backedOff": lang in self.backed_off}
            for lang, s in sorted(self.languages.items())
        }

    def save(self, path: Path) -> None:
        """Write the earlier sessions' counts (read at the first save) plus this one's,
        atomically; saving again rewrites the same total, never counting twice."""
        if self._saved_before is None:
            self._saved_before = load_counts(path)
        merged = {lang: dict(counts) for lang, counts in self._saved_before.items()}
        for lang, s in self.languages.items():
            old = merged.get(lang, {})
            merged[lang] = {k: old.get(k, 0) + v for k, v in asdict(s).items()}
        path.parent.mkdir(parents=True, exist_ok=True)
        # a new file of our own (never an existing name, which could be a planted link),
        # then renamed over the stats file: a reader never sees half of it
        fd, partial = tempfile.mkstemp(prefix=".stats-", suffix=".tmp", dir=path.parent)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(json.dumps(merged, indent=1, sort_keys=True) + "\n")
            os.replace(partial, path)
        except BaseException:
            Path(partial).unlink(missing_ok=True)
            raise


def retained(text: str, window: str, at: int) -> int:
    """Characters of an accepted `text` still in `window` (the document around where it
    went, `at` in it): all when it is there whole; else line by line, a line found
    anywhere in the window counting whole and any other compared with the window's line
    at the same place (a bounded `SequenceMatcher`: linear in the text, where one over
    the whole text and window was quadratic, 80 s for 20,000 characters)."""
    if text in window:
        return len(text)
    start = window.count("\n", 0, max(0, min(at, len(window))))
    here = window.split("\n")[start:]
    total = 0
    for i, line in enumerate(text.split("\n")):
        if line.strip() and line in window:
            total += len(line)
        elif line.strip() and i < len(here):
            a, b = line[:MAX_LINE_CHARS], here[i][:MAX_LINE_CHARS]
            blocks = SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()
            total += sum(m.size for m in blocks if m.size >= 3)
    return total


MAX_STATS_BYTES = 1 << 20


def load_counts(path: Path) -> dict[str, dict]:
    """The counts in the stats file: only known fields with numeric values (a hand-edited
    or damaged file loses its bad entries, not the rest); nothing from a file that is not
    a regular file (a FIFO would block, /dev/zero never end) or is implausibly large."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return {}
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            return {}
        raw = fh.read(MAX_STATS_BYTES + 1)
    try:
        data = json.loads(raw) if len(raw) <= MAX_STATS_BYTES else None
    except (ValueError, RecursionError):
        return {}
    if not isinstance(data, dict):
        return {}
    fields = LanguageStats.__dataclass_fields__
    return {
        str(lang): {k: v for k, v in counts.items() if k in fields and _count(v)}
        for lang, counts in data.items()
        if isinstance(counts, dict)
    }


def _count(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def format_table(counts: dict[str, dict]) -> str:
    """`bigcode-ls stats`: one line per language."""
    rows = [
        f"{'language':12s} {'shown':>7s} {'taken':>7s} {'partial':>7s} {'dismissed':>9s} "
        f"{'taken %':>7s} {'kept 30s %':>10s} {'mean ms':>8s}"
    ]
    for lang, raw in sorted(counts.items()):
        s = LanguageStats(**{k: raw.get(k, 0) for k in LanguageStats.__dataclass_fields__})
        kept = f"{100 * s.retained_chars / s.checked_chars:.0f}" if s.checked_chars else "-"
        mean = f"{s.latency_ms_total / s.served:.0f}" if s.served else "-"
        rows.append(
            f"{lang:12s} {s.shown:7d} {s.accepted:7d} {s.partial:7d} {s.dismissed:9d} "
            f"{100 * s.taken_rate:7.1f} {kept:>10s} {mean:>8s}"
        )
    return "\n".join(rows)
