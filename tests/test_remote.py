"""The remote backend against a stand-in server on a real socket: prompts, streaming,
hanging up, and every failure class answered quietly with one message."""

from __future__ import annotations

import logging
import time

import pytest

from fim.formats import CODELLAMA, CODESTRAL, DEEPSEEK, QWEN, STARCODER, format_for_model_name
from lsp_server.backends.engine import bundled_model_path
from lsp_server.backends.remote.healing import names_grammar
from lsp_server.completion import CompletionService, monitoring
from lsp_server.completion.requests import CompletionRequest
from lsp_server.settings import Settings
from tests.fake_inference_server import FakeServer

SOURCE = "def add(a, b):\n"
SUFFIX = "\n\nprint(add(1, 2))\n"
KEY = "sk-remote-test-7f3a9c"  # must never be seen again outside the Authorization header


def remote_service(url: str, **overrides) -> tuple[CompletionService, list[str]]:
    settings = Settings(
        backend=overrides.pop("backend", "openai"),
        remote_url=url,
        remote_model=overrides.pop("remote_model", "bigcode/starcoder"),
        remote_timeout_ms=overrides.pop("remote_timeout_ms", 2000),
        **overrides,
    )
    service = CompletionService(settings)
    messages: list[str] = []
    service.notify = messages.append
    service.load().result(timeout=60)
    return service, messages


def ask(service: CompletionService, prefix: str = SOURCE, version: int = 1, uri="file:///r.py"):
    service.note_version(uri, version)
    return service.complete_now(CompletionRequest(uri, version, prefix, SUFFIX, "r.py"))


def test_templates_follow_the_model_name():
    assert format_for_model_name("bigcode/starcoder2-15b") is STARCODER
    assert format_for_model_name("deepseek-coder:1.3b-base") is DEEPSEEK
    assert format_for_model_name("Qwen/Qwen2.5-Coder-7B") is QWEN
    assert format_for_model_name("codellama/CodeLlama-7b-hf") is CODELLAMA
    assert format_for_model_name("codestral-latest") is CODESTRAL
    assert format_for_model_name("my-model") is None
    assert "".join(CODELLAMA.layout("P", "S", "spm")) == "<PRE> P <SUF>S <MID>"  # PSM only
    assert "".join(CODESTRAL.layout("P", "S", "spm")) == "[SUFFIX]S[PREFIX]P"
    assert "".join(QWEN.layout("P", "S")) == "<|fim_prefix|>P<|fim_suffix|>S<|fim_middle|>"


def test_openai_stream_gives_the_suggestion_and_the_cache_figures():
    with FakeServer() as server:
        service, messages = remote_service(server.url, tokenizer=str(bundled_model_path()))
        result = ask(service)
        assert result.status == "ok" and result.text == "    return a + b"
        body = server.posts()[-1]["body"]
        # SPM with StarCoder's tokens, the prefix last: typing only appends to the prompt
        assert body["prompt"].startswith("<fim_prefix><fim_suffix>")
        assert body["prompt"].endswith("<fim_middle>" + SOURCE)
        assert body["model"] == "bigcode/starcoder" and body["stream"] is True
        assert "<|endoftext|>" in body["stop"]
        assert (result.prompt_tokens, result.reused_tokens) == (43, 40)
        status = service.status()
        assert status["backend"] == "openai" and status["remote"]["state"] == "ok"
        assert status["remote"]["reusedTokens"] == 40 and messages == []
        # the next keystroke's prompt extends this one
        ask(service, SOURCE + "    ret", version=2)
        assert server.posts()[-1]["body"]["prompt"] == body["prompt"] + "    ret"
        service.shutdown(wait_s=5)


def test_llamacpp_infill_sends_fields_and_reads_native_events():
    with FakeServer() as server:
        server.script.n_ctx = 512
        service, _ = remote_service(server.url, backend="llamacpp")
        assert service.backend.context_size == 512  # the server's context bounds the prompt
        result = ask(service)
        assert result.text == "    return a + b"
        assert (result.prompt_tokens, result.reused_tokens) == (43, 40)
        post = server.posts()[-1]
        assert post["path"] == "/infill"
        assert post["body"]["input_prefix"] == SOURCE and post["body"]["input_suffix"] == SUFFIX
        assert post["body"]["cache_prompt"] is True
        service.shutdown(wait_s=5)


def test_connection_is_reused_between_requests():
    with FakeServer() as server:
        service, _ = remote_service(server.url)
        for version in range(1, 5):
            assert ask(service, version=version).status == "ok"
        assert service.status()["remote"]["connections"] == 1
        service.shutdown(wait_s=5)


