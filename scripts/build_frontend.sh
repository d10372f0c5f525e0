#!/usr/bin/env bash
# Builds the app's front end (frontend/, TypeScript + Vite) into src/matsight/analytics/static/.
# Skips when the sources are unchanged since the last build (stamp file). Needs node >= 20 and npm.
set -euo pipefail
cd "$(dirname "$0")/.."
out=src/matsight/analytics/static
hash=$(cd frontend && cat package.json package-lock.json index.html vite.config.ts tsconfig.json $(find src -type f | sort) | sha1sum | cut -c1-16)
if [ -f "$out/.stamp" ] && [ "$(cat "$out/.stamp")" = "$hash" ] && [ -f "$out/index.html" ]; then
  exit 0
fi
if ! command -v npm >/dev/null; then
  echo "build_frontend: npm is missing; install Node.js >= 20 (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi
cd frontend
lock_hash=$(sha1sum package-lock.json | cut -c1-16)
if [ ! -f node_modules/.lock-stamp ] || [ "$(cat node_modules/.lock-stamp)" != "$lock_hash" ]; then
  # `npm install` (not `npm ci`): this npm rejects its own lock file in `ci` for rollup's optional
  # per-platform packages; with the lock file present it installs the locked versions.
  npm install --no-audit --no-fund --loglevel=error
  echo "$lock_hash" > node_modules/.lock-stamp
fi
npm run --silent build
echo "$hash" > "../$out/.stamp"
