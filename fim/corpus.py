"""A repository's files packed for retrieval, changed a few files at a time.

A `Corpus` is an immutable snapshot made of segments. A `Segment` packs a set of files:
each file's text once with its line offsets, and per window only numbers (its file, its
first line, how many identifiers it has) in arrays; an inverted index maps each
identifier to the windows holding it, definitions map a name to where it is defined.
The text of a window is cut from its file's text only when a query returns it, so the
corpus costs a small multiple of the text (a string and a set per window cost ~20×).

A change packs the changed files into a new segment and hides their old versions in the
older ones, so an update costs the changed files, not the workspace. Segments are merged
as they pile up, the newest into the one before while it is less than twice as large
(a binary counter's carries: every byte is re-packed O(log n) times over any history).
"""

from __future__ import annotations

import heapq
import math
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass

from .windows import (
    WINDOW_LINES,
    WINDOW_STRIDE,
    Window,
    definition_spans,
    identifiers,
    overlaps,
    window,
    window_starts,
)

COMMON_FLOOR = 200  # postings always walked up to this length
SourceText = tuple[str, str, str]  # (key: the file's identity, label: its name in prompts, text)


@dataclass(frozen=True)
class Table:
    """Rows of numbers by name, packed (compressed sparse rows). A dict of str -> int and
    two arrays hold nothing the cyclic garbage collector must visit: with a dict of
    arrays, every full collection walked 400,000 of them, 50-150 ms holding the
    interpreter's lock."""

    row: dict[str, int]
    starts: array
    values: array

    @classmethod
    def of(cls, rows: Mapping[str, array]) -> Table:
        row, starts, values = {}, array("I", [0]), array("I")
        for k, (name, numbers) in enumerate(rows.items()):
            row[name] = k
            values.extend(numbers)
            starts.append(len(values))
        return cls(row, starts, values)

    def get(self, name: str) -> array:
        k = self.row.get(name)
        return self.values[self.starts[k] : self.starts[k + 1]] if k is not None else array("I")

    def count(self, name: str) -> int:
        k = self.row.get(name)
        return self.starts[k + 1] - self.starts[k] if k is not None else 0


@dataclass(frozen=True)
class Segment:
    keys: tuple[str, ...]
    labels: tuple[str, ...]
    texts: tuple[str, ...]
    line_starts: tuple[array, ...]  # per file: where each line starts in its text
    win_file: array  # per window: its file
    win_start: array  # per window: its first line
    win_size: array  # per window: how many distinct identifiers it holds
    file_windows: array  # per file: how many windows it has
    postings: Table  # identifier -> windows holding it, ascending
    definitions: Table  # name -> (file, line, lines) of each place, flat
    position: dict[str, int]  # key -> file

    @property
    def text_bytes(self) -> int:
        return sum(len(t) for t in self.texts)

    def window(self, i: int) -> Window:
        f, start = self.win_file[i], self.win_start[i]
        return window(self.labels[f], start, self._lines(f, start, WINDOW_LINES))

    def definition(self, place: Sequence[int]) -> Window:
        f, start, n = place
        return window(self.labels[f], start, self._lines(f, start, n).rstrip())

    def _lines(self, f: int, start: int, n: int) -> str:
        starts, text = self.line_starts[f], self.texts[f]
        end = starts[start + n] - 1 if start + n < len(starts) else len(text)
        return text[starts[start] : end]


