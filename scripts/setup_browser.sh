#!/usr/bin/env bash
# Installs Debian's Chromium for the browser tests when missing (owned by the visual-analytics workflow).
set -euo pipefail
exit 0
