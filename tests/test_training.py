"""The bundled model's pipeline: tokenizer, trainer (loss goes down, resume), the result."""

from __future__ import annotations

import json
import random

import pytest
import torch

from fim.formats import STARCODER
from model import GPTBigCodeForCausalLM, load_tokenizer
from tests.models import SAMPLE_FILES
from training.corpus import chunk_text, split_of
from training.data import encode_documents, epoch_batches
from training.recipe import Recipe
from training.tokenizer import SPECIAL_TOKENS, train_tokenizer
from training.train import train

TINY_CLI = [
    "--vocab-size",
    "400",
    "--n-embd",
    "32",
    "--n-layer",
    "2",
    "--n-head",
    "4",
    "--n-positions",
    "64",
    "--seq-len",
    "64",
    "--batch-size",
    "2",
    "--amp",
    "none",
    "--eval-windows",
    "2",
]
CODE = "def héllo(x: int) -> str:\n\treturn f'{x:>10}' + \"😀 中文\"  # 12345\r\n"


@pytest.fixture(scope="module")
def tokenizer(tmp_path_factory):
    from training.corpus import stdlib_root

    texts = [(stdlib_root() / name).read_text() for name in SAMPLE_FILES]
    tok = train_tokenizer(texts, 700)
    path = tmp_path_factory.mktemp("tok") / "tokenizer.json"
    tok.save(str(path))
    return load_tokenizer(path)


def test_tokenizer_round_trips_code_and_has_special_tokens_first(tokenizer):
    assert [tokenizer.token_to_id(t) for t in SPECIAL_TOKENS] == [0, 1, 2, 3, 4, 5]
    assert SPECIAL_TOKENS[:5] == [
        "<|endoftext|>",
        "<fim_prefix>",
        "<fim_middle>",
        "<fim_suffix>",
        "<fim_pad>",
    ]
    ids = tokenizer.encode(CODE, add_special_tokens=False).ids
    assert tokenizer.decode(ids) == CODE
    digits = tokenizer.encode("12345", add_special_tokens=False).tokens
    assert digits == ["1", "2", "3", "4", "5"]  # digits are split one by one
    assert tokenizer.encode("<fim_prefix>", add_special_tokens=False).ids == [1]


def test_fim_documents_encode_with_special_ids(tokenizer):
    recipe = Recipe(fim_rate=1.0, spm_rate=0.0)
    stream = encode_documents(tokenizer, ["abc = 1\n", "xyz = 2\n"], random.Random(0), recipe)
    assert stream.count(0) == 2  # one <|endoftext|> after each document
    assert stream.count(1) == stream.count(2) == stream.count(3) == 2
    assert stream.index(1) < stream.index(3) < stream.index(2)  # PSM: prefix, suffix, middle


def test_corpus_split_is_stable_and_chunks_keep_lines():
    assert split_of("json/decoder.py") == split_of("json/decoder.py")
    shares = [split_of(f"pkg/mod{i}.py") for i in range(2000)]
    assert 0.03 < shares.count("heldout") / 2000 < 0.07
    text = "".join(f"line {i}\n" for i in range(1000))
    chunks = chunk_text(text, 500)
    assert "".join(chunks) == text and all(c.endswith("\n") for c in chunks)
    assert max(len(c) for c in chunks) <= 500


def tiny_recipe(**kw) -> Recipe:
    base = dict(
        vocab_size=400,
        n_embd=32,
        n_layer=2,
        n_head=4,
        n_positions=128,
        seq_len=64,
        batch_size=4,
        lr=3e-3,
        warmup_steps=5,
        max_steps=30,
        chunk_chars=800,
        eval_windows=4,
        amp="none",
    )
    base.update(kw)
    return Recipe(**base)


