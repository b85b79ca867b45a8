import { strict as assert } from "node:assert";
import { test } from "node:test";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { EXTENSION_KEYS, SERVER_KEYS, covers, documentSelector, languages, serverLaunch, serverSettings, debounceMs } from "../settings";
import { stateOf, statusText } from "../status";

function reader(values: Record<string, unknown>) {
  return { get: <T>(key: string, fallback: T): T => (key in values ? (values[key] as T) : fallback) };
}

test("only set server settings are sent; empty model means bundled", () => {
  assert.deepEqual(serverSettings(reader({ model: "", maxNewTokens: 32, enable: true, serverPath: "x" })), {
    maxNewTokens: 32,
    enable: true,
  });
});

test("launch uses serverPath and serverArgs, trimmed", () => {
  const launch = serverLaunch(reader({ serverPath: "  /opt/bin/bigcode-ls ", serverArgs: ["--threads", "2"], device: "cpu" }));
  assert.equal(launch.command, "/opt/bin/bigcode-ls");
  assert.deepEqual(launch.args, ["--threads", "2"]);
  assert.deepEqual(launch.initializationOptions, { bigcode: { device: "cpu" } });
  assert.equal(serverLaunch(reader({ serverPath: "" })).command, "bigcode-ls");
});

test("debounce: 150 ms by default, clamped, 0 allowed", () => {
  assert.equal(debounceMs(reader({})), 150);
  assert.equal(debounceMs(reader({ debounceMs: 0 })), 0);
  assert.equal(debounceMs(reader({ debounceMs: 99999 })), 2000);
  assert.equal(debounceMs(reader({ debounceMs: "x" })), 150);
});

test("languages listed are kept", () => {
  assert.deepEqual(languages(reader({ languages: ["python", "go"] })), ["python", "go"]);
});

test("status states and texts", () => {
  assert.equal(stateOf(undefined, true), "starting");
  assert.equal(stateOf({ model: null, loadError: null }, true), "loading");
  assert.equal(stateOf({ model: "bundled (7M)", loadError: null }, true), "ready");
  assert.equal(stateOf({ model: null, loadError: "model directory not found" }, true), "error");
  assert.equal(stateOf({ model: "m" }, false), "disabled");
  assert.match(statusText("error", { loadError: "boom" }).tooltip, /boom/);
  assert.match(statusText("ready", { model: "bundled" }).tooltip, /bundled/);
  const demo = statusText("ready", { model: "bundled", demonstration: true, advice: "run bigcode-ls download tiny_starcoder_py" });
  assert.match(demo.text, /demo/);
  assert.match(demo.tooltip, /bigcode-ls download tiny_starcoder_py/);
});

test("every setting package.json contributes is forwarded or extension-only", () => {
  // out/test/ -> the extension's root
  const pkg = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
  const contributed = Object.keys(pkg.contributes.configuration.properties).map((k) => k.replace(/^bigcode\./, ""));
  assert.deepEqual([...contributed].sort(), [...SERVER_KEYS, ...EXTENSION_KEYS].sort());
});

test("languages: every one by default, served as the server's model allows", () => {
  assert.deepEqual(languages(reader({})), ["*"]);
  assert.deepEqual(languages(reader({ languages: [] })), ["*"]);
  assert.deepEqual(documentSelector(["*"]), [{ scheme: "file" }, { scheme: "untitled" }, { scheme: "vscode-notebook-cell" }]);
  assert.deepEqual(documentSelector(["python", "go"]), [{ language: "python" }, { language: "go" }]);
  assert.equal(covers(undefined, "javascript"), true); // not known yet
  assert.equal(covers(["*"], "rust"), true);
  assert.equal(covers(["python"], "javascript"), false);
  assert.equal(covers(["python", "javascript"], "javascriptreact"), true);
});

test("the extension activates at startup, not on the first Python file", () => {
  const manifest = JSON.parse(readFileSync(join(__dirname, "..", "..", "package.json"), "utf8"));
  assert.deepEqual(manifest.activationEvents, ["onStartupFinished"]);
  assert.deepEqual(manifest.contributes.configuration.properties["bigcode.languages"].default, ["*"]);
});
