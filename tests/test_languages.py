"""Which languages the server says its model completes (`bigcode/status` "languages")."""

from __future__ import annotations

from lsp_server.model_languages import EVERY, model_languages


def test_the_bundled_model_is_python_and_a_remote_server_any_language():
    assert model_languages(None, "local", demonstration=True) == ["python"]
    assert model_languages(None, "remote", demonstration=False) == [EVERY]
    assert model_languages(None, "local", demonstration=False) == [EVERY]  # not loaded yet


def test_a_checkpoint_says_its_languages_in_its_card_or_is_known_by_name(tmp_path):
    card = tmp_path / "santa"
    card.mkdir()
    (card / "README.md").write_text(
        "---\nlicense: openrail\nprogramming_language:\n- Java\n- JavaScript\n- Python\n"
        "- C++\n- Brainfuck\ntags:\n- code\n---\n# A model\nprogramming_language:\n- Go\n"
    )
    assert model_languages(str(card), "local", False) == ["java", "javascript", "python", "cpp"]
    known = tmp_path / "tiny_starcoder_py"
    known.mkdir()
    assert model_languages(str(known), "local", False) == ["python"]
    other = tmp_path / "starcoderbase-1b"
    other.mkdir()
    (other / "README.md").write_text("---\nlanguage: code\n---\n")
    assert model_languages(str(other), "local", False) == [EVERY]
