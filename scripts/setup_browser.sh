#!/usr/bin/env bash
# Installs Debian's Chromium (for the app's browser tests) when missing and running as root.
# With CI=true a browser that is still missing afterwards is a failure, never a silent skip.
set -euo pipefail
browser=/usr/bin/chromium
if [ -x "$browser" ]; then
  exit 0
fi
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium fonts-dejavu-core
fi
if [ ! -x "$browser" ]; then
  msg="setup_browser: $browser is missing (install Debian's chromium package as root)"
  if [ "${CI:-}" = "true" ]; then echo "$msg" >&2; exit 1; fi
  echo "$msg; the browser tests will be skipped" >&2
fi