@pytest.fixture(scope="module")
def small_corpus(monkeypatch_module):
    from training import corpus
    from training.corpus import SourceFile, stdlib_root

    files = [SourceFile(n, (stdlib_root() / n).read_text()) for n in SAMPLE_FILES]
    monkeypatch_module.setattr(
        corpus,
        "load_split",
        lambda split, root=None, wheels=None: files[:3] if split == "train" else files[3:],
    )
    import training.data as data_module

    monkeypatch_module.setattr(data_module, "load_split", corpus.load_split)
    return files


@pytest.fixture(scope="module")
def monkeypatch_module():
    mp = pytest.MonkeyPatch()
    yield mp
    mp.undo()


def test_training_reduces_loss_and_writes_a_loadable_model(tmp_path, small_corpus):
    torch.manual_seed(0)
    state = train(tmp_path / "run", tiny_recipe(), minutes=None, eval_every=10, save_every=10)
    losses = [h["eval_loss"] for h in state.history if "eval_loss" in h]
    assert state.step == 30 and len(losses) == 3
    assert losses[-1] < losses[0] - 0.2
    from training.checkpoint import export

    export(tmp_path / "run", tmp_path / "out")
    summary = json.loads((tmp_path / "out" / "training.json").read_text())
    assert summary["steps"] == 30 and summary["final_eval_loss"] == pytest.approx(losses[-1])
    lm = GPTBigCodeForCausalLM.from_pretrained(tmp_path / "out")
    assert lm.config.extra["bigcode_ls"] == {"filename_header": False}
    assert lm.dtype == torch.float32
    # Shipped in bfloat16: half the bytes, and it loads (in float32) to exactly those values.
    export(tmp_path / "run", tmp_path / "out16", "bfloat16")
    small = GPTBigCodeForCausalLM.from_pretrained(tmp_path / "out16")
    assert small.dtype == torch.float32
    for (name, p), q in zip(lm.named_parameters(), small.parameters(), strict=True):
        assert torch.equal(p.to(torch.bfloat16).float(), q), name
    size = (tmp_path / "out16" / "model.safetensors").stat().st_size
    assert size < 0.6 * (tmp_path / "out" / "model.safetensors").stat().st_size


def test_resume_continues_with_the_same_data_order(tmp_path, small_corpus):
    recipe = tiny_recipe(max_steps=12)
    straight = train(tmp_path / "a", recipe, minutes=None, eval_every=100, save_every=100)
    interrupted = train(
        tmp_path / "b", recipe, minutes=None, eval_every=100, save_every=100, session_steps=7
    )
    assert interrupted.step == 7
    resumed = train(tmp_path / "b", recipe, minutes=None, eval_every=100, save_every=100)
    assert resumed.step == straight.step == 12 and resumed.tokens == straight.tokens
    a = GPTBigCodeForCausalLM.from_pretrained(tmp_path / "a" / "checkpoint")
    b = GPTBigCodeForCausalLM.from_pretrained(tmp_path / "b" / "checkpoint")
    diff = max(
        (p - q).abs().max().item() for p, q in zip(a.parameters(), b.parameters(), strict=True)
    )
    assert diff < 1e-4  # same batches, same optimizer state: the same weights


def test_epochs_draw_new_fim_cuts(tokenizer):
    recipe = tiny_recipe(fim_rate=1.0)
    chunks = ["".join(f"value_{i} = {i}\n" for i in range(60))] * 8
    e0 = epoch_batches(tokenizer, chunks, recipe, 0)
    e0_again = epoch_batches(tokenizer, chunks, recipe, 0)
    e1 = epoch_batches(tokenizer, chunks, recipe, 1)
    assert torch.equal(e0, e0_again) and not torch.equal(e0, e1)