def pack(files: Sequence[SourceText], pause: Callable[[], None] = lambda: None) -> Segment:
    """Cut `files` into windows and index them. Each line's identifiers are found once:
    a window is two blocks of `WINDOW_STRIDE` lines, its set the union of theirs.
    `pause()` is called before each file (the server's index lets the model run there)."""
    assert WINDOW_LINES == 2 * WINDOW_STRIDE
    win_file, win_start, win_size, file_windows = (array("I") for _ in range(4))
    postings: dict[str, array] = defaultdict(lambda: array("I"))
    definitions: dict[str, array] = defaultdict(lambda: array("I"))
    line_starts = []
    for f, (_, _, text) in enumerate(files):
        pause()
        lines = text.split("\n")
        starts, at = array("I"), 0
        for line in lines:
            starts.append(at)
            at += len(line) + 1
        line_starts.append(starts)
        first_window = len(win_file)
        blocks = [
            "\n".join(lines[b : b + WINDOW_STRIDE]) for b in range(0, len(lines), WINDOW_STRIDE)
        ]
        names = [frozenset(identifiers(b)) for b in blocks]
        for start in window_starts(len(lines)):
            k = start // WINDOW_STRIDE
            if not (blocks[k].strip() or (k + 1 < len(blocks) and blocks[k + 1].strip())):
                continue  # a window of blank lines
            idents = names[k] | names[k + 1] if k + 1 < len(names) else names[k]
            i = len(win_file)
            win_file.append(f), win_start.append(start), win_size.append(len(idents))
            for name in idents:
                postings[name].append(i)
        file_windows.append(len(win_file) - first_window)
        for name, line, n in definition_spans(lines):
            definitions[name].extend((f, line, n))
    return Segment(
        keys=tuple(k for k, _, _ in files),
        labels=tuple(label for _, label, _ in files),
        texts=tuple(t for _, _, t in files),
        line_starts=tuple(line_starts),
        win_file=win_file,
        win_start=win_start,
        win_size=win_size,
        file_windows=file_windows,
        postings=Table.of(postings),
        definitions=Table.of(definitions),
        position={k: f for f, (k, _, _) in enumerate(files)},
    )


