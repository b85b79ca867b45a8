#!/usr/bin/env bash
# Installs code-server 4.99 (real VS Code in a browser, runs on Node 20) and
# playwright-core into $1 (default /tmp/bigcode-vscode-e2e) without network downloads
# outside the npm registry: install scripts are skipped (they fetch ripgrep from GitHub),
# native modules are rebuilt locally and Debian's ripgrep stands in.
# Needs: Debian packages chromium ripgrep libkrb5-dev libxkbfile-dev libsecret-1-dev.
set -euo pipefail
dir="${1:-/tmp/bigcode-vscode-e2e}"
mkdir -p "$dir" && cd "$dir"
npm install --no-audit --no-fund --ignore-scripts code-server@4.99.4 playwright-core@1.65.1
npm rebuild argon2
cd node_modules/code-server/lib/vscode
npm install --unsafe-perm --omit=dev --ignore-scripts --no-audit --no-fund
mkdir -p node_modules/@vscode/ripgrep/bin
cp "$(command -v rg)" node_modules/@vscode/ripgrep/bin/rg
npm_config_yes=true npm rebuild @vscode/spdlog @vscode/deviceid kerberos native-watchdog node-pty
ln -sfn node_modules node_modules.asar
(cd extensions && npm install --unsafe-perm --omit=dev --ignore-scripts --no-audit --no-fund)
echo "code-server ready in $dir"