def test_bundled_model_loads_and_completes():
    from lsp_server.backends.engine import bundled_model_path
    from lsp_server.completion import CompletionRequest, CompletionService
    from lsp_server.settings import Settings

    path = bundled_model_path()
    lm = GPTBigCodeForCausalLM.from_pretrained(path)
    assert (
        lm.config.model_type == "gpt_bigcode"
        and (path / "model.safetensors").stat().st_size < 30 * 2**20
    )
    tok = load_tokenizer(path)
    assert tok.token_to_id(STARCODER.prefix) == 1
    service = CompletionService(Settings(max_new_tokens=16))
    service.load().result()

    def suggest(prefix: str) -> str:
        return service.complete_now(CompletionRequest("file:///b.py", 1, prefix, "\n")).text

    # Idioms any useful Python model completes; the shipped one must get them right.
    assert suggest("def main():\n    pass\n\n\nif __name__ == ") in ("'__main__':", '"__main__":')
    assert suggest("class P:\n    def __init__(self, x, y):\n        self.x = x\n        ") == (
        "self.y = y"
    )
    assert suggest("for i in range(len(items)):\n    print(items[") == "i])"


def test_command_line_trains_a_few_steps_and_exports(tmp_path, small_corpus):
    from training.train import main

    args = [
        "--out",
        str(tmp_path / "run"),
        *TINY_CLI,
        "--max-steps",
        "10",
    ]
    assert main([*args, "--steps", "3"]) == 0
    state = json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["state"]
    assert state["step"] == 3
    assert main([*args, "--steps", "2"]) == 0
    assert (
        json.loads((tmp_path / "run" / "checkpoint" / "state.json").read_text())["state"]["step"]
        == 5
    )
    assert main(["--out", str(tmp_path / "run"), "--export", str(tmp_path / "out")]) == 0
    assert (tmp_path / "out" / "model.safetensors").is_file() and (
        tmp_path / "out" / "tokenizer.json"
    ).is_file()


def test_a_run_continues_from_an_exported_model(tmp_path, small_corpus):
    from training.checkpoint import export
    from training.train import main

    args = [
        *TINY_CLI,
        "--max-steps",
        "8",
    ]
    assert main(["--out", str(tmp_path / "a"), *args, "--steps", "4"]) == 0
    export(tmp_path / "a", tmp_path / "exported")
    # A machine with only the exported directory: seed a new run and finish it.
    assert main(["--out", str(tmp_path / "b"), "--init-from", str(tmp_path / "exported")]) == 0
    state = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    assert (
        state["state"]["step"] == 8 and state["recipe"]["max_steps"] == 8
    )  # the saved recipe, not defaults
    assert state["state"]["tokens"] == 8 * 2 * 64


def test_editor_cut_training_data_ends_prompts_where_the_server_heals(tokenizer):
    from training.data import healing_boundary

    cut = healing_boundary(tokenizer)
    text = "def f(x):\n    "
    assert cut(text) < len(text)  # the indentation's last space goes with the next token
    recipe = Recipe(fim_rate=1.0, spm_rate=1.0, line_fim_rate=1.0)
    stream = encode_documents(tokenizer, [CODE * 3], random.Random(0), recipe)
    assert stream.count(tokenizer.token_to_id(STARCODER.middle)) == 1


def test_a_new_phase_restarts_the_schedule_and_keeps_the_shape(tmp_path, small_corpus, capsys):
    from training.checkpoint import export
    from training.loop import lr_at
    from training.train import main

    assert main(["--out", str(tmp_path / "a"), *TINY_CLI, "--max-steps", "4"]) == 0
    export(tmp_path / "a", tmp_path / "exported")
    phase = ["--init-from", str(tmp_path / "exported"), "--restart-schedule"]
    args = ["--max-steps", "7", "--warmup-steps", "2", "--line-fim-rate", "0.5"]
    assert main(["--out", str(tmp_path / "b"), *phase, *args]) == 0
    saved = json.loads((tmp_path / "b" / "checkpoint" / "state.json").read_text())
    recipe = Recipe(**saved["recipe"])
    assert saved["state"]["step"] == 7 and recipe.schedule_start == 4
    assert recipe.line_fim_rate == 0.5 and recipe.n_embd == 32  # overrides; shape kept
    assert lr_at(4, recipe) == pytest.approx(recipe.lr / 2)  # warming up again
    assert lr_at(6, recipe) == pytest.approx(recipe.lr)  # the new peak
    assert lr_at(7, recipe) == pytest.approx(recipe.min_lr)
    # Resuming never changes the recipe behind the user's back: it says what it ignored.
    assert main(["--out", str(tmp_path / "b"), "--max-steps", "8", "--lr", "0.5"]) == 0
    assert "ignored lr" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="n_embd"):
        main(["--out", str(tmp_path / "c"), *phase, "--max-steps", "9", "--n-embd", "64"])


