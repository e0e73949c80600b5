"""Licence pages: the layout of an A4 licence from its type's template.

The page shows the title, the printed number, the surface fields in the template's order
and labels (long values wrap), the holder, the validity, the issuing body and date, the
electronic licence identifier and a QR code linking to the public verification page. The
issuing organisation's seal sits over the issuing body and date. The output is a
:class:`zhengyin.signing.pdf.certified.BornSealedPage`, certified in one pass.

Fields are set at 12 pt, or smaller down to 9 pt, to fit the first page. Longer ones go
on at 9 pt over continuation pages (续页, at most :data:`MAX_PAGES` pages in all), each
naming the licence and its page number, so a type whose printed fields are bounded by its
schema always has a PDF (the catalogue checks that bound when the type is defined). Line
breaks inside a value are set as spaces: a value is flowing text.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from functools import cached_property

from zhengyin.signing.pdf.certified import A4, BornSealedPage
from zhengyin.signing.pdf.fontsubset import FontSource, FontSubset
from zhengyin.signing.pdf.qr import FastQR, rects_ops
from zhengyin.trust.statuslist import INDEX_KEY, URI_KEY

from .errors import RegistryError

__all__ = ["LicenceLayoutError", "LicenceRenderer", "LicenceView"]

PAGE_WIDTH, PAGE_HEIGHT = A4
_LABEL_X, _VALUE_X, _RIGHT = 78.0, 200.0, PAGE_WIDTH - 72.0
_FIELDS_TOP, _FIELDS_BOTTOM = 660.0, 300.0
_MORE_TOP, _MORE_BOTTOM = 730.0, 110.0  # the fields' area on a continuation page
_SIZES = (12.0, 11.0, 10.0, 9.0)
MAX_PAGES = 6
SEAL_POSITION = (380.0, 150.0)
_FRAME = ("q 0.62 0.12 0.1 RG 2 w 28 28 539.28 785.89 re S 0.6 w 34 34 527.28 773.89 re S Q")
_BREAKS = str.maketrans({"\r": " ", "\n": " ", "\t": " "})


class LicenceLayoutError(RegistryError):
    """The licence's content does not fit its page."""

    code = "licence.layout_overflow"


@dataclass(frozen=True)
class LicenceView:
    """Everything printed on a licence."""

    title: str
    subtitle: str
    number_label: str
    printed_number: str
    fields: list[tuple[str, str]]
    holder_label: str
    holder: str
    valid_from: date
    valid_until: date | None
    issuer_name: str
    issued_on: date
    identifier: str
    verify_url: str
    footer: str
    type_code: str = ""
    issuer_code: str = ""
    status_list_uri: str = ""
    """The Status List Token holding its status (trust.statuslist); empty: none."""
    status_list_index: int | None = None


@dataclass
class _Run:
    size: float
    x: float
    y: float
    text: str
    gray: float = 0.0
    spacing: float = 0.0


def _chinese_date(day: date) -> str:
    return f"{day.year}年{day.month:02d}月{day.day:02d}日"


