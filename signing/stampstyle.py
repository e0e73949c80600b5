"""The seal as it appears in a PDF: the bitmap encoded once per seal, reused per document.

pyHanko's stock ``PdfImage`` caches its image XObject per writer, so every new document
splits the alpha channel and deflates the whole bitmap again (about 21 ms for a 600-dpi
seal, REPORT §3). A PDF object cannot be shared between two files, but its encoded bytes
can: the colour and alpha planes are deflated once here and written per document as
``StreamObject(encoded_data=...)``, a memory copy.
"""

from __future__ import annotations

import io
import threading
import zlib
from dataclasses import dataclass, field
from typing import Any

from PIL import Image
from pyhanko.pdf_utils import generic, layout
from pyhanko.pdf_utils.content import ResourceType
from pyhanko.pdf_utils.generic import pdf_name
from pyhanko.pdf_utils.writer import BasePdfFileWriter
from pyhanko.stamp import BaseStampStyle
from pyhanko.stamp.base import BaseStamp

__all__ = ["PreEncodedImage", "SealArtwork", "SealStampStyle", "pdf_number"]


def pdf_number(value: float) -> bytes:
    """A number for a content stream: at most three decimals, no trailing zeros."""
    text = f"{value:.3f}".rstrip("0").rstrip(".")
    return (text if text not in ("", "-0") else "0").encode("ascii")


@dataclass(frozen=True)
class PreEncodedImage:
    """An RGBA bitmap as ready-to-write /FlateDecode image and /SMask streams."""

    width: int
    height: int
    rgb_deflated: bytes
    alpha_deflated: bytes

    @classmethod
    def from_image(cls, image: Image.Image, *, level: int = 6) -> PreEncodedImage:
        """Encode once; level 9 costs five times as long and saves about 3 % (REPORT §1)."""
        rgba = image.convert("RGBA")
        alpha = zlib.compress(rgba.getchannel("A").tobytes(), level)
        rgb = zlib.compress(rgba.convert("RGB").tobytes(), level)
        return cls(rgba.width, rgba.height, rgb, alpha)

    def _stream(self, data: bytes, colour_space: str) -> generic.StreamObject:
        number: Any = generic.NumberObject
        return generic.StreamObject(
            {
                pdf_name("/Type"): pdf_name("/XObject"),
                pdf_name("/Subtype"): pdf_name("/Image"),
                pdf_name("/Width"): number(self.width),
                pdf_name("/Height"): number(self.height),
                pdf_name("/ColorSpace"): pdf_name(colour_space),
                pdf_name("/BitsPerComponent"): number(8),
                pdf_name("/Filter"): pdf_name("/FlateDecode"),
            },
            encoded_data=data,
        )

    def add_to(self, writer: BasePdfFileWriter) -> generic.IndirectObject:
        """Write the image and its soft mask into ``writer``; return the image reference."""
        image = self._stream(self.rgb_deflated, "/DeviceRGB")
        image[pdf_name("/SMask")] = writer.add_object(
            self._stream(self.alpha_deflated, "/DeviceGray"))
        return writer.add_object(image)


class SealArtwork:
    """One seal image, pre-encoded whole and, on demand, cut into cross-page strips."""

    def __init__(self, png: bytes, *, dpi: float = 600.0, max_dpi: float = 300.0) -> None:
        with Image.open(io.BytesIO(png)) as opened:
            rgba = opened.convert("RGBA")
            dpi = float(opened.info.get("dpi", (dpi, dpi))[0]) or dpi
        # The physical size the image was drawn for (600 dpi by default): a 42 mm seal is
        # 119 pt wide on paper whatever the pixel count.
        self.width_pt = rgba.width / dpi * 72.0
        self.height_pt = rgba.height / dpi * 72.0
        if dpi > max_dpi:
            # 300 dpi prints sharply and quarters what every sealed document carries
            # (a 42 mm seal: about 60 KB instead of 220 KB).
            scale = max_dpi / dpi
            rgba = rgba.resize((max(1, round(rgba.width * scale)),
                                max(1, round(rgba.height * scale))), Image.Resampling.LANCZOS)
        self._rgba = rgba
        self.whole = PreEncodedImage.from_image(self._rgba)
        self._strips: dict[int, list[PreEncodedImage]] = {}
        self._lock = threading.Lock()

    def strips(self, count: int) -> list[PreEncodedImage]:
        """The image cut into ``count`` vertical strips, left to right (cached per count)."""
        with self._lock:
            cached = self._strips.get(count)
            if cached is None:
                width, height = self._rgba.size
                edges = [round(i * width / count) for i in range(count + 1)]
                cached = [
                    PreEncodedImage.from_image(
                        self._rgba.crop((edges[i], 0, max(edges[i + 1], edges[i] + 1), height)))
                    for i in range(count)
                ]
                self._strips[count] = cached
            return cached


class _SealStamp(BaseStamp):
    """The seal image fitted into the widget box, centred, aspect ratio kept."""

    def __init__(self, writer: BasePdfFileWriter, style: SealStampStyle,
                 box: layout.BoxConstraints) -> None:
        super().__init__(writer=writer, style=style, box=box)

    def render(self) -> bytes:
        style: SealStampStyle = self.style
        image = style.artwork.whole
        assert self.writer is not None
        self.set_resource(ResourceType.XOBJECT, pdf_name("/Seal"), image.add_to(self.writer))
        width, height = float(self.box.width), float(self.box.height)
        scale = min(width / image.width, height / image.height)
        draw_w, draw_h = image.width * scale, image.height * scale
        x, y = (width - draw_w) / 2, (height - draw_h) / 2
        return b"q %s 0 0 %s %s %s cm /Seal Do Q" % (
            pdf_number(draw_w), pdf_number(draw_h), pdf_number(x), pdf_number(y))


@dataclass(frozen=True)
class SealStampStyle(BaseStampStyle):
    """pyHanko stamp style for an image-only seal: no border, no text, fully opaque."""

    artwork: SealArtwork = field(default=None)  # type: ignore[assignment]
    border_width: int = 0
    background_opacity: float = 1.0

    def create_stamp(self, writer: BasePdfFileWriter, box: layout.BoxConstraints,
                     text_params: dict[str, object]) -> _SealStamp:
        """A stamp drawing this seal into ``box``."""
        return _SealStamp(writer, self, box)