def test_autocast_follows_the_cpu():
    from training.loop import choose_amp

    assert choose_amp("auto", "cpu", {"avx2", "avx512f", "avx512_bf16"}) == "bf16"
    assert choose_amp("auto", "cpu", {"avx2", "amx_bf16"}) == "bf16"
    assert choose_amp("auto", "cpu", {"avx2", "avx512f"}) == "none"  # emulated: 25x slower
    assert choose_amp("auto", "cpu", set()) == "none"
    assert (
        choose_amp("bf16", "cpu", set()) == "bf16"
        and choose_amp("none", "cpu", {"avx512_bf16"}) == "none"
    )


@pytest.mark.parametrize("corpus", ["stdlib+packages", "stdlib+packages2", "stdlib+packages3"])
def test_the_package_corpus_is_permissive_pinned_and_excludes_the_reserved(corpus):
    from training.packages import EXCLUDED, HELDOUT, is_permissive, packages_of

    packages = packages_of(corpus)
    names = [p.name.lower() for p in packages]
    assert not set(names) & EXCLUDED
    assert EXCLUDED == set(
        "flask jinja2 click werkzeug requests markupsafe itsdangerous blinker httpx attrs "
        "rich pydantic".split()
    )
    assert HELDOUT <= set(names) and len(set(names)) == len(names)
    for p in packages:
        assert p.version and p.version[0].isdigit(), p
        assert is_permissive(p.licence), p
    assert not is_permissive("GPL-3.0") and not is_permissive("LGPL-2.1 OR MIT-ish")


def test_reserved_and_vendored_code_never_enters_the_corpus(tmp_path):
    import zipfile

    from training.corpus import iter_packages
    from training.packages import Package

    wheel = tmp_path / "demo-1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheel, "w") as z:
        z.writestr("demo-1.0.dist-info/METADATA", "Name: demo\nLicense-Expression: MIT\n")
        z.writestr("demo/core.py", "def f():\n    return 1\n")
        z.writestr("demo/_vendor/requests/api.py", "def get(): pass\n")
        z.writestr("demo/click/core.py", "def command(): pass\n")
        z.writestr("demo/tests/test_core.py", "def test(): pass\n")
    files = list(iter_packages(tmp_path, (Package("demo", "1.0", "MIT"),)))
    assert [f.relpath for f in files] == ["demo/demo/core.py"]
    with pytest.raises(ValueError, match="reserved"):
        list(iter_packages(tmp_path, (Package("Flask", "1.0", "BSD"),)))
    gpl = tmp_path / "gpl"
    gpl.mkdir()
    with zipfile.ZipFile(gpl / "demo-1.0-py3-none-any.whl", "w") as z:
        z.writestr("demo-1.0.dist-info/METADATA", "Name: demo\nLicense-Expression: GPL-3.0\n")
    with pytest.raises(ValueError, match="not permissive"):
        list(iter_packages(gpl, (Package("demo", "1.0", "MIT"),)))


