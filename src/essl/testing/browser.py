"""Render a page in headless Chromium (Debian's ``chromium``): screenshot + console lines."""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

__all__ = ["chromium_path", "screenshot"]

_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--enable-logging=stderr",
    "--v=0",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def screenshot(
    page: str | Path, png: str | Path, width: int = 1200, height: int = 2400, timeout: float = 120.0
) -> list[str]:
    """Screenshot ``page`` into ``png``; return the browser's console messages (errors of
    scripts, failed resource loads reported to the console...)."""
    exe = chromium_path()
    if exe is None:
        raise RuntimeError("chromium is not installed; scripts/setup installs Debian's chromium")
    with tempfile.TemporaryDirectory() as profile:
        proc = subprocess.run(
            [
                exe,
                *_FLAGS,
                f"--user-data-dir={profile}",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                Path(page).resolve().as_uri(),
            ],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
    if not Path(png).is_file():
        raise RuntimeError(
            f"chromium wrote no screenshot (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
        )
    return [line for line in proc.stderr.splitlines() if ":CONSOLE" in line]
