// Real VS Code (code-server) + Chromium: open a Python file, see bigcode-ls's ghost text,
// accept it with Tab. Env: CODE_SERVER_DIR, BIGCODE_VSIX, BIGCODE_PYTHON, BIGCODE_MODEL,
// BIGCODE_WORK (a temp dir), BIGCODE_SCREENSHOT (where to save the picture).
const { spawn, execFileSync } = require("node:child_process");
const fs = require("node:fs");
const path = require("node:path");
const net = require("node:net");
const { chromium } = require(path.join(process.env.CODE_SERVER_DIR, "node_modules", "playwright-core"));

const work = process.env.BIGCODE_WORK;
const entry = path.join(process.env.CODE_SERVER_DIR, "node_modules", "code-server", "out", "node", "entry.js");
const dirs = { user: path.join(work, "user"), ext: path.join(work, "ext"), ws: path.join(work, "ws") };

function freePort() {
  return new Promise((resolve) => {
    const s = net.createServer().listen(0, "127.0.0.1", () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });
}

async function main() {
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.writeFileSync(path.join(dirs.ws, "demo.py"), "import os\n\n\ndef main():\n    value = f()\n");
  fs.mkdirSync(path.join(dirs.user, "User"), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.user, "User", "settings.json"),
    JSON.stringify({
      "bigcode.serverPath": process.env.BIGCODE_PYTHON,
      "bigcode.serverArgs": ["-m", "lsp_server", "--model", process.env.BIGCODE_MODEL, "--threads", "1"],
      "bigcode.maxNewTokens": 4,
      "workbench.startupEditor": "none",
      "security.workspace.trust.enabled": false,
      "editor.inlineSuggest.enabled": true,
      "extensions.autoUpdate": false,
      "telemetry.telemetryLevel": "off",
    }),
  );
  const common = ["--user-data-dir", dirs.user, "--extensions-dir", dirs.ext];
  execFileSync("node", [entry, ...common, "--install-extension", process.env.BIGCODE_VSIX], { stdio: "inherit" });
  const port = await freePort();
  const server = spawn(
    "node",
    [entry, ...common, "--auth", "none", "--disable-telemetry", "--disable-update-check", "--disable-workspace-trust",
      "--bind-addr", `127.0.0.1:${port}`, dirs.ws],
    { stdio: ["ignore", "inherit", "inherit"], detached: true },
  );
  let browser;
  try {
    browser = await chromium.launch({
      executablePath: "/usr/bin/chromium",
      args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run", "--disable-dev-shm-usage"],
    });
    const page = await browser.newPage({ viewport: { width: 1280, height: 720 } });
    for (let i = 0; ; i++) {
      try {
        await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(dirs.ws)}`, { timeout: 10000 });
        break;
      } catch (e) {
        if (i > 30) throw e;
        await new Promise((r) => setTimeout(r, 1000));
      }
    }
    await page.waitForSelector(".monaco-workbench", { timeout: 60000 });
    // Open demo.py from the Explorer.
    const row = await page.waitForSelector('.explorer-folders-view .monaco-list-row[aria-label*="demo.py"]', { timeout: 60000 });
    await row.dblclick();
    await page.waitForSelector(".monaco-editor .view-lines", { timeout: 30000 });
    await page.click(".monaco-editor .view-lines");
    await page.keyboard.press("Control+End");
    await page.keyboard.press("ArrowUp");
    await page.keyboard.press("End");
    await page.keyboard.press("ArrowLeft"); // between "(" and ")"
    // Type, then wait for the ghost text (the model may still be loading: type again).
    let ghost = null;
    for (let i = 0; i < 20 && !ghost; i++) {
      await page.keyboard.type("a");
      ghost = await page.waitForSelector(".ghost-text-decoration, .ghost-text", { timeout: 5000 }).catch(() => null);
    }
    if (!ghost) throw new Error("no ghost text appeared");
    const shown = await ghost.innerText();
    await page.screenshot({ path: process.env.BIGCODE_SCREENSHOT });
    await page.keyboard.press("Tab");
    await page.waitForTimeout(500);
    const text = await page.innerText(".monaco-editor .view-lines");
    if (!text.includes("xxxx")) throw new Error(`after Tab: ${JSON.stringify(text)}`);
    console.log(`BIGCODE-VSCODE-OK ghost=${JSON.stringify(shown)}`);
  } catch (e) {
    const pages = browser ? browser.contexts().flatMap((c) => c.pages()) : [];
    if (pages.length) await pages[0].screenshot({ path: process.env.BIGCODE_SCREENSHOT + ".fail.png" }).catch(() => {});
    throw e;
  } finally {
    if (browser) await browser.close();
    try {
      process.kill(-server.pid, "SIGKILL");
    } catch {}
  }
}

main().catch((e) => {
  console.error(`BIGCODE-VSCODE-FAIL: ${e.stack || e}`);
  process.exit(1);
});