def test_a_newer_keystroke_hangs_up_on_the_server():
    with FakeServer() as server:
        service, _ = remote_service(server.url, deadline_ms=20_000)
        server.script.mode, server.script.token_delay_s = "slow", 0.02  # 200 tokens, 4 s
        # one line that never ends (and never loops within the junk guard's reach)
        server.script.tokens = [f" v{i} +" for i in range(40)]
        uri = "file:///slow.py"
        service.note_version(uri, 1)
        first = service.submit(CompletionRequest(uri, 1, SOURCE, SUFFIX))
        time.sleep(0.3)
        t0 = time.monotonic()
        service.note_version(uri, 2)  # the user typed: the running request is stale
        assert first.future.result(timeout=5).status == "stale"
        assert time.monotonic() - t0 < 1.0
        deadline = time.monotonic() + 5
        while server.hangups == 0 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert server.hangups == 1  # the server saw the client go away mid-stream
        service.shutdown(wait_s=5)


@pytest.mark.parametrize(
    "mode, status, needle",
    [
        ("garbage", 0, "malformed event"),
        ("truncate", 0, "ended early"),
        ("status", 500, "HTTP 500"),
        ("status", 404, "HTTP 404"),
    ],
)
def test_a_failing_server_gives_empty_answers_and_one_message(mode, status, needle):
    with FakeServer() as server:
        service, messages = remote_service(server.url)
        server.script.mode, server.script.status = mode, status
        results = [ask(service, version=v) for v in range(1, 6)]
        assert all(r.text == "" and r.status == "unavailable" for r in results)
        assert needle in results[0].detail
        assert len(messages) == 1 and needle in messages[0]
        assert service.status()["remote"]["state"] == "down"
        server.script.mode = "ok"  # it recovers: after the back-off, suggestions return
        time.sleep(0.6)
        assert ask(service, version=7).text == "    return a + b"
        assert service.status()["remote"]["state"] == "ok"
        service.shutdown(wait_s=5)


def test_unreachable_server_then_it_comes_up(unused_port):
    tokenizer = str(bundled_model_path())
    service, messages = remote_service(f"http://127.0.0.1:{unused_port}", tokenizer=tokenizer)
    assert len(messages) == 1 and "connection refused" in messages[0]  # said at load
    for v in range(1, 4):
        result = ask(service, version=v)
        assert result.status == "unavailable" and result.ms < 500
    assert len(messages) == 1
    assert not service.backend.heals  # what the server is, is not known yet
    with FakeServer(unused_port) as server:
        server.script.owned_by = "llamacpp"
        deadline = time.monotonic() + 10
        version = 10
        while time.monotonic() < deadline:
            version += 1
            if ask(service, version=version).text:
                break
            time.sleep(0.2)
        assert ask(service, version=version + 1).text == "    return a + b"
        # once up, it was asked what it is: llama.cpp, so prompts are healed from then on
        assert service.backend.heals and "grammar" in server.posts()[-1]["body"]
    service.shutdown(wait_s=5)


def test_wrong_model_name_is_a_clear_load_error():
    with FakeServer() as server:
        service = CompletionService(
            Settings(backend="openai", remote_url=server.url, remote_model="no-such-model")
        )
        with pytest.raises(Exception, match="does not serve the model 'no-such-model'"):
            service.load().result(timeout=30)
        assert "bigcode/starcoder" in service.load_error


