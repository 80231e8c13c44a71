"""What every benchmark records about the machine and the code it ran on."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

PACKAGES = ("numpy", "numba", "uproot", "awkward", "coffea")


def machine_info(cpu: int) -> dict:
    """CPU model, the core pinned to, git commit, Python and package versions, load average at start."""
    model = next((ln.split(":", 1)[1].strip() for ln in open("/proc/cpuinfo") if ln.startswith("model name")), "?")
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, cwd=Path(__file__).parent).stdout.strip()
    except OSError:
        commit = ""
    info = {"cpu_model": model, "cpus_online": os.cpu_count(), "pinned_to_cpu": cpu, "git_commit": commit, "python": platform.python_version()}
    for package in PACKAGES:
        try:
            info[package] = version(package)
        except PackageNotFoundError:
            info[package] = None
    info["load_average_at_start"] = os.getloadavg()
    return info
