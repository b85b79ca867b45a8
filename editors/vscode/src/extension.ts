// bigcode-ls for VS Code: starts the server, passes settings, shows its state.
// Inline suggestions come from vscode-languageclient's inlineCompletion feature.
import * as vscode from "vscode";
import { LanguageClient, LanguageClientOptions, ServerOptions } from "vscode-languageclient/node";
import { languages, serverLaunch, serverSettings } from "./settings";
import { ServerStatus, stateOf, statusText } from "./status";

let client: LanguageClient | undefined;
let statusItem: vscode.StatusBarItem;
let output: vscode.LogOutputChannel;
let poller: NodeJS.Timeout | undefined;

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
      if (showState(status) && poller) {
        clearInterval(poller);
        poller = undefined;
      }
    } catch {
      // not started yet
    }
  }, 500);
}

async function start(): Promise<void> {
  const launch = serverLaunch(config());
  const serverOptions: ServerOptions = { command: launch.command, args: launch.args };
  const clientOptions: LanguageClientOptions = {
    documentSelector: languages(config()).map((language) => ({ language })),
    initializationOptions: launch.initializationOptions,
    outputChannel: output,
    // VS Code shows the suggestion as ghost text (inline completion); the same text in
    // the suggest widget would only duplicate it, so the completion feature stays quiet.
    middleware: { provideCompletionItem: () => [] },
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
