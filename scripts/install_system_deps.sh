#!/usr/bin/env bash
# System packages the report tests need: Debian's chromium (headless rendering of the HTML report)
# and a CJK font (fonts-noto-cjk: "Noto Sans CJK SC", used by the charts and the page).
# Idempotent: does nothing when both are already installed.
set -euo pipefail

need=()
[ -x /usr/bin/chromium ] || need+=(chromium)
if ! fc-list 2>/dev/null | grep -qi "Noto Sans CJK"; then
    [ -d /usr/share/fonts/opentype/noto ] && ls /usr/share/fonts/opentype/noto/NotoSansCJK* >/dev/null 2>&1 \
        || need+=(fonts-noto-cjk)
fi
if [ ${#need[@]} -eq 0 ]; then
    echo "install_system_deps: chromium and fonts-noto-cjk already installed"
    exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
        echo "install_system_deps: need root (or sudo) to install: ${need[*]}" >&2
        exit 1
    fi
fi
echo "install_system_deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update
$SUDO apt-get install -y --no-install-recommends chromium fonts-noto-cjk
