"""Verification reports as PDF, born sealed by the platform (several A4 pages, one revision).

The report a relying party downloads must itself be verifiable: it is written and
certified (DocMDP P=1, PAdES B-T) in one pass like a licence
(:mod:`zhengyin.signing.pdf.certified`), extended to several pages. Object numbers 1-15
keep the single-page layout (so a seal's pre-serialised appearance objects fit unchanged);
pages after the first take numbers from 16 on. The seal sits on the first page, beside the
overall verdict.

Text is laid out here from the report's data (Chinese first, English below in grey);
characters the embedded font lacks are printed as "?" rather than refusing the report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime

from zhengyin.core.clock import CHINA_TZ, beijing_time
from zhengyin.trust.validation import CheckStatus, Indication, VerificationReport
from zhengyin.trust.validation.report import CHECK_NAMES_ZH, SignatureReport

from .certified import (
    CATALOG,
    CONTENTS,
    FONT,
    INFO,
    PAGE,
    PAGES,
    SIGDICT,
    WIDGET,
    SealAppearance,
    add_certification,
    font_objects,
)
from .cms import CMSSigner
from .fontsubset import FontSource
from .pdfwriter import PdfWriter, pdf_date, stream_object, utf16_hex

__all__ = ["render_report"]

WIDTH, HEIGHT = 595.28, 841.89
_LEFT, _RIGHT, _TOP, _BOTTOM = 56.0, WIDTH - 56.0, HEIGHT - 60.0, 64.0
_FIRST_EXTRA = 16
_SEAL_BOX = (WIDTH - 56.0 - 119.06, HEIGHT - 200.0)
_COLOURS = {
    "ink": (0.12, 0.14, 0.16), "grey": (0.42, 0.45, 0.48), "green": (0.10, 0.50, 0.22),
    "red": (0.78, 0.06, 0.18), "amber": (0.70, 0.45, 0.10),
}
_VERDICT_ZH = {Indication.TOTAL_PASSED: "通过（TOTAL-PASSED）", Indication.TOTAL_FAILED:
               "不通过（TOTAL-FAILED）", Indication.INDETERMINATE: "无法确定（INDETERMINATE）"}
_VERDICT_COLOUR = {Indication.TOTAL_PASSED: "green", Indication.TOTAL_FAILED: "red",
                   Indication.INDETERMINATE: "amber"}
_STATUS = {CheckStatus.PASSED: ("通过", "green"), CheckStatus.FAILED: ("不通过", "red"),
           CheckStatus.INDETERMINATE: ("无法确定", "amber"),
           CheckStatus.NOT_APPLICABLE: ("不适用", "grey")}


@dataclass
class _Run:
    size: float
    x: float
    y: float
    text: str
    colour: str


class _Layout:
    """Lines of text flowing over A4 pages."""

    def __init__(self, font: FontSource) -> None:
        self.font = font
        self.pages: list[list[_Run]] = [[]]
        self.y = _TOP

    def _space(self, height: float) -> None:
        if self.y - height < _BOTTOM:
            self.pages.append([])
            self.y = _TOP

    def line(self, text: str, *, size: float = 10.0, colour: str = "ink", indent: float = 0.0,
             gap: float = 0.35, right: float = _RIGHT) -> None:
        """A paragraph, wrapped to the page width."""
        for piece in self.font.wrap(text, size, right - _LEFT - indent):
            self._space(size * (1.25 + gap))
            self.y -= size * 1.25
            self.pages[-1].append(_Run(size, _LEFT + indent, self.y, piece, colour))
        self.y -= size * gap

    def pair(self, label: str, value: str, *, colour: str = "ink", right: float = _RIGHT
             ) -> None:
        """A label and a value in two columns."""
        size = 10.0
        lines = self.font.wrap(value, size, right - _LEFT - 110.0)
        self._space(size * 1.35 * len(lines))
        for number, piece in enumerate(lines):
            self.y -= size * 1.35
            if number == 0:
                self.pages[-1].append(_Run(size, _LEFT, self.y, label, "grey"))
            self.pages[-1].append(_Run(size, _LEFT + 110.0, self.y, piece, colour))
        self.y -= 2.0

    def skip(self, points: float) -> None:
        """Vertical space."""
        self.y -= points


def _when(moment: datetime | None) -> str:
    if moment is None:
        return "—"
    return beijing_time(moment)


def _signature_section(layout: _Layout, number: int, item: SignatureReport) -> None:
    verdict = item.verdict
    evidence = item.evidence
    kind = "文档时间戳" if evidence.kind == "document-timestamp" else "签章"
    layout.skip(6)
    layout.line(f"{kind} {number}：{evidence.field}", size=12.5)
    layout.line(f"结论：{_VERDICT_ZH[verdict.indication]}"
                + (f" / {verdict.sub_indication.value}" if verdict.sub_indication else ""),
                size=11, colour=_VERDICT_COLOUR[verdict.indication])
    signer = evidence.signer
    if item.seal is not None:
        layout.pair("印章", f"{item.seal.name}（印章编码 {item.seal.seal_code}）")
        layout.pair("单位", f"{item.seal.organisation}（{item.seal.credit_code}）")
    elif signer is not None:
        layout.pair("签名人", signer.common_name or signer.subject)
        if signer.organisation:
            layout.pair("单位", signer.organisation)
    if signer is not None:
        layout.pair("证书序列号", signer.serial_hex)
        layout.pair("证书指纹 SHA-256", signer.sha256)
    time_note = "（时间戳证明）" if item.signing_time_proven else "（签名人声称，未经证明）"
    layout.pair("签名时间", _when(item.signing_time) + (time_note if item.signing_time else ""))
    if evidence.docmdp is not None:
        layout.pair("认证级别", f"DocMDP P={evidence.docmdp}"
                    + ("（认证签名）" if evidence.certifies else ""))
    for check in item.checks:
        label, colour = _STATUS[check.status]
        name = CHECK_NAMES_ZH.get(check.check, check.check)
        layout.line(f"[{label}] {name}：{check.reason.zh}", size=9.5, colour=colour, indent=8)
        layout.line(check.reason.en, size=8, colour="grey", indent=8, gap=0.6)


def _layout(report: VerificationReport, font: FontSource, *, report_id: str) -> _Layout:
    layout = _Layout(font)
    narrow = _SEAL_BOX[0] - 10.0
    layout.line("电子签章核验报告", size=20, right=narrow)
    layout.line("Electronic seal and signature verification report", size=10,
                colour="grey", right=narrow)
    layout.skip(8)
    verdict = report.verdict
    layout.line(f"核验结论：{_VERDICT_ZH[verdict.indication]}", size=14,
                colour=_VERDICT_COLOUR[verdict.indication], right=narrow)
    if verdict.sub_indication is not None:
        layout.line(f"ETSI EN 319 102-1 子结论：{verdict.sub_indication.value}", size=10,
                    right=narrow)
    layout.pair("报告编号", report_id, right=narrow)
    layout.pair("核验时间", _when(report.verified_at), right=narrow)
    subject = report.subject
    if subject.kind == "pdf":
        layout.pair("文件名", subject.file_name or "（未提供）", right=narrow)
        layout.pair("文件 SHA-256", subject.sha256 or "", right=narrow)
        layout.pair("文件大小", f"{subject.size} 字节", right=narrow)
    else:
        layout.pair("证照标识", subject.identifier or "", right=narrow)
    if report.licence is not None:
        licence = report.licence
        until = licence.valid_until.isoformat() if licence.valid_until else "长期"
        layout.pair("电子证照", f"{licence.type_name}（{licence.identifier}）", right=narrow)
        layout.pair("发证机关", licence.issuer_name, right=narrow)
        layout.pair("证照状态", f"{licence.state_now.zh}；有效期 {licence.valid_from} 至 {until}",
                    colour="green" if licence.state_now.value == "valid" else "red", right=narrow)
    layout.skip(4)
    layout.line("结论依据", size=12)
    for reason in verdict.reasons[:12]:
        layout.line(f"· {reason.zh}", size=9.5, indent=8)
        layout.line(reason.en, size=8, colour="grey", indent=16, gap=0.5)
    for check in report.document:
        label, colour = _STATUS[check.status]
        layout.line(f"[{label}] {CHECK_NAMES_ZH.get(check.check, check.check)}：{check.reason.zh}",
                    size=9.5, colour=colour)
    for number, item in enumerate(report.signatures, start=1):
        _signature_section(layout, number, item)
    layout.skip(10)
    layout.line("本报告由证印平台根据 ETSI EN 319 102-1 对文件核验后自动生成，并加盖平台电子印章；"
                "结论仅反映核验时的情况。报告的 JSON 格式为 zhengyin.verification/1。", size=8,
                colour="grey")
    return layout


def _content(runs: list[_Run], font_hex: dict[str, str]) -> bytes:
    out = ["BT"]
    size, colour = -1.0, ""
    for run in runs:
        if run.size != size:
            out.append(f"/F1 {run.size:g} Tf")
            size = run.size
        if run.colour != colour:
            r, g, b = _COLOURS[run.colour]
            out.append(f"{r:g} {g:g} {b:g} rg")
            colour = run.colour
        text = "".join(font_hex[char] for char in run.text)
        out.append(f"1 0 0 1 {run.x:.2f} {run.y:.2f} Tm <{text}> Tj")
    out.append("ET")
    return "\n".join(out).encode("ascii")


def render_report(report: VerificationReport, *, font: FontSource, seal: SealAppearance,
                  signer: CMSSigner, at: datetime, report_id: str,
                  producer: str = "Zhengyin 证印") -> bytes:
    """The report as a PDF certified by ``signer`` (DocMDP P=1, B-T with a TSA)."""
    layout = _layout(report, font, report_id=report_id)
    text = "".join(run.text for page in layout.pages for run in page)
    subset = font.subset(text)
    if subset.missing:
        missing = set(subset.missing)
        for page in layout.pages:
            for run in page:
                run.text = "".join("?" if char in missing else char for char in run.text)
        subset = font.subset("".join(run.text for page in layout.pages for run in page))
    count = len(layout.pages)
    page_numbers = [PAGE] + [_FIRST_EXTRA + 2 * index for index in range(count - 1)]
    when = pdf_date(at.astimezone(CHINA_TZ))
    writer = PdfWriter()
    writer.add(CATALOG, (
        f"<< /Type /Catalog /Pages {PAGES} 0 R /Lang (zh-CN) "
        f"/AcroForm << /Fields [{WIDGET} 0 R] /SigFlags 3 >> "
        f"/Perms << /DocMDP {SIGDICT} 0 R >> "
        f"/ViewerPreferences << /DisplayDocTitle true >> >>").encode())
    kids = " ".join(f"{number} 0 R" for number in page_numbers)
    writer.add(PAGES, f"<< /Type /Pages /Kids [{kids}] /Count {count} >>".encode())
    for index, number in enumerate(page_numbers):
        contents = CONTENTS if index == 0 else number + 1
        annots = f" /Annots [{WIDGET} 0 R]" if index == 0 else ""
        writer.add(number, (
            f"<< /Type /Page /Parent {PAGES} 0 R /MediaBox [0 0 {WIDTH} {HEIGHT}] "
            f"/Resources << /Font << /F1 {FONT} 0 R >> >> /Contents {contents} 0 R"
            f"{annots} >>").encode())
        if index == 0:
            writer.add(CONTENTS, stream_object("", _content(layout.pages[0], subset.hex_of),
                                               compress=6))
    for number, body in font_objects(font, subset):
        writer.add(number, body)
    add_certification(writer, seal, signer, box=_SEAL_BOX, when=when,
                      reason="核验报告 verification report")
    writer.add(INFO, (
        f"<< /Title {utf16_hex('电子签章核验报告 ' + report_id)} /Producer {utf16_hex(producer)} "
        f"/CreationDate ({when}) /ModDate ({when}) >>").encode())
    for index in range(1, count):
        number = page_numbers[index]
        writer.add(number + 1, stream_object("", _content(layout.pages[index], subset.hex_of),
                                             compress=6))
    file_id = hashlib.md5(f"{report_id}|{when}".encode(), usedforsecurity=False).digest()
    return writer.finish_signed(root=CATALOG, info=INFO, file_id=file_id, sign=signer.sign,
                                digest_algorithm=signer.digest_algorithm)
