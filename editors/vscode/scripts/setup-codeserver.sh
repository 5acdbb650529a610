#!/usr/bin/env bash
# Installs code-server 4.100.3 (VS Code 1.100.3, the newest line that runs on Node 20) from the
# npm registry into DIR, so the tests run the extension in a real VS Code extension host.
# VS Code itself cannot be downloaded here, and @vscode/test-electron fetches it at run time.
#
#   editors/vscode/scripts/setup-codeserver.sh DIR
#
# Idempotent: a DIR whose install finished (DIR/.setup-done) is reused as it is.
# Needs Node 20 + npm and the Debian packages ripgrep libkrb5-dev pkg-config g++ make.
#
# code-server's own post-install step is skipped (--ignore-scripts): it downloads ripgrep from
# GitHub, which is not reachable; the native modules VS Code needs are rebuilt here instead and
# Debian's rg is put where VS Code looks for its bundled one.
set -euo pipefail
dir=${1:?usage: setup-codeserver.sh DIR}
version=4.100.3
mkdir -p "$dir"
cd "$dir"
if [ -x node_modules/.bin/code-server ] && [ -f .setup-done ] \
   && [ "$(cat .setup-done)" = "$version" ]; then
  exit 0
fi
rm -f .setup-done
command -v rg >/dev/null || { echo "setup-codeserver: ripgrep (rg) is needed" >&2; exit 2; }

# node-pty's install runs `npx node-gyp`, which must not stop to ask.
export npm_config_yes=true npm_config_audit=false npm_config_fund=false
[ -f package.json ] || echo '{"name":"kernelbridge-codeserver","private":true}' > package.json
npm install --ignore-scripts --loglevel=error "code-server@$version"
npm rebuild --loglevel=error argon2

vscode=node_modules/code-server/lib/vscode
(
  cd "$vscode"
  npm install --omit=dev --ignore-scripts --loglevel=error
  npm rebuild --loglevel=error kerberos native-watchdog node-pty @parcel/watcher \
    @vscode/deviceid @vscode/spdlog
)
test -f "$vscode/node_modules/node-pty/build/Release/pty.node" \
  || { echo "setup-codeserver: node-pty did not build" >&2; exit 1; }
mkdir -p "$vscode/node_modules/@vscode/ripgrep/bin"
cp "$(command -v rg)" "$vscode/node_modules/@vscode/ripgrep/bin/rg"
(
  cd "$vscode"
  # The release layout code-server expects, which the npm package leaves to its post-install.
  ln -sfn node_modules node_modules.asar
  ln -sfn code-linux.sh bin/remote-cli/code-server
  ln -sfn browser-linux.sh bin/helpers/browser.sh
  cd extensions && npm install --omit=dev --loglevel=error
)
echo "$version" > .setup-done
node_modules/.bin/code-server --version
