"""The command line and the SMTP processes start light: a command that reads or changes the
installation, or a process that serves submission, imports neither the web and the scheduler
nor the certificate renderer (`serve` imports them in its main process when it runs), nor the
schema migrations (alembic: imported when `initialise` brings the database up to date). The main
process hands certificates to the certificate processes: it imports neither the renderer
(fpdf2, fontTools) nor the PAdES sealer; their forkserver preloads both. Nor does it import
pyHanko's validation until a proof is uploaded to /verify."""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = (
    "gateway.app",
    "gateway.pdf",
    "gateway.web",
    "gateway.scheduler",
    "aiohttp",
    "fpdf",
    "pyhanko",
    "alembic",
)


def imported_by(module: str) -> list[str]:
    """Every module a fresh interpreter holds once it has imported `module`."""
    return subprocess.run(
        [sys.executable, "-c", f"import sys, {module}; print(*sorted(sys.modules))"],
        capture_output=True,
        check=True,
        text=True,
    ).stdout.split()


@pytest.mark.parametrize(
    ("module", "runs"),
    [
        ("gateway.cli", "gateway.trust"),  # the anchors `verify` reads, imported at once
        ("gateway.submission", "gateway.smtp_in.server"),  # what an SMTP process serves
    ],
)
def test_neither_the_web_nor_the_renderer_is_imported(module: str, runs: str) -> None:
    listed = imported_by(module)
    assert {module, runs} <= set(listed)
    assert [name for name in listed if name.startswith(HEAVY)] == []


def test_the_command_line_starts_without_the_database_layer() -> None:
    """`lre-gateway verify` (a verifier, not an operator) and `--help` never touch a database:
    SQLAlchemy and the stores are imported by the commands that use the installation."""
    listed = imported_by("gateway.cli")
    database = ("sqlalchemy", "gateway.storage", "gateway.startup", "gateway.audit")
    assert [name for name in listed if name.startswith(database)] == []


def test_the_main_process_imports_neither_the_renderer_nor_the_sealer() -> None:
    listed = set(imported_by("gateway.app"))
    assert {"gateway.pdf.maker", "gateway.pdf.jobs", "gateway.scheduler"} <= listed
    assert {"gateway.pdf.render", "gateway.pdf.seal", "gateway.pdf.fonts"}.isdisjoint(listed)
    assert not [name for name in listed if name.startswith(("fpdf", "fontTools", "pyhanko"))]


def test_the_certificate_processes_preload_the_renderer_and_the_sealer() -> None:
    from gateway.pdf.maker import PRELOAD

    listed = set(imported_by(", ".join(PRELOAD)))  # what their forkserver holds before a fork
    assert {"gateway.pdf.render", "gateway.pdf.seal", "fpdf", "pyhanko.sign.signers"} <= listed
