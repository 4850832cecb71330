"""The command line starts light: a command that reads or changes the installation does not
import the gateway's servers nor its certificate renderer (`serve` imports them when it runs)."""

from __future__ import annotations

import subprocess
import sys

HEAVY = ("gateway.app", "gateway.pdf.render", "gateway.smtp_in", "aiohttp", "fpdf", "pyhanko")


def test_the_command_line_imports_neither_the_servers_nor_the_renderer() -> None:
    listed = subprocess.run(
        [sys.executable, "-c", "import sys, gateway.cli; print(*sorted(sys.modules))"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split()
    assert "gateway.cli" in listed
    assert "gateway.startup" in listed  # what `init` runs, imported at once
    loaded = [name for name in listed if name.startswith(HEAVY)]
    assert loaded == []
