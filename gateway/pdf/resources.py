"""Files the certificates are made of, shipped inside the package: fonts and colour profile.

Nothing is looked up on the machine (no system font directories): a gateway installed with pip
renders the same certificates everywhere. `check()` runs before serving, so that a damaged
installation stops the start-up with one sentence instead of failing every PDF job later.
Provenance and licences: gateway/pdf/fontfiles/README.md, gateway/pdf/colour/README.md.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path
from typing import Final

from gateway.errors import InstallationError

PACKAGE: Final = "gateway.pdf"
FONT_DIR: Final = "fontfiles"
COLOUR_DIR: Final = "colour"
FONT_FILES: Final = {
    ("sans", ""): "DejaVuSans.ttf",
    ("sans", "B"): "DejaVuSans-Bold.ttf",
    ("mono", ""): "DejaVuSansMono.ttf",
    ("arabic", ""): "NotoNaskhArabic-Regular.ttf",
    ("arabic", "B"): "NotoNaskhArabic-Bold.ttf",
}
SRGB_PROFILE: Final = "sRGB2014.icc"  # ICC sRGB v2 (IEC 61966-2-1), the PDF/A output intent


def _packaged(directory: str, name: str) -> Path:
    return Path(str(resources.files(PACKAGE).joinpath(directory, name)))


def font_paths() -> dict[tuple[str, str], Path]:
    """Path of every font the certificates draw with, by (family, style)."""
    return {key: _packaged(FONT_DIR, name) for key, name in FONT_FILES.items()}


def srgb_profile() -> bytes:
    """The sRGB ICC profile embedded as every certificate's PDF/A output intent."""
    check()
    return _packaged(COLOUR_DIR, SRGB_PROFILE).read_bytes()


def missing() -> list[Path]:
    """The shipped files that are not where the package keeps them (empty when installed right)."""
    wanted = [*font_paths().values(), _packaged(COLOUR_DIR, SRGB_PROFILE)]
    return [path for path in wanted if not path.is_file()]


def check() -> None:
    """Refuse, in one sentence, to go on without a file the certificates need."""
    absent = missing()
    if absent:
        names = ", ".join(path.name for path in absent)
        raise InstallationError(
            f"the PDF certificates cannot be made: {names} missing from "
            f"{absent[0].parent} (the lre-gateway package ships them: reinstall it)"
        )