def test_the_api_key_is_sent_and_never_shown(monkeypatch, caplog):
    monkeypatch.setenv("BIGCODE_TEST_KEY", KEY)
    caplog.set_level(logging.DEBUG, logger="bigcode_ls")
    with FakeServer() as server:
        service, messages = remote_service(server.url, remote_api_key_env="BIGCODE_TEST_KEY")
        assert ask(service).text
        assert server.posts()[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
        # a server that echoes the key back in an error
        server.script.mode, server.script.status = "status", 401
        server.script.error_body = f'{{"error": {{"message": "bad key {KEY}"}}}}'
        failed = ask(service, version=2)
        seen = [failed.detail, str(service.status()), *messages, caplog.text]
        assert "bad key ***" in failed.detail
        assert not any(KEY in text for text in seen)
        service.shutdown(wait_s=5)


def test_a_key_with_a_line_end_is_used_and_a_cut_off_echo_is_redacted(monkeypatch, caplog):
    monkeypatch.setenv("BIGCODE_TEST_KEY", KEY + "\r\n")  # a CRLF key file
    caplog.set_level(logging.DEBUG, logger="bigcode_ls")
    with FakeServer() as server:
        service, messages = remote_service(server.url, remote_api_key_env="BIGCODE_TEST_KEY")
        assert ask(service).text  # was: ValueError from http.client, with the whole key
        assert server.posts()[-1]["headers"]["Authorization"] == f"Bearer {KEY}"
        server.script.mode, server.script.status = "status", 401
        server.script.error_body = f'{{"error": {{"message": "bad key {KEY[:-6]}"}}}}'
        failed = ask(service, version=2)
        seen = [failed.detail, str(service.status()), *messages, caplog.text]
        assert "bad key ***" in failed.detail
        assert not any(KEY[:8] in text for text in seen)
        service.shutdown(wait_s=5)


def test_a_key_no_header_can_carry_is_refused_without_showing_it(monkeypatch):
    monkeypatch.setenv("BIGCODE_TEST_KEY", "sk-abc\tdefghijkl")  # a tab inside it
    service = CompletionService(Settings(backend="openai", remote_api_key_env="BIGCODE_TEST_KEY"))
    with pytest.raises(Exception, match="cannot carry") as caught:
        service.load().result(timeout=30)
    assert "abc" not in str(caught.value) and "abc" not in service.load_error


def test_missing_key_variable_and_bad_extra_are_load_errors(monkeypatch):
    monkeypatch.delenv("BIGCODE_NO_SUCH_KEY", raising=False)
    for settings, needle in [
        (Settings(backend="openai", remote_api_key_env="BIGCODE_NO_SUCH_KEY"), "not set"),
        (Settings(backend="openai", remote_extra="[1, 2]"), "JSON object"),
        (Settings(backend="openai", remote_url="ftp://x"), r"http\(s\) URL"),
    ]:
        service = CompletionService(settings)
        with pytest.raises(Exception, match=needle):
            service.load().result(timeout=30)


def test_extra_fields_and_tls_settings_reach_the_request():
    with FakeServer() as server:
        service, _ = remote_service(
            server.url + "/v1", remote_extra='{"cache_prompt": true, "top_k": 1}'
        )
        assert ask(service).text
        post = server.posts()[-1]
        assert post["path"] == "/v1/completions"  # /v1 in the URL is not doubled
        assert post["body"]["cache_prompt"] is True and post["body"]["top_k"] == 1
        service.shutdown(wait_s=5)


def test_https_to_a_plain_server_is_a_tls_failure():
    with FakeServer() as server:
        url = server.url.replace("http://", "https://")
        service, messages = remote_service(url)
        assert service.status()["remote"]["state"] == "down"
        assert len(messages) == 1 and "TLS" in messages[0]


def test_complete_command_line_says_what_is_wrong_with_the_remote(tmp_path, unused_port):
    from tests.test_cli import run

    src = tmp_path / "a.py"
    src.write_text("def add(a, b):\n")
    where = ["complete", str(src), "--line", "1", "--character", "0", "--backend", "openai"]
    down = run(*where, "--remote-url", f"http://127.0.0.1:{unused_port}")
    assert down.returncode == 1 and "connection refused" in down.stderr
    with FakeServer() as server:
        wrong = run(*where, "--remote-url", server.url, "--remote-model", "nope")
        assert wrong.returncode == 2 and "does not serve the model 'nope'" in wrong.stderr
        assert "Traceback" not in wrong.stderr
        ok = run(*where, "--remote-url", server.url, "--remote-model", "bigcode/starcoder")
        assert ok.returncode == 0 and ok.stdout.strip() == "return a + b"


@pytest.mark.parametrize(
    "backend, owner, asks",
    [
        ("llamacpp", "", "n_probs"),  # native /infill
        ("openai", "llamacpp", "n_probs"),  # llama.cpp's /v1/completions ignores `logprobs`
        ("openai", "", "logprobs"),  # OpenAI's legacy dialect (vLLM and others)
    ],
)
def test_min_confidence_hides_what_a_remote_model_doubts(backend, owner, asks):
    with FakeServer() as server:
        server.script.owned_by = owner
        service, _ = remote_service(server.url, backend=backend, min_confidence=0.5)
        server.script.probs = [0.9]
        sure = ask(service)
        assert sure.status == "ok" and sure.text == "    return a + b"
        assert sure.confidence == pytest.approx(0.9)  # the line's end included
        assert asks in server.posts()[-1]["body"]
        # 0.9, 0.2, 0.9, 0.2, 0.9 over the five tokens: a geometric mean of 0.49
        server.script.probs = [0.9, 0.2]
        unsure = ask(service, uri="file:///other.py")
        assert (unsure.status, unsure.text, unsure.detail) == ("empty", "", "unsure")
        assert unsure.confidence == pytest.approx(0.493, abs=1e-3)
        service.shutdown(wait_s=5)


def test_probabilities_are_asked_only_when_read():
    with FakeServer() as server:
        server.script.probs = [0.1]
        service, _ = remote_service(server.url, min_confidence=0)
        result = ask(service)
        assert result.text == "    return a + b" and result.confidence is None
        body = server.posts()[-1]["body"]
        assert "logprobs" not in body and "n_probs" not in body
        service.shutdown(wait_s=5)


def test_a_server_that_refuses_probabilities_is_asked_without_them(caplog):
    with FakeServer() as server:
        server.script.refuse_probs = True
        service, messages = remote_service(server.url, min_confidence=0.5)
        with caplog.at_level(logging.WARNING, logger="bigcode_ls"):
            first = ask(service)
        assert first.status == "ok" and first.confidence is None  # shown, ungated
        refused, retried = (p["body"] for p in server.posts()[-2:])
        assert "logprobs" in refused and "logprobs" not in retried
        assert "refused token probabilities" in caplog.text and messages == []
        ask(service, SOURCE + "    ret", version=2)
        assert len(server.posts()) == 3 and "logprobs" not in server.posts()[-1]["body"]
        assert service.status()["remote"]["state"] == "ok"
        service.shutdown(wait_s=5)


TYPED = "def add(a, b):\n    ret"  # the cursor in the middle of a word


@pytest.mark.parametrize("backend, owner", [("llamacpp", ""), ("openai", "llamacpp")])
def test_llama_cpp_heals_the_prompt_with_a_grammar(backend, owner):
    with FakeServer() as server:
        server.script.owned_by = owner
        server.script.tokens = ["return", " a", " +", " b", "\n"]  # as the grammar asks
        server.script.probs = [0.5, 0.9]
        service, _ = remote_service(
            server.url, backend=backend, tokenizer=str(bundled_model_path()), min_confidence=0.5
        )
        result = ask(service, TYPED)
        first, rest = (p["body"] for p in server.posts()[-2:])
        grammar = first["grammar"]
        assert grammar.startswith('root ::= "') and grammar.endswith('" .*')
        healed = grammar[len('root ::= "') : -len('" .*')]
        assert healed and TYPED.endswith(healed)  # the prompt left it off...
        prompt = first["input_prefix"] if backend == "llamacpp" else first["prompt"]
        assert prompt.endswith(TYPED[: -len(healed)]) and not prompt.endswith(TYPED)
        assert result.text == "urn a + b"  # ...and the suggestion goes on from the cursor
        # The first token alone, with the tokens that spell only a beginning of the
        # healed text banned (the grammar admits them); then the rest after it.
        vocab = service.backend.vocab
        partial = set().union(*(vocab.spelling(healed[:k]) for k in range(1, len(healed))))
        assert partial and {i for i, ban in first["logit_bias"]} == partial
        limit = "n_predict" if backend == "llamacpp" else "max_tokens"
        assert first[limit] == 1 and rest[limit] > 1
        assert "grammar" not in rest and "logit_bias" not in rest
        # 32 alternatives for the constrained first token, 8 for the rest
        assert (first["n_probs"], rest["n_probs"]) == (32, 8)
        # /infill takes the first token's text; the OpenAI route its id, not retokenized
        assert rest["prompt"] == ("return" if backend == "llamacpp" else [first["prompt"], 1000])
        # the first token's probability among those that re-type it, as locally: 0.5 of
        # 0.5 counts as sure, so 1.0, 0.9, 0.5, 0.9, 0.5 over the line
        assert result.confidence == pytest.approx((0.9 * 0.5 * 0.9 * 0.5) ** 0.2, abs=1e-3)
        service.shutdown(wait_s=5)


@pytest.mark.parametrize(
    "owner, tokenizer",
    [("", True), ("llamacpp", False)],  # vLLM-style; no tokenizer
)
def test_no_healing_where_a_grammar_or_the_tokenizer_is_missing(owner, tokenizer):
    with FakeServer() as server:
        server.script.owned_by = owner
        extra = {"tokenizer": str(bundled_model_path())} if tokenizer else {}
        service, _ = remote_service(server.url, **extra)
        ask(service, TYPED)
        body = server.posts()[-1]["body"]
        assert "grammar" not in body and body["prompt"].endswith(TYPED)
        assert service.backend.vocab is None and service.backend.token_starts is None
        service.shutdown(wait_s=5)


def test_grammar_literals_escape_what_gbnf_would_read():
    from lsp_server.backends.remote.healing import gbnf_literal

    assert gbnf_literal("self.x") == '"self.x"'
    assert gbnf_literal('say "hi"\\') == '"say \\"hi\\"\\\\"'
    assert gbnf_literal("\n\t ") == '"\\x0A\\x09 "'


@pytest.mark.parametrize("mode", ["endless-after-done", "endless-line"])
def test_an_endless_answer_is_cut_off_not_read_into_memory(mode):
    with FakeServer() as server:
        service, _ = remote_service(server.url)
        server.script.mode = mode
        server.script.tokens = ["    return", " a", " +", " b"]  # no line end: read to [DONE]
        result = ask(service)
        assert result.status in ("ok", "empty", "unavailable")
        service.shutdown(wait_s=5)
        time.sleep(0.5)
        # the client stopped reading and hung up: at most a socket buffer or two more
        assert server.sent < 32 << 20, server.sent  # it would have sent 256 MiB


def test_an_endless_model_listing_is_refused_not_read_into_memory():
    with FakeServer() as server:
        server.script.mode = "endless-models"
        settings = Settings(backend="openai", remote_url=server.url, remote_model="m")
        service = CompletionService(settings)
        try:
            service.load().result(timeout=60)
        except Exception:
            pass  # a server that answers like that is down or refused, never a crash
        time.sleep(0.5)
        assert server.sent < 32 << 20, server.sent
        service.shutdown(wait_s=5)


def test_headers_sent_a_byte_at_a_time_cannot_outlast_the_deadline_or_a_cancel():
    with FakeServer() as server:
        service, _ = remote_service(server.url, deadline_ms=1000, remote_timeout_ms=5000)
        server.script.mode = "slow-headers"
        t0 = time.monotonic()
        result = ask(service)
        assert time.monotonic() - t0 < 3.0, "the request waited for the headers"  # was 15 s
        assert result.text == ""
        uri = "file:///slow.py"
        service.note_version(uri, 1)
        ticket = service.submit(CompletionRequest(uri, 1, SOURCE, SUFFIX))
        time.sleep(0.3)
        t0 = time.monotonic()
        ticket.cancel()  # $/cancelRequest
        assert ticket.future.result(timeout=5).status == "cancelled"
        assert time.monotonic() - t0 < 1.0
        service.shutdown(wait_s=5)


def test_names_grammar():
    assert names_grammar(["in", "inpath"]) == 'root ::= ("in" | "inpath") ([^A-Za-z0-9_] .*)?'
    assert names_grammar(["", "s"]) == 'root ::= ("s")? ([^A-Za-z0-9_] .*)?'
    assert names_grammar([""]) == "root ::= ([^A-Za-z0-9_] .*)?"


def test_llama_cpp_gets_the_names_at_the_cursor_as_a_grammar(monkeypatch, tmp_path):
    """At `os.path.` (and at `os.path.jo`, healed) the server is asked for a generation
    that starts with a name os.path has; after a first token inside a name, the rest."""
    monkeypatch.setattr(monitoring, "BUDGET_S", 60)  # Jedi's cold first answer included
    src = tmp_path / "p.py"
    with FakeServer() as server:
        server.script.tokens = ["jo", "in", "(", "a", ")", "\n"]
        service, _ = remote_service(
            server.url, backend="llamacpp", tokenizer=str(bundled_model_path())
        )
        prefix = "import os\n\n\ndef f(a):\n    return os.path."
        uri = src.as_uri()
        service.complete_now(CompletionRequest(uri, 1, prefix, "\n", "p.py"))
        grammar = server.posts()[-1]["body"]["grammar"]
        assert '"join"' in grammar and '"exists"' in grammar and '"xyz"' not in grammar
        service.note_version(uri, 2)
        service.complete_now(CompletionRequest(uri, 2, prefix + "jo", "\n", "p.py"))
        first, rest = (p["body"] for p in server.posts()[-2:])
        assert first["grammar"].startswith('root ::= ("join"')  # healed: it re-types "jo"
        assert rest["grammar"].startswith('root ::= ("in"')  # after the first token "jo"
        service.shutdown(wait_s=5)
