// Pure: from the extension's configuration to the server's command and options.
// Kept free of the `vscode` module so that it can be unit-tested with node:test.

export interface ConfigReader {
  get<T>(key: string, fallback: T): T;
}

export interface ServerLaunch {
  command: string;
  args: string[];
  initializationOptions: { bigcode: Record<string, unknown> };
}

// Every setting the server understands, as lsp_server/settings.py defines them (a Python
// test and a unit test here hold this list, package.json and that definition equal); the
// extension-only ones (serverPath, serverArgs, languages) stay here.
export const SERVER_KEYS = [
  "enable",
  "model",
  "device",
  "dtype",
  "maxNewTokens",
  "temperature",
  "topP",
  "contextTokens",
  "multiline",
  "maxLines",
  "fimOrder",
  "tokenHealing",
  "cacheMib",
  "documentCache",
  "deadlineMs",
  "maxDocumentMib",
  "threads",
  "dropEchoes",
  "lineCandidates",
  "lineSearch",
  "staticAnalysis",
  "candidates",
  "minConfidence",
  "repoContext",
  "repoContextShare",
  "indexMaxFiles",
  "indexMaxMib",
  "fileNgrams",
  "promptLookup",
  "precompute",
  "computeOnEdit",
  "quantize",
  "widePasses",
  "packedLinears",
  "statsFile",
  "backOff",
  "backend",
  "remoteUrl",
  "remoteModel",
  "remoteApiKeyEnv",
  "remoteTimeoutMs",
  "remoteTlsVerify",
  "remoteExtra",
  "fimTemplate",
  "tokenizer",
  "nextEditModel",
] as const;
export const EXTENSION_KEYS = ["serverPath", "serverArgs", "languages", "debounceMs"] as const;

export function debounceMs(config: ConfigReader): number {
  const ms = config.get<number>("debounceMs", 150);
  return typeof ms === "number" && Number.isFinite(ms) ? Math.min(2000, Math.max(0, ms)) : 150;
}

export function serverSettings(config: ConfigReader): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const key of SERVER_KEYS) {
    const value = config.get<unknown>(key, undefined);
    if (value === undefined || value === "") {
      continue; // unset: the server's default (e.g. the bundled model)
    }
    out[key] = value;
  }
  return out;
}

export function serverLaunch(config: ConfigReader): ServerLaunch {
  const command = config.get<string>("serverPath", "bigcode-ls").trim() || "bigcode-ls";
  const args = config.get<string[]>("serverArgs", []).filter((a) => typeof a === "string");
  return { command, args, initializationOptions: { bigcode: serverSettings(config) } };
}

export function languages(config: ConfigReader): string[] {
  const langs = config.get<string[]>("languages", ["*"]).filter((l) => typeof l === "string" && l !== "");
  return langs.length > 0 ? langs : ["*"];
}

// The documents the client serves: every file, untitled buffer and notebook cell for "*",
// else by language.
export function documentSelector(langs: string[]): ({ scheme: string } | { language: string })[] {
  if (langs.includes("*")) {
    return [{ scheme: "file" }, { scheme: "untitled" }, { scheme: "vscode-notebook-cell" }];
  }
  return langs.map((language) => ({ language }));
}

// VS Code's language ids that the server knows by another name.
const SERVER_IDS: Record<string, string> = { javascriptreact: "javascript", typescriptreact: "typescript" };

// Whether the server's model completes `languageId` (`served`: bigcode/status "languages",
// undefined until the model is loaded: then yes).
export function covers(served: string[] | undefined, languageId: string): boolean {
  if (!served) {
    return true;
  }
  return served.includes("*") || served.includes(SERVER_IDS[languageId] ?? languageId);
}
