"""Seal images: the red round organisation seal, the square name seal, uploaded signatures.

Round seals follow the physical rules electronic seals imitate (STANDARDS §4): round and
red; a five-pointed star in the centre; the organisation's full name along the upper arc,
left to right, in a Song face; the purpose (e.g. 审批专用章) as a horizontal line under the
star; the 13-digit seal code along the bottom edge. Diameter by organisation level
(default 42 mm), border about 1.2 mm, star about a third of the diameter. Images are
transparent PNGs at print resolution (600 dpi by default).
"""

from __future__ import annotations

import enum
import io
import math
from dataclasses import dataclass
from functools import cache

from PIL import Image, ImageDraw, ImageFont

from .errors import BadImageError
from .pdf.fonts import FontFace, seal_font

__all__ = [
    "SEAL_RED",
    "NameCell",
    "OrganisationLevel",
    "RoundSealSpec",
    "name_seal_layout",
    "name_seal_text",
    "render_name_cells",
    "render_name_seal",
    "render_round_seal",
    "validate_signature_image",
]

SEAL_RED = (230, 0, 18)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


class OrganisationLevel(enum.StrEnum):
    """Seal diameter rules by the level of the organisation (STANDARDS §4)."""

    STATE_COUNCIL = "state-council"
    PROVINCE = "province"
    CITY = "city"
    COUNTY = "county"
    TOWNSHIP = "township"
    ENTERPRISE = "enterprise"

    @property
    def diameter_mm(self) -> float:
        """Diameter in millimetres."""
        return {
            OrganisationLevel.STATE_COUNCIL: 60.0,
            OrganisationLevel.PROVINCE: 50.0,
            OrganisationLevel.CITY: 45.0,
            OrganisationLevel.COUNTY: 45.0,
            OrganisationLevel.TOWNSHIP: 42.0,
            OrganisationLevel.ENTERPRISE: 42.0,
        }[self]


@dataclass(frozen=True)
class RoundSealSpec:
    """Everything that decides how a round seal looks."""

    org_name: str
    purpose: str = ""
    seal_code: str = ""
    diameter_mm: float = 42.0
    dpi: int = 600
    border_mm: float = 1.2

    @property
    def size_px(self) -> int:
        """Side of the square image in pixels."""
        return round(self.diameter_mm / 25.4 * self.dpi)


@cache
def _font(face: FontFace, size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(face.path), size, index=face.index)