@dataclass(frozen=True)
class Corpus:
    """Segments, oldest first, each with the keys of its files that later changes hid."""

    segments: tuple[Segment, ...] = ()
    hidden: tuple[frozenset[str], ...] = ()

    @classmethod
    def of_files(
        cls, files: Sequence[SourceText], pause: Callable[[], None] = lambda: None
    ) -> Corpus:
        return cls((pack(files, pause),), (frozenset(),)) if files else cls()

    # --- what it holds --------------------------------------------------------------
    def live(self) -> Iterator[tuple[Segment, int]]:
        """(segment, file) of every file not hidden, oldest segment first."""
        for seg, hidden in zip(self.segments, self.hidden, strict=True):
            for f, key in enumerate(seg.keys):
                if key not in hidden:
                    yield seg, f

    @property
    def files(self) -> int:
        return sum(len(s.keys) - len(h) for s, h in zip(self.segments, self.hidden, strict=True))

    @property
    def text_bytes(self) -> int:
        return sum(len(seg.texts[f]) for seg, f in self.live())

    def __contains__(self, key: str) -> bool:
        return any(
            key in s.position and key not in h
            for s, h in zip(self.segments, self.hidden, strict=True)
        )

    def window_count(self) -> int:
        return sum(seg.file_windows[f] for seg, f in self.live())

    def windows(self) -> Iterator[Window]:
        """Every window, cut from its text (for benchmarks and tests: a query cuts few)."""
        for seg, hidden in zip(self.segments, self.hidden, strict=True):
            for i, f in enumerate(seg.win_file):
                if seg.keys[f] not in hidden:
                    yield seg.window(i)

    def definition(self, name: str, exclude: str = "") -> Window | None:
        """The first definition of `name`, or None where none is live or the file
        labelled `exclude` (the cursor's own file) defines it."""
        found = None
        for seg, hidden in zip(self.segments, self.hidden, strict=True):
            places = seg.definitions.get(name)
            for j in range(0, len(places), 3):
                place = f, _, _ = places[j : j + 3]
                if seg.keys[f] in hidden:
                    continue
                if seg.labels[f] == exclude:
                    return None
                found = found or seg.definition(place)
        return found

    # --- queries --------------------------------------------------------------------
    def similar(
        self, query: str, k: int, exclude: str = "", scorer: str = "jaccard"
    ) -> list[tuple[float, Window]]:
        """The `k` best windows of files other than `exclude`, best first, never two
        overlapping windows of one file."""
        q = frozenset(identifiers(query))
        n = max(1, self.window_count())
        df = {t: sum(s.postings.count(t) for s in self.segments) for t in q}
        # A name in more than one window in 20 says little about which is similar, and
        # walking its postings would cost a large workspace most of the request.
        walked = [t for t in q if 0 < df[t] <= max(COMMON_FLOOR, n // 20)]
        bm25 = scorer == "bm25"  # Okapi BM25 (k1 1.2, b 0.75, term frequency 1), else Jaccard
        idf = {t: math.log(1 + (n - df[t] + 0.5) / (df[t] + 0.5)) for t in walked} if bm25 else {}
        avg = (
            sum(sum(s.win_size) for s in self.segments)
            / max(1, sum(len(s.win_size) for s in self.segments))
            if bm25
            else 1.0
        )
        ranked = []
        for si, (seg, hidden) in enumerate(zip(self.segments, self.hidden, strict=True)):
            skip = {seg.position[key] for key in hidden}
            skip.update(f for f, label in enumerate(seg.labels) if label == exclude)
            common: dict[int, int] = defaultdict(int)
            gain: dict[int, float] = defaultdict(float)
            for t in walked:
                for i in seg.postings.get(t):
                    common[i] += 1
                    if bm25:
                        gain[i] += idf[t]
            for i, c in common.items():
                f, size = seg.win_file[i], seg.win_size[i]
                if f in skip:
                    continue
                if bm25:
                    score = gain[i] * 2.2 / (1 + 1.2 * (0.25 + 0.75 * size / avg))
                else:  # Jaccard similarity of the identifier sets
                    score = c / (len(q) + size - c)
                ranked.append((-score, seg.labels[f], seg.win_start[i], si, i))
        out: list[tuple[float, Window]] = []
        # Neighbouring windows overlap: a few times k candidates leave k distinct ones.
        for score, _, _, si, i in heapq.nsmallest(8 * k, ranked):
            w = self.segments[si].window(i)
            if not overlaps(w, [o for _, o in out]):
                out.append((-score, w))
                if len(out) == k:
                    break
        return out

    # --- changes --------------------------------------------------------------------
    def changed(
        self, changes: Mapping[str, SourceText | None], pause: Callable[[], None] = lambda: None
    ) -> Corpus:
        """This corpus with the files keyed in `changes` replaced by the given text or,
        for None, removed."""
        hidden = [
            h | {k for k in changes if k in s.position}
            for s, h in zip(self.segments, self.hidden, strict=True)
        ]
        segments = list(self.segments)
        added = [src for src in changes.values() if src is not None]
        if added:
            segments.append(pack(added, pause))
            hidden.append(frozenset())
        return _settled(segments, hidden, pause)


def _live_bytes(seg: Segment, hidden: frozenset[str]) -> int:
    return sum(len(t) for key, t in zip(seg.keys, seg.texts, strict=True) if key not in hidden)


def _live_files(seg: Segment, hidden: frozenset[str]) -> list[SourceText]:
    return [
        src for src in zip(seg.keys, seg.labels, seg.texts, strict=True) if src[0] not in hidden
    ]


def _settled(
    segments: list[Segment], hidden: list[frozenset[str]], pause: Callable[[], None]
) -> Corpus:
    """Merge the newest segment into the one before while that one is less than twice as
    large; re-pack a segment mostly hidden; drop empty ones."""
    sizes = [_live_bytes(s, h) for s, h in zip(segments, hidden, strict=True)]
    while len(segments) > 1 and sizes[-2] < 2 * sizes[-1]:
        merged = _live_files(segments[-2], hidden[-2]) + _live_files(segments[-1], hidden[-1])
        del segments[-2:], hidden[-2:], sizes[-2:]
        segments.append(pack(merged, pause))
        hidden.append(frozenset())
        sizes.append(sum(len(t) for _, _, t in merged))
    for j, (seg, h) in enumerate(zip(segments, hidden, strict=True)):
        if h and sizes[j] < seg.text_bytes // 2:
            segments[j], hidden[j] = pack(_live_files(seg, h), pause), frozenset()
    keep = [j for j, seg in enumerate(segments) if len(seg.keys) > len(hidden[j])]
    return Corpus(tuple(segments[j] for j in keep), tuple(hidden[j] for j in keep))
