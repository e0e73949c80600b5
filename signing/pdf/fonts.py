"""Finding the CJK fonts on this machine.

Seal images use a Song (serif) face, as physical seals do; licence PDFs use a TrueType
face that PDF embedding can subset (CFF-based Noto CJK cannot be subset by our writer).
Both are configurable; these are the Debian defaults.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..errors import SigningError

__all__ = ["FontFace", "pdf_font", "seal_font"]


@dataclass(frozen=True)
class FontFace:
    """A font file and the face index inside a collection."""

    path: Path
    index: int = 0


_SEAL_CANDIDATES = (
    FontFace(Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Bold.ttc"), 2),
    FontFace(Path("/usr/share/fonts/opentype/noto/NotoSerifCJK-Regular.ttc"), 2),
    FontFace(Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),
    FontFace(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
)
_PDF_CANDIDATES = (
    FontFace(Path("/usr/share/fonts/truetype/wqy/wqy-microhei.ttc"), 0),
    FontFace(Path("/usr/share/fonts/truetype/arphic/uming.ttc"), 0),
)


def _first(candidates: tuple[FontFace, ...], what: str, package: str) -> FontFace:
    for face in candidates:
        if face.path.is_file():
            return face
    raise SigningError(f"no {what} font found", hint=f"install the Debian package {package}")


def seal_font() -> FontFace:
    """The Song-style face for seal images (Noto Serif CJK SC, else a fallback)."""
    return _first(_SEAL_CANDIDATES, "CJK serif", "fonts-noto-cjk")


def pdf_font() -> FontFace:
    """The TrueType face embedded (as a subset) in licence PDFs."""
    return _first(_PDF_CANDIDATES, "CJK TrueType", "fonts-wqy-microhei")