def _glyph(char: str, font: ImageFont.FreeTypeFont, width_scale: float = 1.0) -> Image.Image:
    """One character as a red-on-transparent tile, optionally condensed horizontally."""
    left, _top, right, _bottom = font.getbbox(char)
    ascent, descent = font.getmetrics()
    width = max(1, round(right - left))
    height = round(ascent + descent)
    tile = Image.new("RGBA", (width + 4, height + 4), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((2 - round(left), 2), char, font=font, fill=(*SEAL_RED, 255))
    if width_scale < 0.999:
        tile = tile.resize((max(1, round(tile.width * width_scale)), tile.height),
                           Image.Resampling.LANCZOS)
    return tile


def _place_on_arc(
    canvas: Image.Image,
    text: str,
    font: ImageFont.FreeTypeFont,
    *,
    centre: float,
    radius: float,
    middle_deg: float,
    max_span_deg: float,
    outward: bool,
) -> None:
    """Lay ``text`` along a circle, left to right as seen, centred on ``middle_deg``.

    Angles are compass-like in image space: 0° points right, 90° down. ``outward`` puts
    the characters' tops towards the rim (upper arc); otherwise towards the centre
    (bottom arc, read upright).
    """
    if not text:
        return
    tiles = [_glyph(char, font) for char in text]
    gap = font.size * 0.08
    natural = sum(tile.width + gap for tile in tiles) - gap
    span_rad = natural / radius
    scale = 1.0
    if math.degrees(span_rad) > max_span_deg:
        # Real seals condense long names horizontally rather than shrink them.
        scale = max_span_deg / math.degrees(span_rad)
        tiles = [_glyph(char, font, scale) for char in text]
        span_rad = math.radians(max_span_deg)
    advances = [tile.width + gap * scale for tile in tiles]
    total = sum(advances) - gap * scale
    # Upper arc: left to right is clockwise in image space (increasing angle);
    # bottom arc read upright: left to right is counter-clockwise (decreasing angle).
    direction = 1.0 if outward else -1.0
    angle = math.radians(middle_deg) - direction * (total / radius) / 2
    for tile, advance in zip(tiles, advances, strict=True):
        half = (tile.width / 2) / radius
        theta = angle + direction * half
        x = centre + radius * math.cos(theta)
        y = centre + radius * math.sin(theta)
        # Rotate so the tile's up vector points outward (or inward).
        rotation = -math.degrees(theta) - 90 if outward else -math.degrees(theta) + 90
        rotated = tile.rotate(rotation, resample=Image.Resampling.BICUBIC, expand=True)
        canvas.alpha_composite(rotated, (round(x - rotated.width / 2),
                                         round(y - rotated.height / 2)))
        angle += direction * advance / radius


def _star(draw: ImageDraw.ImageDraw, centre: float, radius: float) -> None:
    points = []
    for k in range(10):
        r = radius if k % 2 == 0 else radius * 0.382
        theta = math.radians(-90 + k * 36)
        points.append((centre + r * math.cos(theta), centre + r * math.sin(theta)))
    draw.polygon(points, fill=(*SEAL_RED, 255))


def _png(image: Image.Image, dpi: int) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", dpi=(dpi, dpi))
    return buffer.getvalue()


def render_round_seal(spec: RoundSealSpec, *, face: FontFace | None = None) -> bytes:
    """A round organisation seal as a transparent PNG."""
    face = face or seal_font()
    size = spec.size_px
    px_per_mm = spec.dpi / 25.4
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    draw = ImageDraw.Draw(canvas)
    centre = size / 2
    border = max(2, round(spec.border_mm * px_per_mm))
    outer = size / 2 - 2
    draw.ellipse((centre - outer, centre - outer, centre + outer, centre + outer),
                 outline=(*SEAL_RED, 255), width=border)
    diameter = spec.diameter_mm
    _star(draw, centre, diameter / 6 * px_per_mm)

    name_size = round(diameter * 0.155 * px_per_mm)
    name_radius = outer - border - name_size * 0.62
    _place_on_arc(canvas, spec.org_name, _font(face, name_size), centre=centre,
                  radius=name_radius, middle_deg=-90, max_span_deg=250, outward=True)

    if spec.purpose:
        purpose_size = round(diameter * 0.105 * px_per_mm)
        font = _font(face, purpose_size)
        y = centre + diameter / 6 * px_per_mm * 1.2 + purpose_size * 0.55
        chord = 2 * math.sqrt(max(0.0, (outer - border) ** 2 - (y - centre) ** 2)) * 0.8
        line = Image.new("RGBA", (size, purpose_size * 2), (0, 0, 0, 0))
        ImageDraw.Draw(line).text((0, 0), spec.purpose, font=font, fill=(*SEAL_RED, 255))
        bbox = line.getbbox()
        if bbox is not None:
            line = line.crop(bbox)
            if line.width > chord:
                line = line.resize((round(chord), line.height), Image.Resampling.LANCZOS)
            canvas.alpha_composite(line, (round(centre - line.width / 2),
                                          round(y - line.height / 2)))

    if spec.seal_code:
        code_size = round(diameter * 0.06 * px_per_mm)
        code_radius = outer - border - code_size * 0.75
        _place_on_arc(canvas, spec.seal_code, _font(face, code_size), centre=centre,
                      radius=code_radius, middle_deg=90, max_span_deg=110, outward=False)
    return _png(canvas, spec.dpi)


# Two-character surnames (复姓) that a three-character name may start with: the surname
# then fills the right column and the one-character given name the left.
_COMPOUND_SURNAMES = frozenset({
    "欧阳", "司马", "上官", "诸葛", "东方", "皇甫", "尉迟", "公孙", "慕容", "长孙", "宇文",
    "司徒", "夏侯", "令狐", "轩辕", "端木", "独孤", "南宫", "西门", "百里", "呼延", "澹台",
    "公羊", "太史", "申屠", "闻人", "万俟", "赫连", "钟离", "宗政", "濮阳", "淳于", "单于",
})


@dataclass(frozen=True)
class NameCell:
    """One character of a name seal and its cell, as fractions of the seal's inner square
    (left, top, right, bottom; 0 to 1, from the top-left corner)."""

    char: str
    box: tuple[float, float, float, float]


def name_seal_layout(text: str) -> tuple[NameCell, ...]:
    """Lay out 2 to 4 characters as a square name seal is cut: two columns read right to
    left, each top to bottom.

    Four characters: the first two in the right column, the last two in the left (李建 |
    国印 for 李建国印). Three: the surname alone in the right column, the given name in
    the left (a two-character surname such as 欧阳 takes the right column and the given
    name the left). Two: one character per column. A character alone in a column is
    drawn elongated to fill it, as engravers do.
    """
    text = text.strip()
    if not 2 <= len(text) <= 4:
        raise BadImageError(
            f"a name seal holds 2 to 4 characters; {text!r} has {len(text)}",
            hint="upload a handwritten signature image for other names",
        )
    if len(text) == 4 or (len(text) == 3 and text[:2] in _COMPOUND_SURNAMES):
        right, left = text[:2], text[2:]
    else:
        right, left = text[:1], text[1:]
    cells = []
    for column, chars in ((1, right), (0, left)):  # column 1 is the right-hand one
        for row, char in enumerate(chars):
            height = 1 / len(chars)
            cells.append(NameCell(char, (column / 2, row * height, (column + 1) / 2,
                                         (row + 1) * height)))
    return tuple(cells)


def name_seal_text(name: str, holder_name: str | None) -> str:
    """What a legal representative's name seal shows: its name (李建国印) when it has 2 to
    4 characters, else the holder's name."""
    name = name.strip()
    if 2 <= len(name) <= 4 or holder_name is None:
        return name
    return holder_name.strip()


def _draw_cell(canvas: Image.Image, cell: NameCell, inner: tuple[float, float, float],
               face: FontFace) -> None:
    """Draw one character into its cell: its em square scaled to the cell's width, then
    stretched to the cell's height (never the ink's own box, so 一 stays a stroke)."""
    origin_x, origin_y, side = inner
    left, top, right, bottom = cell.box
    gap = side * 0.03  # white between characters and columns
    width = max(1, round((right - left) * side - 2 * gap))
    height = max(1, round((bottom - top) * side - 2 * gap))
    font = _font(face, round(width * 1.08))  # CJK ink fills about 92 % of the em
    tile = Image.new("RGBA", (width, width), (0, 0, 0, 0))
    ImageDraw.Draw(tile).text((width / 2, width / 2), cell.char, font=font,
                              fill=(*SEAL_RED, 255), anchor="mm")
    if height != width:
        tile = tile.resize((width, height), Image.Resampling.LANCZOS)
    canvas.alpha_composite(tile, (round(origin_x + left * side + gap),
                                  round(origin_y + top * side + gap)))


def render_name_cells(cells: tuple[NameCell, ...], *, side_mm: float = 18.0, dpi: int = 600,
                      face: FontFace | None = None) -> bytes:
    """A square red seal with a border and ``cells`` drawn inside (see :func:`name_seal_layout`)."""
    face = face or seal_font()
    size = round(side_mm / 25.4 * dpi)
    canvas = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    border = max(2, round(0.9 / 25.4 * dpi))
    ImageDraw.Draw(canvas).rectangle((1, 1, size - 2, size - 2), outline=(*SEAL_RED, 255),
                                     width=border)
    padding = border + 4
    inner = (float(padding), float(padding), float(size - 2 * padding))
    for cell in cells:
        _draw_cell(canvas, cell, inner, face)
    return _png(canvas, dpi)


def render_name_seal(name: str, *, side_mm: float = 18.0, dpi: int = 600,
                     face: FontFace | None = None) -> bytes:
    """A square personal name seal (2 to 4 characters), read in columns right to left."""
    return render_name_cells(name_seal_layout(name), side_mm=side_mm, dpi=dpi, face=face)


def validate_signature_image(
    data: bytes, *, max_bytes: int = 2 * 1024 * 1024, max_pixels: int = 4_000_000
) -> bytes:
    """Check an uploaded seal or handwriting image and return it re-encoded.

    It must be a real PNG within the size and pixel limits, with an alpha channel that is
    actually used (the paper must show through). Re-encoding strips metadata and any
    bytes Pillow did not interpret, so nothing the uploader smuggled reaches a PDF.
    """
    if len(data) > max_bytes:
        raise BadImageError(f"the image is {len(data)} bytes; the limit is {max_bytes}")
    if not data.startswith(_PNG_MAGIC):
        raise BadImageError("the image is not a PNG file", hint="upload a transparent PNG")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            width, height = probe.size
            if width * height > max_pixels:
                raise BadImageError(
                    f"the image has {width}×{height} pixels; the limit is {max_pixels}"
                )
            probe.verify()
        with Image.open(io.BytesIO(data)) as image:
            image.load()
            has_alpha = image.mode in ("RGBA", "LA") or (
                image.mode == "P" and "transparency" in image.info
            )
            if not has_alpha:
                raise BadImageError(
                    "the image has no transparency; a seal or signature must let the page "
                    "show through", hint="export it as a PNG with an alpha channel",
                )
            rgba = image.convert("RGBA")
    except BadImageError:
        raise
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise BadImageError(f"the PNG cannot be read: {type(exc).__name__}") from None
    if min(rgba.size) < 32:
        raise BadImageError("the image is smaller than 32 pixels on a side")
    alpha_min, _ = rgba.getchannel("A").getextrema()
    if alpha_min == 255:
        raise BadImageError("the image's alpha channel is fully opaque; nothing is transparent")
    return _png(rgba, 600)