class LicenceRenderer:
    """Lays out licence pages; build once per process (it holds the parsed font)."""

    def __init__(self, font: FontSource) -> None:
        self.font = font
        self._qr: dict[int, FastQR] = {}

    @cached_property
    def widest_character(self) -> str:
        """The font's widest character: worst cases are written in it."""
        font = self.font
        return chr(max(sorted(font.cmap), key=lambda code: font.width(chr(code))))

    def _qr_for(self, payload: bytes) -> FastQR:
        # Medium error correction; the smallest version that fits, each built once.
        for version in range(4, 21):
            encoder = self._qr.get(version)
            if encoder is None:
                encoder = self._qr[version] = FastQR(version=version, error="M", mask=0)
            if len(payload) <= encoder.max_bytes:
                return encoder
        raise LicenceLayoutError("the verification URL is too long for a QR code")

    def _wrap(self, text: str, size: float, width: float) -> list[str]:
        return self.font.wrap(text.translate(_BREAKS), size, width)

    def _field_runs(self, fields: list[tuple[str, str]], size: float) -> list[_Run] | None:
        runs, y = [], _FIELDS_TOP
        leading = size * 1.5
        for label, value in fields:
            runs.append(_Run(size, _LABEL_X, y, label, 0.25))
            for line in self._wrap(value, size, _RIGHT - _VALUE_X):
                runs.append(_Run(size, _VALUE_X, y, line))
                y -= leading
                if y < _FIELDS_BOTTOM:
                    return None
            y -= size * 0.7
        return runs

    def _flowing_runs(self, fields: list[tuple[str, str]]) -> list[list[_Run]]:
        """The fields at the smallest size over the first page's area and then as many
        continuation pages as they need (a field split over pages repeats its label)."""
        size = _SIZES[-1]
        leading = size * 1.5
        pages: list[list[_Run]] = [[]]
        y, bottom = _FIELDS_TOP, _FIELDS_BOTTOM
        for label, value in fields:
            shown = label
            for line in self._wrap(value, size, _RIGHT - _VALUE_X):
                if y < bottom:
                    pages.append([])
                    y, bottom = _MORE_TOP, _MORE_BOTTOM
                    if shown != label:
                        shown = f"{label}（续）"
                if shown:
                    pages[-1].append(_Run(size, _LABEL_X, y, shown, 0.25))
                    shown = ""
                pages[-1].append(_Run(size, _VALUE_X, y, line))
                y -= leading
            y -= size * 0.7
        if len(pages) > MAX_PAGES:
            raise LicenceLayoutError(
                f"the licence's fields need {len(pages)} pages; at most {MAX_PAGES} are made",
                hint="shorten long values, or lower the type's maxLength",
            )
        return pages

    def layout_pages(self, view: LicenceView) -> list[list[_Run]]:
        """Positioned text runs of one licence, page by page (usually one page)."""
        width = self.font.text_width
        runs: list[_Run] = []
        title_size, spacing = 30.0, 12.0
        title_width = width(view.title, title_size) + spacing * (len(view.title) - 1)
        runs.append(_Run(title_size, (PAGE_WIDTH - title_width) / 2, 750, view.title, 0, spacing))
        if view.subtitle:
            runs.append(_Run(14, (PAGE_WIDTH - width(view.subtitle, 14)) / 2, 725, view.subtitle))
        number = f"{view.number_label}：{view.printed_number}"
        # A long printed number is set smaller rather than run off the page.
        number_size = min(10.0, 10.0 * (_RIGHT - _LABEL_X) / max(width(number, 10), 1.0))
        runs.append(_Run(number_size, _RIGHT - width(number, number_size), 700, number, 0.2))
        until = _chinese_date(view.valid_until) if view.valid_until else "长期"
        fields = [(view.holder_label, view.holder), *view.fields,
                  ("有效期限", f"{_chinese_date(view.valid_from)} 至 {until}")]
        more: list[list[_Run]] = []
        for size in _SIZES:
            field_runs = self._field_runs(fields, size)
            if field_runs is not None:
                runs.extend(field_runs)
                break
        else:
            first, *more = self._flowing_runs(fields)
            runs.extend(first)
        issuer_line = f"发证机关：{view.issuer_name}"
        date_line = f"发证日期：{_chinese_date(view.issued_on)}"
        # Right-aligned above the seal, which is stamped over them as on paper.
        right = _RIGHT - 8
        runs.append(_Run(13, min(330, right - width(issuer_line, 13)), 230, issuer_line))
        runs.append(_Run(13, min(330, right - width(date_line, 13)), 205, date_line))
        identifier = f"电子证照标识：{view.identifier}"
        runs.append(_Run(8, _LABEL_X, 272, identifier, 0.2))
        runs.append(_Run(9, 80, 80, "扫码核验真伪", 0.3))
        if view.footer:
            runs.append(_Run(9, (PAGE_WIDTH - width(view.footer, 9)) / 2, 50, view.footer, 0.4))
        if not more:
            return [runs]
        count = len(more) + 1
        runs.append(_Run(9, _RIGHT - width(f"第1页 共{count}页", 9), 80, f"第1页 共{count}页"))
        pages = [runs]
        for number_of_page, body in enumerate(more, start=2):
            heading = f"{view.title}（续页）"
            pages.append([
                _Run(16, (PAGE_WIDTH - width(heading, 16)) / 2, 770, heading, 0, 2.0),
                *body,
                _Run(8, _LABEL_X, 80, identifier, 0.2),
                _Run(9, _RIGHT - width(f"第{number_of_page}页 共{count}页", 9), 60,
                     f"第{number_of_page}页 共{count}页"),
            ])
        return pages

    def layout(self, view: LicenceView) -> list[_Run]:
        """Positioned text runs of the licence's first page."""
        return self.layout_pages(view)[0]

    @staticmethod
    def _text_ops(runs: list[_Run], subset: FontSubset) -> str:
        out = ["BT"]
        size = gray = spacing = -1.0
        for run in runs:
            if run.size != size:
                out.append(f"/F1 {run.size:g} Tf")
                size = run.size
            if run.gray != gray:
                out.append(f"{run.gray:g} g")
                gray = run.gray
            if run.spacing != spacing:
                out.append(f"{run.spacing:g} Tc")
                spacing = run.spacing
            out.append(f"1 0 0 1 {run.x:.2f} {run.y:.2f} Tm <{subset.encode(run.text)}> Tj")
        out.append("ET")
        return "\n".join(out)

    def page(self, view: LicenceView) -> BornSealedPage:
        """The document to certify: content streams, font subset, seal position."""
        pages = self.layout_pages(view)
        subset = self.font.subset("".join(run.text for runs in pages for run in runs))
        payload = view.verify_url.encode("utf-8")
        qr = rects_ops(self._qr_for(payload).rows(payload), x=80, y_top=190, module=2.2)
        # Double frame in a dark red, as printed licences have.
        content = "\n".join([_FRAME, self._text_ops(pages[0], subset), qr]).encode("ascii")
        more = tuple("\n".join([_FRAME, self._text_ops(runs, subset)]).encode("ascii")
                     for runs in pages[1:])
        # GB/T 36903 element names as existing systems use them (STANDARDS §2), so that
        # verifiers find the identifier and validity without parsing the page; then our
        # own /ZYSL and /ZYSI: the licence's status-list URI and index (trust.statuslist),
        # read by offline verification from the signed revision.
        metadata: tuple[tuple[str, str], ...] = (
            ("ZZBS", view.identifier), ("ZZMC", view.title), ("ZZLXDM", view.type_code),
            ("ZZBH", view.printed_number), ("ZZBFJG", view.issuer_name),
            ("ZZBFJGDM", view.issuer_code), ("ZZBFRQ", view.issued_on.isoformat()),
            ("ZZYXQQSRQ", view.valid_from.isoformat()),
            ("ZZYXQJZRQ", view.valid_until.isoformat() if view.valid_until else "长期有效"),
        )
        if view.status_list_uri and view.status_list_index is not None:
            metadata += ((URI_KEY, view.status_list_uri),
                         (INDEX_KEY, str(view.status_list_index)))
        return BornSealedPage(content=content, subset=subset, seal_rect=SEAL_POSITION,
                              title=f"{view.title} {view.printed_number}",
                              document_id=view.identifier, metadata=metadata, more=more)
