// Next edits: after edits pause, ask the server (textDocument/copilotInlineEdit) for the
// edit the user will make next; show it where it would go (the text it replaces
// highlighted, the new text after it); Alt+N jumps there, Alt+Enter makes it.
import * as vscode from "vscode";

export interface LspEdit {
  text: string;
  range: { start: { line: number; character: number }; end: { line: number; character: number } };
  textDocument: { uri: string; version: number };
}

type Ask = (params: object) => Promise<{ edits: LspEdit[] } | undefined>;

const DELAY_MS = 300;

export class NextEdits implements vscode.Disposable {
  private readonly decoration = vscode.window.createTextEditorDecorationType({
    backgroundColor: new vscode.ThemeColor("diffEditor.removedTextBackground"),
  });
  private shown: { uri: string; version: number; range: vscode.Range; text: string } | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(private readonly ask: Ask, private readonly serves: (doc: vscode.TextDocument) => boolean) {}

  changed(document: vscode.TextDocument): void {
    this.clear();
    if (!this.serves(document)) {
      return;
    }
    this.timer = setTimeout(() => void this.request(document), DELAY_MS);
  }

  async request(document: vscode.TextDocument): Promise<void> {
    const version = document.version;
    const editor = vscode.window.activeTextEditor;
    if (!editor || editor.document !== document) {
      return;
    }
    const cursor = editor.selection.active;
    const answer = await this.ask({
      textDocument: { uri: document.uri.toString(), version },
      position: { line: cursor.line, character: cursor.character },
    }).catch(() => undefined);
    const edit = answer?.edits?.[0];
    if (!edit || document.version !== version || vscode.window.activeTextEditor !== editor) {
      return;
    }
    const range = new vscode.Range(edit.range.start.line, edit.range.start.character, edit.range.end.line, edit.range.end.character);
    this.shown = { uri: document.uri.toString(), version, range, text: edit.text };
    const label = ` → ${edit.text.replace(/\n/g, "⏎")} (Alt+Enter)`;
    editor.setDecorations(this.decoration, [
      { range, renderOptions: { after: { contentText: label, color: new vscode.ThemeColor("editorGhostText.foreground") } } },
    ]);
    await vscode.commands.executeCommand("setContext", "bigcode.nextEditVisible", true);
  }

  jump(): void {
    const editor = vscode.window.activeTextEditor;
    if (!editor || !this.shown || editor.document.uri.toString() !== this.shown.uri) {
      return;
    }
    editor.selection = new vscode.Selection(this.shown.range.start, this.shown.range.start);
    editor.revealRange(this.shown.range);
  }

  async accept(): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const shown = this.shown;
    this.clear();
    if (!editor || !shown || editor.document.uri.toString() !== shown.uri || editor.document.version !== shown.version) {
      return;
    }
    await editor.edit((b) => b.replace(shown.range, shown.text));
  }

  clear(): void {
    if (this.timer) {
      clearTimeout(this.timer);
      this.timer = undefined;
    }
    if (this.shown) {
      this.shown = undefined;
      for (const editor of vscode.window.visibleTextEditors) {
        editor.setDecorations(this.decoration, []);
      }
      void vscode.commands.executeCommand("setContext", "bigcode.nextEditVisible", false);
    }
  }

  dispose(): void {
    this.clear();
    this.decoration.dispose();
  }
}