def test_a_longer_context_is_stretched_from_the_old_positions(tmp_path):
    from model import GPTBigCodeConfig
    from training.checkpoint import extend_context

    lm = GPTBigCodeForCausalLM(
        GPTBigCodeConfig(n_positions=8, n_embd=16, n_layer=1, n_head=2, vocab_size=50)
    )
    longer = extend_context(lm, 15)
    old, new = lm.transformer.wpe.weight, longer.transformer.wpe.weight
    assert new.shape == (15, 16)
    assert torch.allclose(new[0], old[0]) and torch.allclose(new[-1], old[-1])
    assert torch.allclose(new[2], old[1])  # 15 positions over 8: every other is an old one
    assert torch.allclose(new[1], (old[0] + old[1]) / 2)
    assert torch.equal(longer.transformer.wte.weight, lm.transformer.wte.weight)
    assert longer(torch.arange(12)[None]).logits.shape == (1, 12, 50)  # past the old 8
    assert longer.lm_head.weight is longer.transformer.wte.weight


def test_repository_snippets_precede_a_share_of_chunks_as_the_server_lays_them_out(tokenizer):
    from training.context import documents
    from training.corpus import SourceFile
    from training.data import encode_documents

    helper = "def scale_price(amount, factor):\n    return amount * factor\n"
    user = "from shop.helpers import scale_price\n\n\ndef total(x):\n    return scale_price(x, 2)\n"
    files = [
        SourceFile("shop/helpers.py", helper, origin="shop"),
        SourceFile("shop/cart.py", user, origin="shop"),
        SourceFile("alone.py", "x = 1\n", origin="other"),  # a one-file project: no context
    ]
    docs = documents(files, 3000, rate=1.0, seed=0, weights={})
    with_context = {d[1]: d[0] for d in docs if isinstance(d, tuple)}
    assert "x = 1\n" in docs  # nothing to retrieve from
    snippets = with_context[user]
    assert snippets and snippets[-1].startswith("# shop/shop/helpers.py\ndef scale_price")
    assert all("cart.py" not in s for s in snippets)  # never the chunk's own file
    ids = encode_documents(
        tokenizer, [(snippets, user)], random.Random(0), tiny_recipe(fim_rate=0.0)
    )
    eot = tokenizer.token_to_id("<|endoftext|>")
    first = ids.index(eot)
    assert tokenizer.decode(ids[:first]) == snippets[0]  # a snippet, then end-of-text
    assert ids.count(eot) == len(snippets) + 1


def test_a_corpus_pack_round_trips_and_refuses_reserved_code(tmp_path):
    from training.corpus import SourceFile, read_pack, write_pack
    from training.data import corpus_files

    files = [
        SourceFile("a/core.py", "def f():\n    return 1\n", origin="demo"),
        SourceFile("toolz/x.py", "x = 1\n", origin="toolz"),  # a held-out package
        SourceFile("os.py", "import sys\n"),
    ]
    pack = tmp_path / "corpus.jsonl.xz"
    assert write_pack(pack, "stdlib+packages", iter(files)) == 3
    assert read_pack(pack) == ("stdlib+packages", files)
    recipe = tiny_recipe(corpus="stdlib+packages")
    train_split = corpus_files("train", recipe, pack=pack)
    assert [f.relpath for f in train_split] == ["a/core.py", "os.py"]
    with pytest.raises(SystemExit, match="holds corpus"):
        corpus_files("train", tiny_recipe(corpus="stdlib+packages2"), pack=pack)
    bad = tmp_path / "bad.jsonl.xz"
    write_pack(bad, "stdlib+packages", iter([SourceFile("x.py", "y = 2\n", origin="Flask")]))
    with pytest.raises(ValueError, match="reserved"):
        read_pack(bad)


def test_worker_processes_prepare_the_same_epochs(tokenizer):
    from training.data import EpochFeed

    recipe = tiny_recipe(fim_rate=1.0)
    chunks = ["".join(f"value_{i} = {i}\n" for i in range(60))] * 8
    feed = EpochFeed(tokenizer, chunks, recipe, workers=2)
    try:
        for epoch in (0, 1, 2):
            assert torch.equal(feed.get(epoch), epoch_batches(tokenizer, chunks, recipe, epoch))
    finally:
        feed.close()


