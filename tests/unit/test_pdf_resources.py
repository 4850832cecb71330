"""The certificates' fonts and colour profile ship with the gateway, and their absence is said.

Each test runs a real process in a private mount namespace (`unshare --mount`, root as in CI)
where a directory is hidden under an empty tmpfs: the machine's font directories, to show a
certificate needs none of them, or the package's own font directory, to show `lre-gateway
serve` then refuses to start with one sentence.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import textwrap
import unicodedata
from pathlib import Path

import pikepdf
import pytest

import gateway.pdf
from gateway.pdf.resources import FONT_FILES

PACKAGE_FONTS = Path(gateway.pdf.__file__).parent / "fontfiles"
SYSTEM_FONTS = Path("/usr/share/fonts")
LRE_GATEWAY = str(Path(sys.executable).with_name("lre-gateway"))


def _hidden(
    directory: Path, *command: str, cwd: Path, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run `command` with `directory` hidden under an empty tmpfs, in its own mount namespace."""
    if not directory.is_dir():  # nothing to hide: the machine has no such directory at all
        wrapper = ["sh", "-c", 'exec "$@"']
    elif os.geteuid() != 0 or shutil.which("unshare") is None:
        pytest.skip("needs root and unshare for a private mount namespace (CI has both)")
    else:
        mount = 'mount -t tmpfs none "$0" && exec "$@"'
        wrapper = ["unshare", "--mount", "--propagation", "private", "sh", "-c", mount]
    return subprocess.run(
        [*wrapper, str(directory), *command],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        check=False,
        env={**os.environ, "LRE_GATEWAY_CONFIG": ""},
    )


RENDER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    from tests.support.certificates import record
    from gateway.pdf.facts import CertificateFacts
    from gateway.pdf.render import CertificateRenderer
    from zoneinfo import ZoneInfo

    fonts = Path("/usr/share/fonts")
    assert not fonts.exists() or not any(fonts.iterdir()), "the system fonts are still visible"
    renderer = CertificateRenderer()
    for language in ("fr", "ar"):
        facts = CertificateFacts(
            record=record(sender_name="Ωμέγα محمد"), xml=b"<Evidence/>", p7s=b"0",
            provider_name="LRE Gateway", public_url="https://lre.localhost",
            zone=ZoneInfo("Africa/Casablanca"), language=language,
        )
        Path(sys.argv[1], language + ".pdf").write_bytes(renderer.render(facts))
    """
)


def test_a_certificate_renders_without_the_machines_fonts(tmp_path: Path) -> None:
    """With /usr/share/fonts empty, French and Arabic certificates render with the shipped fonts."""
    repo = Path(__file__).resolve().parents[2]
    done = _hidden(SYSTEM_FONTS, sys.executable, "-c", RENDER, str(tmp_path), cwd=repo)
    assert done.returncode == 0, done.stderr
    expected = {
        "fr": ("Preuve de dépôt", ("DejaVuSans", "DejaVuSansMono")),
        "ar": ("إثبات الإيداع", ("NotoNaskhArabic", "DejaVuSansMono")),
    }
    for language, (title, families) in expected.items():
        pdf = tmp_path / f"{language}.pdf"
        with pikepdf.open(pdf) as document:
            assert document.open_metadata().pdfa_status == "3B"
            fonts = " ".join(
                str(font.BaseFont) for font in document.pages[0].Resources.Font.values()
            )
        assert all(family in fonts for family in families), fonts
        out = subprocess.run(["pdftotext", str(pdf), "-"], capture_output=True, check=True)
        # without the bidi controls pdftotext puts around right-to-left runs, in NFC
        text = "".join(c for c in out.stdout.decode() if unicodedata.category(c) != "Cf")
        text = unicodedata.normalize("NFC", text)
        assert title in text
        assert "Ωμέγα" in text


def test_serve_refuses_to_start_without_the_packaged_fonts(tmp_path: Path) -> None:
    """A damaged installation stops `lre-gateway serve` at once, in a sentence naming the files."""
    done = _hidden(PACKAGE_FONTS, LRE_GATEWAY, "serve", cwd=tmp_path, timeout=60)
    assert done.returncode == 2, done.stderr
    lines = [line for line in done.stderr.splitlines() if "cannot start" in line]
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("lre-gateway cannot start: the PDF certificates cannot be made: ")
    for name in FONT_FILES.values():
        assert name in lines[0]
    assert "reinstall" in lines[0]
    assert "Traceback" not in done.stderr
    assert "listening" not in done.stderr
