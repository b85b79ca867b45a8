"""Post-processing per language: block openers, closing lines, definition headers."""

from __future__ import annotations

import pytest

from fim.languages import language_of
from fim.postprocess import PostOptions, finish_text, is_multiline, stop_early

# (file, prefix, suffix, what the model wrote, what is shown)
BLOCKS = {
    "javascript": (
        "app.js",
        "function total(items) {\n  ",
        "\n",
        "let sum = 0;\n  for (const item of items) {\n    sum += item.price;\n  }\n"
        "  return sum;\n}\n\nfunction other() {\n  return 1;\n}\n",
        "let sum = 0;\n  for (const item of items) {\n    sum += item.price;\n  }\n"
        "  return sum;\n}",
    ),
    "typescript": (
        "shop.ts",
        "export class Cart {\n  private items: Item[] = [];\n\n  add(item: Item): void {",
        "\n}\n",
        "\n    this.items.push(item);\n  }\n\n  clear(): void {\n",
        "\n    this.items.push(item);\n  }",
    ),
    "go": (
        "main.go",
        "func sum(xs []int) int {\n\t",
        "\n}\n",
        "total := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total\n}\n\nfunc main() {\n",
        "total := 0\n\tfor _, x := range xs {\n\t\ttotal += x\n\t}\n\treturn total",
    ),
    "rust": (
        "lib.rs",
        "pub fn area(w: f64, h: f64) -> f64 {",
        "",
        "\n    w * h\n}\n\npub fn perimeter(w: f64, h: f64) -> f64 {\n",
        "\n    w * h\n}",
    ),
    "java": (
        "Point.java",
        "public class Point {\n    private final int x;\n\n    public int getX() {\n        ",
        "\n    }\n}\n",
        "return x;\n    }\n\n    public int getY() {\n",
        "return x;",
    ),
    "c": (
        "list.c",
        "static size_t length(const struct node *head) {\n    size_t n = 0;\n    while (head) {",
        "\n    return n;\n}\n",
        "\n        n++;\n        head = head->next;\n    }\n    return n;\n}\n",
        "\n        n++;\n        head = head->next;\n    }",
    ),
    "cpp": (
        "vec.cpp",
        "#include <cmath>\n\ndouble Vec::norm() const {",
        "\n\ndouble Vec::dot(const Vec& o) const {\n    return x * o.x + y * o.y;\n}\n",
        "\n    return std::sqrt(x * x + y * y);\n}\n\ndouble Vec::dot(const Vec& o) const {\n",
        "\n    return std::sqrt(x * x + y * y);\n}",
    ),
}


@pytest.mark.parametrize("name", sorted(BLOCKS))
def test_a_block_ends_with_its_closing_line_unless_the_text_after_closes_it(name):
    path, prefix, suffix, raw, shown = BLOCKS[name]
    options = PostOptions(language=language_of(path).name)
    assert options.language == name
    assert is_multiline(prefix, suffix, "auto", options.language)
    assert finish_text(raw, prefix, suffix, options)[0] == shown
    # Decoding may stop once the block is closed, or once a line leaves it.
    assert stop_early(raw, prefix, suffix, options)


# (file, prefix at the start of a body line, the enclosing header the model echoes)
HEADERS = {
    "javascript": ("a.js", "export async function load(url) {\n  ", "export async function load(url) {"),
    "typescript": ("a.ts", "  async fetchAll(ids: string[]): Promise<Item[]> {\n    ", "async fetchAll(ids: string[]): Promise<Item[]> {"),
    "go": ("a.go", "func (s *Server) Start(port int) error {\n\t", "func (s *Server) Start(port int) error {"),
    "rust": ("a.rs", "pub(crate) async fn run(cfg: Config) -> Result<()> {\n    ", "pub(crate) async fn run(cfg: Config) -> Result<()> {"),
    "java": ("A.java", "    public static List<String> names(Map<String, Integer> m) {\n        ", "public static List<String> names(Map<String, Integer> m) {"),
    "c": ("a.c", "static int parse_args(int argc, char **argv) {\n    ", "static int parse_args(int argc, char **argv) {"),
    "cpp": ("a.cpp", "std::vector<int> Graph::neighbours(int v) const {\n    ", "std::vector<int> Graph::neighbours(int v) const {"),
    "python": ("a.py", "    def neighbours(self, v):\n        ", "def neighbours(self, v):"),
}  # fmt: skip


@pytest.mark.parametrize("name", sorted(HEADERS))
def test_an_echo_of_the_enclosing_definitions_header_is_dropped(name):
    path, prefix, header = HEADERS[name]
    options = PostOptions(language=language_of(path).name, mode="single")
    assert finish_text(header, prefix, "\n", options) == ("", "echo")
    assert finish_text("x = 1", prefix, "\n", options)[0] == "x = 1"  # others are kept


def test_comments_after_an_opener_and_case_labels_open_blocks():
    js = "javascript"
    assert is_multiline("if (ready) { // go\n  ", "\n", "auto", js)
    assert is_multiline("switch (k) {\n  case 'a':", "\n", "auto", js)
    assert not is_multiline("const x = 1; // a:", "\n", "auto", js)  # a colon in a comment
    assert is_multiline("if ready:  # go", "\n", "auto", "python")
    assert not is_multiline("x = {'a': 1}", "\n", "auto", "python")


def test_unknown_files_keep_pythons_rules():
    assert language_of("notes.txt").name == "python"
    assert language_of("untitled:Untitled-1").name == "python"
    assert language_of("file:///src/App.TSX").name == "typescript"
