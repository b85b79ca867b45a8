"""Soak: many documents, thousands of keystrokes, stale and cancelled requests.

Types into 20 documents (copies of stdlib files) at random places, one character per
edit, each followed by an inline-completion request that is not waited for; every
fifth key cancels its request and every third lands so quickly that the previous
request for that document becomes stale. Checks that every request is answered, that
each document's last request gets a real answer, that the server's text equals ours,
and that the KV-cache memory returns to zero once every document is closed. Samples the
server's RSS to show that memory stays bounded by the cache budget.

    python -m bench.soak [--keys 10000] [--docs 20] [--cache-mib 64]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from pathlib import Path

from bench.rawlsp import RawServer
from model.progress import Progress
from training.corpus import load_split


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def position(text: str, offset: int) -> dict:
    before = text[:offset]
    return {
        "line": before.count("\n"),
        "character": len(before[before.rfind("\n") + 1 :].encode("utf-16-le")) // 2,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", default=None)
    p.add_argument("--keys", type=int, default=10_000)
    p.add_argument("--docs", type=int, default=20)
    p.add_argument("--cache-mib", type=float, default=64)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, default=Path("docs/results/soak.json"))
    args = p.parse_args(argv)

    rng = random.Random(args.seed)
    files = [f for f in load_split("train") if 200 < len(f.text) < 40_000]
    rng.shuffle(files)
    docs = {f"file:///soak/{i}/{f.relpath}": f.text for i, f in enumerate(files[: args.docs])}
    cursor = {uri: rng.randrange(len(text)) for uri, text in docs.items()}
    versions = dict.fromkeys(docs, 1)

    srv = RawServer(
        *(["--model", args.model] if args.model else []), "--threads", str(args.threads)
    )
    srv.initialize(
        {
            "bigcode": {
                "maxNewTokens": 8,
                "cacheMib": args.cache_mib,
                "contextTokens": 1024,
                "deadlineMs": 10_000,
                "minConfidence": 0.0,  # the same work as before the gate, whatever the weights
            }
        }
    )
    srv.wait_model(timeout=600)
    for uri, text in docs.items():
        srv.open(uri, text)

    pending: dict[int, str] = {}  # request id -> uri
    last_request: dict[str, int] = {}
    answered = {"result": 0, "cancelled": 0, "error": 0}
    statuses: dict[int, str] = {}
    rss, t0 = [], time.monotonic()
    bar = Progress(args.keys, "soak")
    typed = "abcdefghijklmnopqrstuvwxyz_ ().,:\n=+0123456789"

    def drain(block: bool) -> None:
        while pending:
            try:
                msg = srv.messages.get(timeout=60 if block else 0.0001)
            except Exception:
                if block:
                    raise AssertionError(f"{len(pending)} requests never answered") from None
                return
            if msg is None:
                raise AssertionError("server exited")
            if "method" in msg:
                if "id" in msg:
                    srv.send({"jsonrpc": "2.0", "id": msg["id"], "result": None})
                continue
            uri = pending.pop(msg["id"], None)
            if uri is None:
                continue
            if "error" in msg:
                answered["cancelled" if msg["error"]["code"] == -32800 else "error"] += 1
                statuses[msg["id"]] = "error"
            else:
                answered["result"] += 1
                statuses[msg["id"]] = "result"

    for key in range(args.keys):
        uri = rng.choice(list(docs)) if rng.random() < 0.3 or key == 0 else uri
        text, at = docs[uri], cursor[uri]
        ch = rng.choice(typed)
        pos = position(text, at)
        versions[uri] += 1
        srv.notify(
            "textDocument/didChange",
            {
                "textDocument": {"uri": uri, "version": versions[uri]},
                "contentChanges": [{"range": {"start": pos, "end": pos}, "text": ch}],
            },
        )
        docs[uri] = text[:at] + ch + text[at:]
        cursor[uri] = at + 1
        srv.next_id += 1
        rid = srv.next_id
        params = {
            "textDocument": {"uri": uri},
            "position": position(docs[uri], at + 1),
            "context": {"triggerKind": 2},
        }
        srv.send(
            {
                "jsonrpc": "2.0",
                "id": rid,
                "method": "textDocument/inlineCompletion",
                "params": params,
            }
        )
        pending[rid] = uri
        last_request[uri] = rid
        if rng.random() < 0.2:
            srv.notify("$/cancelRequest", {"id": rid})
        if rng.random() > 0.33:  # otherwise the next key follows at once
            drain(block=False)
            if len(pending) > 4:
                drain(block=True)
        if key % 250 == 0:
            rss.append(
                {
                    "key": key,
                    "seconds": round(time.monotonic() - t0, 1),
                    "rss_mib": rss_mib(srv.proc.pid),
                }
            )
        bar.update(1, pending=len(pending))
    drain(block=True)
    bar.close()

    # The newest request of each document: ask once more and wait for a real answer.
    mismatches = 0
    for uri in docs:
        reply = srv.request(
            "textDocument/inlineCompletion",
            {
                "textDocument": {"uri": uri},
                "position": position(docs[uri], cursor[uri]),
                "context": {"triggerKind": 2},
            },
        )
        state = srv.request("bigcode/status", {"uri": uri})["result"]
        mismatches += state["document"]["text"] != docs[uri]
        assert "result" in reply and state["last"]["status"] in ("ok", "empty"), state["last"]
    before_close = srv.request("bigcode/status", {})["result"]["cacheBytes"]
    for uri in docs:
        srv.notify("textDocument/didClose", {"textDocument": {"uri": uri}})
    after_close = srv.request("bigcode/status", {})["result"]
    rss.append(
        {
            "key": args.keys,
            "seconds": round(time.monotonic() - t0, 1),
            "rss_mib": rss_mib(srv.proc.pid),
        }
    )
    code = srv.close()
    result = {
        "keys": args.keys,
        "docs": args.docs,
        "cache_budget_mib": args.cache_mib,
        "answered": answered,
        "errors": answered["error"],
        "text_mismatches": mismatches,
        "cache_bytes_before_close": before_close,
        "cache_bytes_after_close": after_close["cacheBytes"],
        "sessions_after_close": after_close["sessions"],
        "exit_code": code,
        "seconds": round(time.monotonic() - t0, 1),
        "rss": rss,
    }
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(result, indent=1) + "\n")
    print(
        f"{args.keys} keys in {result['seconds']} s: {answered} ; text mismatches {mismatches}; "
        f"cache {before_close / 2**20:.1f} MiB -> {after_close['cacheBytes']} B after closing; "
        f"RSS {rss[0]['rss_mib']:.0f} -> {max(r['rss_mib'] for r in rss):.0f} MiB (max); exit {code}",
        file=sys.stderr,
    )
    ok = answered["error"] == 0 and mismatches == 0 and after_close["cacheBytes"] == 0 and code == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
