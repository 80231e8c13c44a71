"""The code version written into results names the commit, and a study on a kept pickle names both codes."""

from __future__ import annotations

import subprocess

from core.provenance import CHECKOUT, code_version, code_versions


def test_code_version_names_the_checked_out_commit():
    sha = subprocess.run(["git", "-C", str(CHECKOUT), "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    # outside a git checkout (an unpacked source tree) the version is the package version alone
    assert code_version().endswith(f"+{sha}") if sha else "+" not in code_version()


def test_study_on_a_pickle_of_other_code_names_both_versions():
    assert code_versions(code_version()) == f"code {code_version()}"
    assert code_versions("0.1.0+0000000") == f"code 0.1.0+0000000 (processing), {code_version()} (later steps)"
