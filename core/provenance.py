"""Which code made an output: the version string written into every result (docs/output.md)."""

from __future__ import annotations

import subprocess
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parents[1]
"""The directory above the ``core`` package: the repository root in a git checkout."""


def code_version() -> str:
    """Package version and, in a git checkout, the short commit: ``0.1.0+3a7d46a``."""
    try:
        from importlib.metadata import version

        v = version("belle-dark-sector")
    except Exception:
        v = "unknown"
    try:
        sha = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    except OSError:
        sha = ""
    return f"{v}+{sha}" if sha else v


def code_versions(processing: str) -> str:
    """The code of a study in words: ``processing`` (the version in the histogram pickle) and, when the later steps
    (fits, training, limits) ran on other code, that one too, so a rerun on a kept pickle says so."""
    current = code_version()
    return f"code {processing}" if processing == current else f"code {processing} (processing), {current} (later steps)"
