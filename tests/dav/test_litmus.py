"""litmus, the WebDAV compliance suite (Debian package `litmus`), against /files/<user>/ over
HTTPS: every suite (basic, copymove, props, locks, http) passes, no test fails."""

from __future__ import annotations

import re
import shutil
import subprocess

from tests.dav.conftest import PASSWORDS


def test_litmus_passes_every_suite(dav, tmp_path):
    assert shutil.which("litmus"), "litmus is not installed (Debian package litmus)"
    dav.request("MKCOL", "/files/bob/litmus-home/", user="bob")
    result = subprocess.run(
        ["litmus", "-k", f"{dav.url}/files/bob/litmus-home/", "bob", PASSWORDS["bob"]],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)
    summaries = re.findall(r"<- summary for `(\w+)': of (\d+) tests run: (\d+) passed, "
                           r"(\d+) failed", result.stdout)
    print("\n".join(f"litmus {name}: {passed}/{run} passed" for name, run, passed, _ in
                    summaries))
    assert [s[0] for s in summaries] == ["basic", "copymove", "props", "locks", "http"], \
        result.stdout[-3000:]
    assert all(failed == "0" for *_, failed in summaries), result.stdout[-3000:]
    assert sum(int(passed) for _, _, passed, _ in summaries) >= 100