def test_fit_schedule_ends_the_cosine_in_the_time_left():
    from training.loop import fit_schedule, lr_at
    from training.recipe import State

    recipe = tiny_recipe(lr=1e-3, min_lr=1e-4, warmup_steps=10, max_steps=10**6)
    fit_schedule(recipe, State(step=40), steps_per_s=5.0, seconds_left=60.0)
    assert recipe.max_steps == 340
    assert lr_at(339, recipe) == pytest.approx(1e-4, rel=1e-3)


def test_the_manifest_credits_every_package_of_the_shipped_model_with_its_licence():
    from pathlib import Path

    from lsp_server.backends.engine import bundled_model_path
    from training.packages import EXCLUDED, is_permissive, packages_of

    recipe = json.loads((bundled_model_path() / "training.json").read_text())["recipe"]
    root = Path(__file__).resolve().parent.parent
    manifest = json.loads((root / "docs" / "corpus_manifest.json").read_text())
    listed = {p["name"]: p for p in manifest["packages"]}
    assert set(listed) == {p.name for p in packages_of(recipe["corpus"])}
    for p in packages_of(recipe["corpus"]):
        row = listed[p.name]
        assert row["version"] == p.version and row["files"] > 0, row
        assert is_permissive(row["declared"] or row["licence"]), row
    assert not {n.lower() for n in listed} & EXCLUDED
    assert "toolz" in listed and listed["toolz"]["split"] == "heldout"


def test_the_prepared_gpu_run_goes_end_to_end_on_a_cpu(tmp_path):
    """training/gpu_train.sh as a lease runs it, at a tiny shape on the CPU: train on a
    corpus pack to a fitted schedule, export, leave the weights in pieces and the
    held-out evaluation of the export beside them."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    from model import GPTBigCodeForCausalLM
    from training.corpus import iter_stdlib, write_pack

    root = Path(__file__).resolve().parent.parent
    small = [f for f in iter_stdlib() if 2_000 < len(f.text) < 8_000]
    files = [f for f in small if f.split == "train"][:40] + [
        f for f in small if f.split == "heldout"
    ][:10]
    pack = tmp_path / "pack.jsonl.xz"
    write_pack(pack, "stdlib+packages3", iter(files))
    env = {
        **os.environ,
        "DEVICE": "cpu",
        "MINUTES": "0.1",
        "SHAPE": "--n-embd 32 --n-layer 1 --n-head 2 --batch-size 1",
        "WORKERS": "0",
        "PACK": str(pack),
        "RUN": str(tmp_path / "run"),
        "BACK": str(tmp_path / "back"),
        "PYTHON": sys.executable,
        "HOLES": "4",
        "HUMANEVAL": "0",
        "EXTRA": "--eval-windows 2 --amp none",
    }
    out = subprocess.run(
        ["bash", "training/gpu_train.sh"], cwd=root, env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    back = tmp_path / "back"
    parts = sorted(back.glob("model.safetensors.part-*"))
    assert parts and (back / "config.json").exists() and (back / "training.json").exists()
    model = tmp_path / "model"
    model.mkdir()
    (model / "model.safetensors").write_bytes(b"".join(p.read_bytes() for p in parts))
    for name in ("config.json", "training.json"):
        (model / name).write_text((back / name).read_text())
    lm = GPTBigCodeForCausalLM.from_pretrained(model)
    assert lm.config.n_embd == 32 and lm.config.n_positions == 2048
    recipe = json.loads((back / "training.json").read_text())["recipe"]
    assert recipe["corpus"] == "stdlib+packages3"
    quality = json.loads((back / "quality.json").read_text())
    assert quality["configs"]["spm+heal"]["stdlib"]["n"] == 4
