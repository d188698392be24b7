"""Headless Chromium for the tests that look at pages as a person would (reports, Data Docs): Debian's `chromium`
(scripts/install_system_deps.sh) with the flags both use, and where the screenshots go."""

import shutil
from pathlib import Path

ARTIFACTS = Path(__file__).parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars", "--force-device-scale-factor=1",
]
