"""Licence pages: the layout of an A4 licence from its type's template.

The page shows the title, the printed number, the surface fields in the template's order
and labels (long values wrap), the holder, the validity, the issuing body and date, the
electronic licence identifier and a QR code linking to the public verification page. The
issuing organisation's seal sits over the issuing body and date. The output is a
:class:`signing.certified.BornSealedPage`, certified in one pass.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from signing.certified import A4, BornSealedPage
from signing.fontsubset import FontSource, FontSubset
from signing.qr import FastQR, rects_ops

from .errors import RegistryError

__all__ = ["LicenceLayoutError", "LicenceRenderer", "LicenceView"]

PAGE_WIDTH, PAGE_HEIGHT = A4
_LABEL_X, _VALUE_X, _RIGHT = 78.0, 200.0, PAGE_WIDTH - 72.0
_FIELDS_TOP, _FIELDS_BOTTOM = 660.0, 300.0
SEAL_POSITION = (380.0, 150.0)


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
        lines, current, current_width = [], "", 0.0
        for char in text:
            if char == "\n":
                lines.append(current)
                current, current_width = "", 0.0
                continue
            advance = self.font.width(char) * size / 1000.0
            if current and current_width + advance > width:
                lines.append(current)
                current, current_width = "", 0.0
            current += char
            current_width += advance
        lines.append(current)
        return lines

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

    def layout(self, view: LicenceView) -> list[_Run]:
        """Positioned text runs of one licence."""
        width = self.font.text_width
        runs: list[_Run] = []
        title_size, spacing = 30.0, 12.0
        title_width = width(view.title, title_size) + spacing * (len(view.title) - 1)
        runs.append(_Run(title_size, (PAGE_WIDTH - title_width) / 2, 750, view.title, 0, spacing))
        if view.subtitle:
            runs.append(_Run(14, (PAGE_WIDTH - width(view.subtitle, 14)) / 2, 725, view.subtitle))
        number = f"{view.number_label}：{view.printed_number}"
        runs.append(_Run(10, _RIGHT - width(number, 10), 700, number, 0.2))
        until = _chinese_date(view.valid_until) if view.valid_until else "长期"
        fields = [(view.holder_label, view.holder), *view.fields,
                  ("有效期限", f"{_chinese_date(view.valid_from)} 至 {until}")]
        for size in (12.0, 11.0, 10.0, 9.0):
            field_runs = self._field_runs(fields, size)
            if field_runs is not None:
                runs.extend(field_runs)
                break
        else:
            raise LicenceLayoutError(
                "the licence's fields do not fit one page even at 9 pt",
                hint="shorten long values or split the type's template",
            )
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
        return runs

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
        """The page to certify: content stream, font subset, seal position."""
        runs = self.layout(view)
        subset = self.font.subset("".join(run.text for run in runs))
        payload = view.verify_url.encode("utf-8")
        qr = rects_ops(self._qr_for(payload).rows(payload), x=80, y_top=190, module=2.2)
        content = "\n".join([
            # Double frame in a dark red, as printed licences have.
            "q 0.62 0.12 0.1 RG 2 w 28 28 539.28 785.89 re S 0.6 w 34 34 527.28 773.89 re S Q",
            self._text_ops(runs, subset),
            qr,
        ]).encode("ascii")
        # GB/T 36903 element names as existing systems use them (STANDARDS §2), so that
        # verifiers find the identifier without parsing the page.
        metadata = (
            ("ZZBS", view.identifier), ("ZZMC", view.title), ("ZZLXDM", view.type_code),
            ("ZZBH", view.printed_number), ("ZZBFJG", view.issuer_name),
            ("ZZBFJGDM", view.issuer_code), ("ZZBFRQ", view.issued_on.isoformat()),
        )
        return BornSealedPage(content=content, subset=subset, seal_rect=SEAL_POSITION,
                              title=f"{view.title} {view.printed_number}",
                              document_id=view.identifier, metadata=metadata)
