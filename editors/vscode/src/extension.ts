// bigcode-ls for VS Code: starts the server, passes settings, shows its state.
// Inline suggestions come from vscode-languageclient's inlineCompletion feature.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { LspEdit, NextEdits } from "./nextEdit";
import { RestTracker } from "./rest";
import { covers, debounceMs, documentSelector, languages, serverLaunch, serverSettings } from "./settings";
import { ServerStatus, stateOf, statusText } from "./status";

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let output: vscode.LogOutputChannel;
let poller: NodeJS.Timeout | undefined;
let served: string[] | undefined; // the languages the server's model completes, once loaded

function config() {
  return vscode.workspace.getConfiguration("bigcode");
}

function showState(status?: ServerStatus): boolean {
  const state = stateOf(status, config().get<boolean>("enable", true));
  const { text, tooltip } = statusText(state, status);
  statusItem.text = text;
  statusItem.tooltip = tooltip;
  return state === "ready" || state === "error";
}

function pollStatus(c: LanguageClient) {
  if (poller) {
    clearInterval(poller);
  }
  showState(undefined);
  poller = setInterval(async () => {
    try {
      const status = await c.sendRequest<ServerStatus>("bigcode/status", {});
      served = status.model && Array.isArray(status.languages) ? status.languages : undefined;
      if (showState(status) && poller) {
        clearInterval(poller);
        poller = undefined;
      }
    } catch {
      // not started yet
    }
  }, 500);
}

type InlineResult = vscode.InlineCompletionItem[] | vscode.InlineCompletionList | null | undefined;

// Acceptance stats (local only): tell the server a suggestion was shown, and attach a
// command that VS Code runs when it is accepted. A suggestion replaced without an accept
// is counted as dismissed by the server itself.
function reportShown(uri: string, position: vscode.Position, result: InlineResult): InlineResult {
  const items = Array.isArray(result) ? result : result?.items ?? [];
  const first = items[0];
  const text = typeof first?.insertText === "string" ? first.insertText : first?.insertText?.value;
  if (!client || !first || !text) {
    return result;
  }
  client.sendNotification("bigcode/didShowCompletion", { uri, text }).catch(() => undefined);
  const where = { line: position.line, character: position.character };
  first.command = {
    title: "bigcode-ls: accepted",
    command: "bigcode.didAccept",
    arguments: [{ uri, text, acceptedLength: text.length, position: where }],
  };
  return result;
}

async function start(): Promise<void> {
  const launch = serverLaunch(config());
  const serverOptions: ServerOptions = { command: launch.command, args: launch.args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: documentSelector(languages(config())),
    initializationOptions: launch.initializationOptions,
    outputChannel: output,
    middleware: {
      // VS Code shows the suggestion as ghost text (inline completion); the same text in
      // the suggest widget would only duplicate it, so the completion feature stays quiet.
      provideCompletionItem: () => [],
      provideInlineCompletionItems: async (document, position, context, token, next) => {
        if (!covers(served, document.languageId)) {
          return null; // a language the server's model does not complete
        }
        // Ask only once typing pauses; the server's newest-wins is the second line.
        const wait = debounceMs(config());
        if (wait > 0) {
          await new Promise((resolve) => setTimeout(resolve, wait));
        }
        if (token.isCancellationRequested) {
          return null;
        }
        const result = await next(document, position, context, token);
        return reportShown(document.uri.toString(), position, result);
      },
    },
  };
  client = new LanguageClient("bigcode-ls", "bigcode-ls", serverOptions, clientOptions);
  await client.start();
  pollStatus(client);
}

async function restart(): Promise<void> {
  if (client) {
    await client.stop().catch(() => undefined);
    client = undefined;
  }
  await start();
}


// Where the cursor rests after a move that was not typing (README, "Where the cursor rests").
const REST_MS = 200;
const rests = new RestTracker(REST_MS, (uri, version, line, character) => {
  client
    ?.sendNotification("bigcode/didMoveCursor", { textDocument: { uri, version }, position: { line, character } })
    .catch(() => undefined);
});
// Whether this client serves the document: listed by bigcode.languages, and a language
// the server's model completes.
function servedHere(document: vscode.TextDocument): boolean {
  const wanted = languages(config());
  const schemes = ["file", "untitled", "vscode-notebook-cell"];
  const listed = wanted.includes("*") ? schemes.includes(document.uri.scheme) : wanted.includes(document.languageId);
  return Boolean(client) && listed && covers(served, document.languageId);
}

const nextEdits = new NextEdits(
  async (params) => client?.sendRequest<{ edits: LspEdit[] }>("textDocument/copilotInlineEdit", params),
  servedHere,
);

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  output = vscode.window.createOutputChannel("bigcode-ls", { log: true });
  statusItem = vscode.window.createStatusBarItem(vscode.StatusBarAlignment.Right, 100);
  statusItem.command = "bigcode.showLogs";
  statusItem.show();
  context.subscriptions.push(
    output,
    statusItem,
    vscode.commands.registerCommand("bigcode.restart", restart),
    vscode.commands.registerCommand("bigcode.showLogs", () => output.show(true)),
    vscode.commands.registerCommand("bigcode.didAccept", (params: unknown) =>
      client?.sendNotification("bigcode/didAcceptCompletion", params),
    ),
    vscode.window.onDidChangeTextEditorSelection((event) => {
      const document = event.textEditor.document;
      const selection = event.selections[0];
      if (event.selections.length !== 1 || !selection.isEmpty || !servedHere(document)) {
        return;
      }
      rests.moved(document.uri.toString(), document.version, selection.active.line, selection.active.character);
    }),
    vscode.workspace.onDidCloseTextDocument((document) => rests.forget(document.uri.toString())),
    nextEdits,
    vscode.commands.registerCommand("bigcode.nextEdit.jump", () => nextEdits.jump()),
    vscode.commands.registerCommand("bigcode.nextEdit.accept", () => nextEdits.accept()),
    vscode.workspace.onDidChangeTextDocument((event) => {
      if (event.contentChanges.length > 0) {
        nextEdits.changed(event.document);
      }
    }),
    vscode.workspace.onDidChangeConfiguration(async (event) => {
      if (!event.affectsConfiguration("bigcode") || !client) {
        return;
      }
      if (event.affectsConfiguration("bigcode.serverPath") || event.affectsConfiguration("bigcode.serverArgs") || event.affectsConfiguration("bigcode.languages")) {
        await restart();
        return;
      }
      await client.sendNotification("workspace/didChangeConfiguration", { settings: { bigcode: serverSettings(config()) } });
      pollStatus(client);
    }),
  );
  try {
    await start();
  } catch (err) {
    showState({ loadError: String(err) });
    output.appendLine(`bigcode-ls failed to start: ${err}`);
  }
}

export async function deactivate(): Promise<void> {
  if (poller) {
    clearInterval(poller);
  }
  await client?.stop();
}
