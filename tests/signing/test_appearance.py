"""Seal images (STANDARDS §4): round organisation seals, square name seals, uploads.

Round seals are red on a transparent background, sized by the organisation's level at
print resolution; name seals hold 2–4 characters; uploaded images must be real,
transparent PNGs within the size and pixel limits, and keep their transparency.
"""

from __future__ import annotations

import io
import os
from collections.abc import Iterable

import pytest
from PIL import Image, ImageChops, ImageDraw

from zhengyin.signing.appearance import (
    SEAL_RED,
    NameCell,
    OrganisationLevel,
    RoundSealSpec,
    name_seal_layout,
    render_name_cells,
    render_name_seal,
    render_round_seal,
    validate_signature_image,
)
from zhengyin.signing.errors import BadImageError

from ..support import ORG_NAME

PURPOSE = "审批专用章"
SEAL_CODE = "1101050012345"
MM_PER_INCH = 25.4


def _open(png: bytes) -> Image.Image:
    image = Image.open(io.BytesIO(png))
    image.load()
    return image


def _pixels(image: Image.Image) -> Iterable[tuple[int, int, int, int]]:
    rgba = image.convert("RGBA")
    for y in range(rgba.height):
        for x in range(rgba.width):
            yield rgba.getpixel((x, y))  # type: ignore[misc]


def _red_ink(image: Image.Image) -> int:
    """Opaque pixels of exactly the seal red."""
    return sum(1 for pixel in _pixels(image) if pixel == (*SEAL_RED, 255))


def _foreign_ink(image: Image.Image) -> list[tuple[int, int, int, int]]:
    """Visible pixels (alpha ≥ 16) that are not red."""
    return [p for p in _pixels(image)
            if p[3] >= 16 and not (p[0] >= 150 and p[1] <= 60 and p[2] <= 60)]


def _ink_outside_circle(image: Image.Image) -> int:
    """Largest alpha outside the circle inscribed in the square image."""
    outside = Image.new("L", image.size, 255)
    ImageDraw.Draw(outside).ellipse((0, 0, image.width - 1, image.height - 1), fill=0)
    alpha = image.getchannel("A")
    return ImageChops.multiply(alpha, outside).getextrema()[1]  # type: ignore[return-value]


def _band_alpha(image: Image.Image, top: float, bottom: float) -> Image.Image:
    """The alpha channel of a horizontal band (fractions of the height)."""
    return image.getchannel("A").crop((0, round(image.height * top), image.width,
                                       round(image.height * bottom)))


@pytest.fixture(scope="module")
def official_seal() -> Image.Image:
    """A township-sized (42 mm) approval seal with name, purpose and seal code."""
    return _open(render_round_seal(RoundSealSpec(ORG_NAME, PURPOSE, SEAL_CODE)))


# ----------------------------------------------------------------------------- round seals


def test_a_42_mm_seal_is_992_pixels_square_at_600_dpi(official_seal: Image.Image) -> None:
    assert round(42 / MM_PER_INCH * 600) == 992
    assert official_seal.size == (992, 992)


@pytest.mark.parametrize(("level", "expected_mm"), [
    (OrganisationLevel.STATE_COUNCIL, 60.0),
    (OrganisationLevel.PROVINCE, 50.0),
    (OrganisationLevel.CITY, 45.0),
    (OrganisationLevel.COUNTY, 45.0),
    (OrganisationLevel.TOWNSHIP, 42.0),
    (OrganisationLevel.ENTERPRISE, 42.0),
], ids=lambda value: value.value if isinstance(value, OrganisationLevel) else None)
def test_the_diameter_follows_the_organisation_level(level: OrganisationLevel,
                                                     expected_mm: float) -> None:
    assert level.diameter_mm == expected_mm


def test_the_state_council_seal_is_60_mm_at_print_resolution() -> None:
    spec = RoundSealSpec(ORG_NAME, PURPOSE, diameter_mm=OrganisationLevel.STATE_COUNCIL.diameter_mm)

    image = _open(render_round_seal(spec))

    assert image.size == (1417, 1417)  # 60 mm / 25.4 × 600 dpi
    assert image.size[0] > round(42 / MM_PER_INCH * 600)


def test_an_enterprise_seal_is_at_most_45_mm() -> None:
    assert OrganisationLevel.ENTERPRISE.diameter_mm <= 45.0


def test_the_pixel_size_follows_the_requested_resolution() -> None:
    image = _open(render_round_seal(RoundSealSpec(ORG_NAME, diameter_mm=42.0, dpi=300)))

    assert image.size == (496, 496)


