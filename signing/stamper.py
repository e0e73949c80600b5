"""Stamping one PDF with one seal: PAdES B-B to B-LTA, visible, cross-page, certified.

A :class:`SealStamper` is built once per seal per process and keeps what does not change
between documents warm (REPORT §5): the key-store signer with its frozen ASN.1 parts, the
pre-encoded seal bitmap and its strips, the calibrated signature size, and an event loop
per thread. Stamping a document then costs about 10 ms at B-T.

The stamper has no database: the caller decides who may stamp (``SealService``) and
records the use (``SealUseLog``). It raises before signing whenever the input or the
options are wrong, so a refused document is never signed.

Steps of :meth:`SealStamper.stamp`:

1. open and check the PDF (:mod:`zhengyin.signing.pdfinput`);
2. decide certification from the document's existing signatures, and check that every
   one of them permits this stamp's change (:mod:`zhengyin.signing.permission`; fail closed);
3. resolve the placement to a page and box (anchor search with PDFium);
4. reserve co-sealers' empty fields and paint cross-page strips in the same revision;
5. sign incrementally with pyHanko at the requested level;
6. return the bytes and what was done, for the seal-use log.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from asn1crypto import x509
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.fields import (
    MDPPerm,
    SigFieldSpec,
    SigSeedSubFilter,
    append_signature_field,
    enumerate_sig_fields,
)
from pyhanko.sign.general import SigningError as PyHankoSigningError
from pyhanko.sign.signers import PdfSignatureMetadata, PdfSigner
from pyhanko.sign.signers.pdf_signer import DSSContentSettings, SigDSSPlacementPreference
from pyhanko.sign.timestamps.api import TimeStamper
from pyhanko_certvalidator import ValidationContext

from zhengyin.keys import KeyAlgorithm, KeyHandle, KeyStore

from .crosspage import add_cross_page_strips, page_box
from .errors import (
    BoxOutsidePageError,
    DocumentLockedError,
    FieldNotFoundError,
    SigningError,
    StampOptionsError,
)
from .models import SignatureLevel
from .pdfinput import OpenedPDF, open_pdf, too_deep
from .pdfsigner import KeyStoreSigner
from .permission import IntendedChange, check_permitted, read_signatures
from .placement import (
    AnchorPlacement,
    BoxPlacement,
    FieldPlacement,
    InvisiblePlacement,
    Placement,
    ReservedField,
    ResolvedBox,
    find_anchor,
    page_index,
)
from .stampstyle import SealArtwork, SealStampStyle

__all__ = ["SealMaterial", "SealStamper", "StampOptions", "StampResult"]

# Added to the measured CMS size: ECDSA signatures and serials vary by a few bytes, and a
# TSA may change its certificate chain (REPORT §3, bytes_reserved).
_RESERVE_MARGIN = 0.25


@dataclass(frozen=True)
class SealMaterial:
    """What a process needs to stamp with one seal. Picklable; holds no secret."""

    seal_id: str
    seal_code: str
    key_handle: str
    algorithm: KeyAlgorithm
    certificate_der: bytes
    chain_der: tuple[bytes, ...]
    image_png: bytes
    # Key identifiers of this service's CAs: an earlier signature they certified is one of
    # our seals, which nothing but a reserved-field seal may follow. Empty: every earlier
    # signature is treated so (fail closed).
    authority_key_ids: tuple[bytes, ...] = ()

    @property
    def cache_key(self) -> str:
        """Changes whenever the key, certificate, image or our CAs change."""
        digest = hashlib.sha256()
        for part in (self.seal_id.encode(), self.key_handle.encode(), self.certificate_der,
                     self.image_png, *self.chain_der, *self.authority_key_ids):
            digest.update(hashlib.sha256(part).digest())
        return digest.hexdigest()


@dataclass(frozen=True)
class StampOptions:
    """How to stamp. ``certify=None`` certifies when the document has no signature yet."""

    placement: Placement
    level: SignatureLevel = SignatureLevel.B_T
    certify: bool | None = None
    reserve: tuple[ReservedField, ...] = ()
    reason: str | None = None
    location: str | None = None
    field_name: str | None = None


@dataclass(frozen=True)
class StampResult:
    """A sealed PDF and the facts the seal-use log keeps."""

    pdf: bytes
    field_name: str
    level: SignatureLevel
    certified: bool
    docmdp: int | None
    repaired: bool
    placement: dict[str, Any] = field(default_factory=dict)


_loops = threading.local()


def _run(coroutine: Any) -> Any:
    """Run a coroutine on this thread's persistent loop (pyHanko's sync wrappers make and
    tear down a loop per call; never called from inside a running loop, STYLE §4)."""
    loop = getattr(_loops, "loop", None)
    if loop is None:
        loop = asyncio.new_event_loop()
        _loops.loop = loop
    return loop.run_until_complete(coroutine)


class SealStamper:
    """Stamps documents with one seal; everything reusable is built once."""

    def __init__(self, keystore: KeyStore, material: SealMaterial) -> None:
        self.material = material
        self.signer = KeyStoreSigner(
            keystore, KeyHandle.parse(material.key_handle),
            x509.Certificate.load(material.certificate_der),
            [x509.Certificate.load(der) for der in material.chain_der],
            algorithm=material.algorithm,
        )
        self.authority_key_ids = frozenset(material.authority_key_ids)
        self.artwork = SealArtwork(material.image_png)
        self.style = SealStampStyle(artwork=self.artwork)
        self._reserved: dict[bool, int] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ public

    def stamp(self, pdf: bytes, options: StampOptions, *, timestamper: TimeStamper | None,
              validation_context: ValidationContext | None, max_bytes: int) -> StampResult:
        """Seal one document; raises a :class:`SigningError` before signing if anything is off."""
        try:
            try:
                return self._stamp(pdf, options, timestamper, validation_context, max_bytes)
            except _ReserveOverflowError:
                # The calibrated size was too small (a TSA changed its chain, say): measure
                # again.
                with self._lock:
                    self._reserved.clear()
                return self._stamp(pdf, options, timestamper, validation_context, max_bytes)
        except RecursionError:
            # Deep nesting the opening did not reach (form fields, resources) recurses in
            # pyHanko's reader or writer: a refused document, not an internal error.
            raise too_deep() from None

    def _stamp(self, pdf: bytes, options: StampOptions, timestamper: TimeStamper | None,
               validation_context: ValidationContext | None, max_bytes: int) -> StampResult:
        level = SignatureLevel(options.level)
        if level is not SignatureLevel.B_B and timestamper is None:
            raise StampOptionsError(f"{level.value} needs a time-stamp authority")
        if level in (SignatureLevel.B_LT, SignatureLevel.B_LTA) and validation_context is None:
            raise StampOptionsError(f"{level.value} needs revocation data")
        opened = open_pdf(pdf, max_bytes=max_bytes)                             # step 1
        writer = opened.writer
        certify, docmdp = self._certification(opened, options)                  # step 2
        names = {name for name, _value, _ref in enumerate_sig_fields(writer.prev)}
        field_name = self._field_name(opened, options, names)
        check_permitted(writer.prev, IntendedChange(
            field_name, fills_existing=isinstance(options.placement.visible, FieldPlacement),
            page_content=options.placement.cross_page is not None),
            authority_key_ids=self.authority_key_ids)
        new_field = self._box(opened, options)                                  # step 3
        for reserved in options.reserve:                                       # step 4
            if reserved.name in names or reserved.name == field_name:
                raise StampOptionsError(f"the field {reserved.name!r} already exists")
            names.add(reserved.name)
            index = page_index(reserved.page, opened.page_count)
            append_signature_field(writer, SigFieldSpec(
                reserved.name, on_page=index,
                box=_int_box(on_page(writer, index, reserved.box))))
        described = options.placement.describe()
        if options.placement.cross_page is not None:
            pages = add_cross_page_strips(writer, self.artwork, options.placement.cross_page,
                                          page_count=opened.page_count)
            described["cross_page_pages"] = [index + 1 for index in pages]
        if new_field is not None:
            described["page"] = new_field.page_index + 1
            described["box"] = list(new_field.box)
        if options.reserve:
            described["reserved"] = [reserved.name for reserved in options.reserve]
        metadata = self._metadata(field_name, level, certify, docmdp, options,
                                  validation_context)
        signed = self._sign(writer, metadata, timestamper, new_field, level)    # step 5
        return StampResult(pdf=signed, field_name=field_name, level=level,      # step 6
                           certified=certify,
                           docmdp=int(docmdp.value) if certify else None,
                           repaired=opened.repaired, placement=described)

    # ------------------------------------------------------------------ steps

    @staticmethod
    def _certification(opened: OpenedPDF, options: StampOptions) -> tuple[bool, MDPPerm]:
        signed_before = bool(read_signatures(opened.writer.prev))
        if options.certify and signed_before:
            raise StampOptionsError(
                "the document is already signed; only the first seal can certify it",
                hint="stamp with certify=false")
        certify = options.certify if options.certify is not None else not signed_before
        if options.reserve and not certify:
            raise StampOptionsError(
                "only a certifying seal reserves fields for co-sealers",
                hint="reserve the fields with the first seal, which certifies")
        # Co-sealed documents are certified with P=2 and the co-sealers' fields reserved
        # in the certifying revision: filling them is form filling, which P=2 allows and
        # pyHanko's diff policy accepts (REPORT §3). A lone final seal locks with P=1.
        docmdp = MDPPerm.FILL_FORMS if options.reserve else MDPPerm.NO_CHANGES
        return certify, docmdp

    def _field_name(self, opened: OpenedPDF, options: StampOptions, names: set[str]) -> str:
        """The signature field the seal goes into: a reserved empty one, or a new name."""
        visible = options.placement.visible
        if isinstance(visible, FieldPlacement):
            fields = {name: value for name, value, _ref in enumerate_sig_fields(
                opened.writer.prev)}
            if visible.name not in fields:
                raise FieldNotFoundError(f"the document has no signature field {visible.name!r}")
            if fields[visible.name] is not None:
                raise DocumentLockedError(f"the signature field {visible.name!r} is already signed")
            return visible.name
        name = options.field_name or self._free_name(names)
        if name in names:
            raise StampOptionsError(f"the document already has a field {name!r}")
        return name

    def _box(self, opened: OpenedPDF, options: StampOptions) -> ResolvedBox | None:
        """Where a new visible field goes (None: a reserved field, or invisible)."""
        visible = options.placement.visible
        if isinstance(visible, (FieldPlacement, InvisiblePlacement)):
            return None
        if isinstance(visible, BoxPlacement):
            index = page_index(visible.page, opened.page_count)
            return ResolvedBox(index, on_page(opened.writer, index, visible.box))
        assert isinstance(visible, AnchorPlacement)
        index, (x1, y1, x2, y2) = find_anchor(opened.data, visible.text, page=visible.page,
                                              page_count=opened.page_count)
        cx = (x1 + x2) / 2 + visible.offset[0]
        cy = (y1 + y2) / 2 + visible.offset[1]
        half_w, half_h = self.artwork.width_pt / 2, self.artwork.height_pt / 2
        return ResolvedBox(index, on_page(
            opened.writer, index, (cx - half_w, cy - half_h, cx + half_w, cy + half_h)))

    def _free_name(self, names: set[str]) -> str:
        base = f"Seal_{self.material.seal_code}"
        if base not in names:
            return base
        number = 2
        while f"{base}_{number}" in names:
            number += 1
        return f"{base}_{number}"

    def _metadata(self, field_name: str, level: SignatureLevel, certify: bool,  # noqa: PLR0917
                  docmdp: MDPPerm, options: StampOptions,
                  validation_context: ValidationContext | None) -> PdfSignatureMetadata:
        long_term = level in (SignatureLevel.B_LT, SignatureLevel.B_LTA)
        if level is SignatureLevel.B_LT:
            # The DSS goes into the signature's own revision: one revision fewer and no
            # "not total document signed" in pdfsig (VRI must be off for that, REPORT §3).
            dss = DSSContentSettings(placement=SigDSSPlacementPreference.TOGETHER_WITH_SIGNATURE,
                                     include_vri=False)
        else:
            dss = DSSContentSettings()
        return PdfSignatureMetadata(
            field_name=field_name,
            md_algorithm=self.signer.digest_algorithm,
            subfilter=SigSeedSubFilter.PADES,
            certify=certify,
            docmdp_permissions=docmdp,
            reason=options.reason,
            location=options.location,
            validation_context=validation_context if long_term else None,
            embed_validation_info=long_term,
            use_pades_lta=level is SignatureLevel.B_LTA,
            dss_settings=dss,
        )

    def _sign(self, writer: IncrementalPdfFileWriter, metadata: PdfSignatureMetadata,
              timestamper: TimeStamper | None, new_field: ResolvedBox | None,
              level: SignatureLevel) -> bytes:
        name = metadata.field_name or ""
        spec = SigFieldSpec(name)
        if new_field is not None:
            spec = SigFieldSpec(name, on_page=new_field.page_index,
                                box=_int_box(new_field.box))
        pdf_signer = PdfSigner(metadata, self.signer, timestamper=timestamper,
                               stamp_style=self.style, new_field_spec=spec)
        with_token = level is not SignatureLevel.B_B
        reserved = self._reserved.get(with_token)
        try:
            output = _run(pdf_signer.async_sign_pdf(writer, bytes_reserved=reserved))
        except PyHankoSigningError as exc:
            if reserved is not None and "larger than expected" in str(exc):
                raise _ReserveOverflowError from exc
            raise _translate(exc) from exc
        data: bytes = output.getvalue()
        if reserved is None:
            self._calibrate(data, with_token)
        return data

    def _calibrate(self, signed: bytes, with_token: bool) -> None:
        """Fix the /Contents size from a real signature so pyHanko skips its dry run
        (which signs twice and asks the TSA twice, REPORT §1 row C)."""
        signatures = PdfFileReader(BytesIO(signed)).embedded_signatures
        mine = signatures[-2] if len(signatures) > 1 and signatures[-1].sig_object.get(
            "/Type") == "/DocTimeStamp" else signatures[-1]
        length = len(mine.pkcs7_content) + 32
        with self._lock:
            self._reserved[with_token] = 2 * math.ceil(length * (1 + _RESERVE_MARGIN))


class _ReserveOverflowError(Exception):
    """The signature did not fit the calibrated /Contents size."""


def on_page(writer: IncrementalPdfFileWriter, index: int,
            box: tuple[float, float, float, float]) -> tuple[float, float, float, float]:
    """``box`` if it lies wholly in the page's visible area; a seal partly off the page
    would be partly (or wholly) invisible while its signature still counts."""
    px1, py1, px2, py2 = page_box(writer, index)
    x1, y1, x2, y2 = box
    slack = 0.01  # points: rounding in the caller's arithmetic, not a real overhang
    if x1 < px1 - slack or y1 < py1 - slack or x2 > px2 + slack or y2 > py2 + slack:
        shown = ", ".join(f"{value:g}" for value in box)
        area = ", ".join(f"{value:g}" for value in (px1, py1, px2, py2))
        raise BoxOutsidePageError(
            f"the seal's box [{shown}] is not wholly on page {index + 1}, whose visible "
            f"area is [{area}]",
            hint="boxes are in PDF points from the page's bottom-left corner; move the box "
                 "(or the anchor's offset) onto the page")
    return box


def _int_box(box: tuple[float, float, float, float]) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = box
    return math.floor(x1), math.floor(y1), math.ceil(x2), math.ceil(y2)


def _translate(exc: PyHankoSigningError) -> SigningError:
    text = str(exc)
    if "forbids all changes" in text or "must be the first signature" in text:
        return DocumentLockedError(f"the document's certification forbids this: {text}")
    return SigningError(f"signing failed: {text}")
