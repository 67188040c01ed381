"""The README's Python example ("Use it from Python / TypeScript"), run verbatim."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

README = Path(__file__).resolve().parents[3] / "README.md"


def readme_example(lang: str) -> str:
    match = re.search(rf"<!-- sdk-example:{lang} -->\n```{lang}\n(.*?)\n```", README.read_text(), re.S)
    assert match, f"README.md has no <!-- sdk-example:{lang} --> block"
    return match.group(1)


def test_readme_python_example_runs(base_url: str) -> None:
    code = readme_example("python")
    out = subprocess.run([sys.executable, "-c", code], env={**os.environ, "CONFAB_URL": base_url},
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    lines = out.stdout.splitlines()
    assert lines[0].startswith("I am py_") and lines[1] == "got pong", out.stdout
