"""The client README's examples run as written: its ```python blocks as one script, its ```console
commands (lines starting with `$ `) as one shell session, with the environment a user would have."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.e2e.conftest import Target, subscribe

ROOT = Path(__file__).resolve().parents[2]
READMES = [ROOT / "client" / "README.md", ROOT / "README.md"]
_BLOCK = re.compile(r"^```(?P<lang>\w+)\n(?P<body>.*?)^```$", re.MULTILINE | re.DOTALL)


def blocks(readme: Path, lang: str) -> list[str]:
    return [m["body"] for m in _BLOCK.finditer(readme.read_text()) if m["lang"] == lang]


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_the_readme_has_examples_of_both_kinds(readme: Path) -> None:
    assert len(blocks(readme, "python")) >= 1
    assert len(blocks(readme, "console")) >= 1


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_python_examples_run(target: Target, tmp_path: Path, readme: Path) -> None:
    script = "\n".join(blocks(readme, "python"))
    with subscribe(target, "Order") as subscription:
        env = target.environment() | {"QUEUE_URL": subscription.queue_url}
        done = subprocess.run(
            [sys.executable, "-c", script],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert "the stream moved on; it is at revision 3" in done.stdout
    assert "OrderPlaced" in done.stdout


@pytest.mark.parametrize("readme", READMES, ids=lambda p: str(p.relative_to(ROOT)))
def test_console_examples_run(target: Target, tmp_path: Path, readme: Path) -> None:
    commands = [
        line[2:]
        for block in blocks(readme, "console")
        for line in block.splitlines()
        if line.startswith("$ ")
    ]
    done = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", "\n".join(commands)],
        env=target.environment(),
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "imported 0 events into 1 stream (2 already there, 0 replayed)" in done.stdout