def test_the_png_carries_its_print_resolution(official_seal: Image.Image) -> None:
    assert official_seal.format == "PNG"
    assert official_seal.info["dpi"] == pytest.approx((600, 600), abs=0.5)


def test_a_round_seal_has_an_alpha_channel(official_seal: Image.Image) -> None:
    assert official_seal.mode == "RGBA"


def test_the_corners_are_fully_transparent(official_seal: Image.Image) -> None:
    last = official_seal.width - 1
    for corner in ((0, 0), (last, 0), (0, last), (last, last)):
        assert official_seal.getpixel(corner)[3] == 0  # type: ignore[index]


def test_nothing_is_drawn_outside_the_ring(official_seal: Image.Image) -> None:
    assert _ink_outside_circle(official_seal) == 0


def test_the_seal_is_inked_in_red_only(official_seal: Image.Image) -> None:
    assert _red_ink(official_seal) > 0.05 * official_seal.width * official_seal.height
    assert _foreign_ink(official_seal) == []


def test_the_ring_and_the_star_are_solid_red(official_seal: Image.Image) -> None:
    size = official_seal.width
    border_px = round(1.2 / MM_PER_INCH * 600)
    ring_top = (size // 2, 2 + border_px // 2)
    ring_left = (2 + border_px // 2, size // 2)
    centre = (size // 2, size // 2)
    for point in (ring_top, ring_left, centre):
        assert official_seal.getpixel(point) == (*SEAL_RED, 255), point


def test_inside_the_ring_the_paper_shows_through(official_seal: Image.Image) -> None:
    # Between the star and the name arc, left of centre: no ink.
    size = official_seal.width
    assert official_seal.getpixel((round(size * 0.3), size // 2))[3] == 0  # type: ignore[index]


def test_the_seal_code_is_along_the_bottom_edge() -> None:
    without = _open(render_round_seal(RoundSealSpec(ORG_NAME, PURPOSE)))
    with_code = _open(render_round_seal(RoundSealSpec(ORG_NAME, PURPOSE, SEAL_CODE)))

    assert ImageChops.difference(_band_alpha(without, 0, 0.8),
                                 _band_alpha(with_code, 0, 0.8)).getbbox() is None
    assert ImageChops.difference(_band_alpha(without, 0.8, 1),
                                 _band_alpha(with_code, 0.8, 1)).getbbox() is not None


def test_the_purpose_is_a_line_under_the_star() -> None:
    without = _open(render_round_seal(RoundSealSpec(ORG_NAME)))
    with_purpose = _open(render_round_seal(RoundSealSpec(ORG_NAME, PURPOSE)))

    changed = ImageChops.difference(without.getchannel("A"), with_purpose.getchannel("A"))
    box = changed.getbbox()
    assert box is not None
    left, top, right, bottom = box
    size = without.width
    assert top > size * 0.6 and bottom < size * 0.85  # below the star, above the code
    assert right - left > 3 * (bottom - top)  # one horizontal line


def test_the_name_is_along_the_upper_arc() -> None:
    nameless = _open(render_round_seal(RoundSealSpec("", PURPOSE)))
    named = _open(render_round_seal(RoundSealSpec(ORG_NAME, PURPOSE)))

    changed = ImageChops.difference(nameless.getchannel("A"), named.getchannel("A"))
    box = changed.getbbox()
    assert box is not None
    assert box[1] < nameless.height * 0.15  # reaches up to the rim
    # Above the star, inside the ring: empty without a name, inked with one.
    size = named.width
    above_star = (round(size * 0.35), round(size * 0.1), round(size * 0.65), round(size * 0.3))
    assert nameless.getchannel("A").crop(above_star).getextrema()[1] == 0
    assert named.getchannel("A").crop(above_star).getextrema()[1] == 255


def test_a_long_name_stays_inside_the_ring() -> None:
    image = _open(render_round_seal(RoundSealSpec(
        "内蒙古自治区阿拉善盟额济纳旗人民政府办公室综合服务中心", "合同专用章", SEAL_CODE)))

    assert _ink_outside_circle(image) == 0
    assert _foreign_ink(image) == []


# ----------------------------------------------------------------------------- name seals


@pytest.mark.parametrize("name", ["李四", "张三丰", "欧阳修文"])
def test_a_name_seal_of_two_to_four_characters_is_a_square_red_png(name: str) -> None:
    image = _open(render_name_seal(name))

    assert image.format == "PNG" and image.mode == "RGBA"
    assert image.size == (425, 425)  # 18 mm at 600 dpi
    assert image.info["dpi"] == pytest.approx((600, 600), abs=0.5)
    assert _red_ink(image) > 0.05 * image.width * image.height
    assert _foreign_ink(image) == []


def test_a_name_seal_has_room_for_the_paper_to_show_through() -> None:
    image = _open(render_name_seal("张三丰"))

    alpha_min, alpha_max = image.getchannel("A").getextrema()
    assert (alpha_min, alpha_max) == (0, 255)


def test_surrounding_spaces_do_not_count_as_characters() -> None:
    assert _open(render_name_seal("  李四 ")).size == (425, 425)


@pytest.mark.parametrize("name", ["李", "欧阳修文字", "", "   "],
                         ids=["one", "five", "empty", "blank"])
def test_a_name_seal_refuses_other_lengths(name: str) -> None:
    with pytest.raises(BadImageError, match="2 to 4 characters") as raised:
        render_name_seal(name)
    assert raised.value.hint is not None and "upload" in raised.value.hint


# Where each character of a square name seal goes, as the seal trade cuts it: two columns
# read right to left, each top to bottom (issue 14: 李建国印 lost its 印).
NAME_LAYOUTS = [
    ("李建国印", {"李": "right top", "建": "right bottom", "国": "left top", "印": "left bottom"}),
    ("张三丰", {"张": "right whole", "三": "left top", "丰": "left bottom"}),
    ("欧阳修", {"欧": "right top", "阳": "right bottom", "修": "left whole"}),
    ("李四", {"李": "right whole", "四": "left whole"}),
]


def _region(where: str) -> tuple[float, float, float, float]:
    """The part of the inner square named ``where`` (left, top, right, bottom fractions)."""
    column, rows = where.split()
    x1, x2 = (0.5, 1.0) if column == "right" else (0.0, 0.5)
    y1, y2 = {"top": (0.0, 0.5), "bottom": (0.5, 1.0), "whole": (0.0, 1.0)}[rows]
    return x1, y1, x2, y2


@pytest.mark.parametrize(("name", "expected"), NAME_LAYOUTS, ids=[n for n, _ in NAME_LAYOUTS])
def test_a_name_seal_is_laid_out_in_columns_right_to_left(name: str,
                                                          expected: dict[str, str]) -> None:
    cells = name_seal_layout(name)

    assert {cell.char: cell.box for cell in cells} == {
        char: _region(where) for char, where in expected.items()}


def _ink_box(image: Image.Image, empty: Image.Image) -> tuple[int, int, int, int]:
    """Bounding box of what ``image`` draws beyond the empty seal (the border)."""
    drawn = ImageChops.subtract(image.getchannel("A"), empty.getchannel("A"))
    box = drawn.point(lambda alpha: 255 if alpha > 64 else 0).getbbox()
    assert box is not None, "nothing drawn"
    return box


@pytest.mark.parametrize(("name", "expected"), NAME_LAYOUTS, ids=[n for n, _ in NAME_LAYOUTS])
def test_each_character_is_drawn_in_its_place(name: str, expected: dict[str, str]) -> None:
    whole = _open(render_name_seal(name))
    empty = _open(render_name_cells(()))
    size = whole.width
    for cell in name_seal_layout(name):
        alone = _open(render_name_cells((cell,)))
        left, top, right, bottom = _ink_box(alone, empty)
        x1, y1, x2, y2 = _region(expected[cell.char])
        # Inside its half (and quarter) of the seal, and filling most of it.
        assert x1 * size - 1 <= left and right <= x2 * size + 1, cell.char
        assert y1 * size - 1 <= top and bottom <= y2 * size + 1, cell.char
        assert right - left > 0.5 * (x2 - x1) * size, cell.char
        assert bottom - top > 0.5 * (y2 - y1) * size, cell.char
        # The whole seal shows exactly this character there.
        region = (left, top, right, bottom)
        assert ImageChops.difference(whole.crop(region), alone.crop(region)).getbbox() is None


def test_a_one_stroke_character_stays_a_stroke() -> None:
    empty = _open(render_name_cells(()))
    stroke = _open(render_name_cells((NameCell("一", (0.0, 0.0, 0.5, 1.0)),)))

    left, top, right, bottom = _ink_box(stroke, empty)
    assert bottom - top < 0.2 * stroke.height  # drawn from its em square, not its ink
    assert right - left > 0.3 * stroke.width


# ----------------------------------------------------------------------------- uploads


def _png(image: Image.Image, **options: object) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def _signature(size: tuple[int, int] = (200, 100)) -> Image.Image:
    """A transparent image with one opaque stroke."""
    image = Image.new("RGBA", size, (0, 0, 0, 0))
    ImageDraw.Draw(image).line((10, 50, 190, 60), fill=(20, 20, 120, 255), width=6)
    return image


def test_a_transparent_png_is_accepted_and_keeps_its_transparency() -> None:
    original = _signature()
    original.putpixel((100, 10), (20, 20, 120, 128))  # half-transparent ink

    result = _open(validate_signature_image(_png(original)))

    assert result.format == "PNG" and result.mode == "RGBA" and result.size == (200, 100)
    assert result.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert result.getpixel((100, 55)) == (20, 20, 120, 255)
    assert result.getpixel((100, 10)) == (20, 20, 120, 128)
    assert ImageChops.difference(original, result).getbbox() is None


def test_a_palette_png_with_a_transparent_colour_keeps_it() -> None:
    palette = _signature().convert("P", palette=Image.Palette.ADAPTIVE, colors=4)
    transparent_index = palette.getpixel((0, 0))
    data = _png(palette, transparency=transparent_index)

    result = _open(validate_signature_image(data))

    assert result.mode == "RGBA"
    assert result.getpixel((0, 0))[3] == 0  # type: ignore[index]
    assert result.getpixel((100, 55))[3] == 255  # type: ignore[index]


def test_an_accepted_image_loses_its_metadata() -> None:
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Comment", "<script>alert(1)</script>")

    result = _open(validate_signature_image(_png(_signature(), pnginfo=info)))

    assert "Comment" not in result.info


@pytest.mark.parametrize("data", [
    b"GIF89a" + bytes(64),
    b"\xff\xd8\xff\xe0" + bytes(64),
    b"%PDF-1.7\n",
    b"",
], ids=["gif", "jpeg", "pdf", "empty"])
def test_a_file_that_is_not_a_png_is_refused(data: bytes) -> None:
    with pytest.raises(BadImageError, match="not a PNG file"):
        validate_signature_image(data)


def test_a_real_jpeg_is_refused_as_not_a_png() -> None:
    buffer = io.BytesIO()
    Image.new("RGB", (64, 64), (200, 0, 0)).save(buffer, format="JPEG")

    with pytest.raises(BadImageError, match="not a PNG file"):
        validate_signature_image(buffer.getvalue())


def test_a_png_signature_with_a_corrupt_body_is_refused() -> None:
    data = _png(_signature())

    with pytest.raises(BadImageError, match="cannot be read"):
        validate_signature_image(data[:8] + bytes(len(data) - 8))


def test_a_png_with_too_many_pixels_is_refused() -> None:
    data = _png(_signature((2001, 2000)))  # 4 002 000 pixels, a small file

    with pytest.raises(BadImageError, match=r"2001×2000 pixels; the limit is 4000000"):
        validate_signature_image(data)


def test_a_png_at_the_pixel_limit_is_accepted() -> None:
    assert _open(validate_signature_image(_png(_signature((2000, 2000))))).size == (2000, 2000)


def test_a_file_over_the_byte_limit_is_refused() -> None:
    noise = Image.frombytes("RGBA", (800, 800), os.urandom(800 * 800 * 4))
    data = _png(noise)  # noise does not compress: about 2.5 MB
    assert len(data) > 2 * 1024 * 1024

    with pytest.raises(BadImageError, match=rf"{len(data)} bytes; the limit is 2097152"):
        validate_signature_image(data)


def test_an_opaque_png_is_refused_for_hiding_the_page() -> None:
    with pytest.raises(BadImageError, match="no transparency") as raised:
        validate_signature_image(_png(Image.new("RGB", (200, 100), (255, 255, 255))))
    assert raised.value.hint is not None


def test_an_alpha_channel_that_is_fully_opaque_is_refused() -> None:
    with pytest.raises(BadImageError, match="fully opaque"):
        validate_signature_image(_png(Image.new("RGBA", (200, 100), (255, 255, 255, 255))))


def test_a_tiny_image_is_refused() -> None:
    with pytest.raises(BadImageError, match="smaller than 32 pixels"):
        validate_signature_image(_png(Image.new("RGBA", (31, 100), (0, 0, 0, 0))))
