"""Making use-copies (加注件) of licences a check disclosed, and finding them again.

1. The check must be the caller's and must have disclosed the licence (one use record);
   anything else is one 'not found'.
2. The copy shows the surface fields of that use record and nothing else
   (:func:`zhengyin.registry.sealing.licence_view` with ``disclosed``); it attaches the original
   sealed PDF only when the service item allows it (``ServiceItem.use_copy_original``,
   default no), since the original shows every field.
3. The platform seal certifies it (PAdES B-T), a seal use recorded as for any stamp.
4. The copy is recorded by the SHA-256 of its signed revision with the use it was made
   for, and audited, in the caller's transaction: verification finds the licence a copy
   was made of by that digest and reports the licence's status now, so a licence
   revoked after its copy was made shows on the copy's verification.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from datetime import datetime

from pyhanko.pdf_utils.reader import PdfFileReader
from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.core.audit import AuditLog
from zhengyin.signing.models import SignatureLevel
from zhengyin.signing.placement import BoxPlacement, Placement
from zhengyin.signing.seals import SealService
from zhengyin.signing.stamper import StampOptions
from zhengyin.signing.stamping import StampRequest, StampService

from .errors import RegistryError
from .filestore import FileStore
from .issuance import IssuanceService, verify_url
from .lifecycle import effective_status
from .models import (
    Licence,
    LicenceCheck,
    LicenceStatus,
    LicenceType,
    LicenceUse,
    LicenceUseCopy,
    ServiceItem,
)
from .platform import platform_seal
from .render import LicenceRenderer
from .sealing import LicenceSealer, licence_view
from .usecopy import UseCopyMarks, use_copy_document

__all__ = ["LicenceNoLongerValidError", "Platform", "UseCopy", "UseCopyNotFoundError",
           "UseCopyService", "signed_revision_digest"]

# Where the platform seal goes on the copy's first page (PDF points).
_SEAL_BOX = (440.0, 40.0, 540.0, 140.0)
_MAX_PURPOSE = 200


class UseCopyNotFoundError(RegistryError):
    """No such check of this client, or the check disclosed no such licence."""

    code = "use_copy.not_found"


class LicenceNoLongerValidError(RegistryError):
    """The licence is not valid now: a copy made of it would fail its own verification."""

    code = "use_copy.licence_not_valid"


@dataclass(frozen=True)
class Platform:
    """The organisation operating the service, whose approval seal certifies copies."""

    name: str
    credit_code: str
    create_seal: bool
    """Create the seal on first use (development only)."""
    base_url: str


@dataclass(frozen=True)
class UseCopy:
    """A sealed use-copy and what it carries."""

    pdf: bytes
    file_name: str
    identifier: str
    signed_sha256: str
    fields: tuple[str, ...]
    original_attached: bool


def signed_revision_digest(pdf: bytes) -> str:
    """SHA-256 of the bytes the copy's one signature covers (``/ByteRange [0 a b c]``:
    the file up to ``b + c``, ISO 32000-1 §12.8.1), as verification computes it."""
    signatures = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    if len(signatures) != 1:
        raise RegistryError("a use-copy must carry exactly one signature")
    start, first, second, length = (int(value) for value in
                                    signatures[0].sig_object["/ByteRange"])
    if start != 0 or not 0 < first < second or second + length > len(pdf):
        raise RegistryError("the use-copy's signature does not frame its revision")
    return hashlib.sha256(pdf[:second + length]).hexdigest()


class UseCopyService:
    """Use-copies, inside the caller's unit of work (which commits)."""

    def __init__(self, session: Session, *, issuance: IssuanceService, files: FileStore,
                 renderer: LicenceRenderer, seals: SealService, stamping: StampService,
                 audit: AuditLog, platform: Platform) -> None:
        self._session = session
        self._issuance = issuance
        self._files = files
        self._renderer = renderer
        self._seals = seals
        self._stamping = stamping
        self._audit = audit
        self._platform = platform

    def _use(self, check_id: str, identifier: str, client_id: str
             ) -> tuple[LicenceCheck, LicenceUse]:
        check = self._session.get(LicenceCheck, check_id)
        if check is None or check.client_id != client_id:
            raise UseCopyNotFoundError(f"no check {check_id!r}")
        use = self._session.scalar(select(LicenceUse).where(LicenceUse.check_id == check.id)
                                   .where(LicenceUse.identifier == identifier))
        if use is None:
            raise UseCopyNotFoundError(f"check {check_id} disclosed no licence {identifier!r}")
        return check, use

    def make(self, check_id: str, identifier: str, *, client_id: str, client_name: str,
             actor: str, at: datetime) -> UseCopy:
        """A use-copy of ``identifier`` for one of ``client_id``'s checks (steps above)."""
        check, use = self._use(check_id, identifier, client_id)
        licence = self._session.get(Licence, use.licence_id)
        licence_type = self._session.get(LicenceType, licence.type_id) if licence else None
        assert licence is not None and licence_type is not None
        status = effective_status(licence, LicenceSealer.today(at))
        if status is not LicenceStatus.VALID:
            raise LicenceNoLongerValidError(
                f"licence {licence.identifier} is {status.value} now; no use-copy is made",
                hint="run a new check: it reports the holder's current licences")
        self._issuance.ensure_sealed(licence, at=at)
        assert licence.pdf_sha256 is not None
        item = self._session.get(ServiceItem, use.item_code)
        attach = bool(item is not None and item.use_copy_original)
        fields = tuple(use.fields)
        platform = self._platform
        view = licence_view(licence, licence_type, disclosed=fields,
                            verify_url=verify_url(platform.base_url, licence.identifier))
        document = use_copy_document(
            view, UseCopyMarks(purpose=check.purpose, case_number=check.case_number,
                               client_name=client_name, at=at),
            renderer=self._renderer, original=self._files.get(licence.pdf_sha256),
            attach_original=attach, attachment_name=f"{licence.identifier}.pdf")
        seal = platform_seal(self._session, self._seals, org_name=platform.name,
                             credit_code=platform.credit_code, at=at,
                             create=platform.create_seal)
        file_name = f"{licence.identifier}.use-copy.pdf"
        stamped = self._stamping.stamp(
            StampRequest(
                seal_id=seal.id,
                options=StampOptions(placement=Placement(visible=BoxPlacement(
                    page=1, box=_SEAL_BOX)), level=SignatureLevel.B_T, certify=True),
                case_number=check.case_number,
                purpose=f"加注件：{check.purpose}"[:_MAX_PURPOSE],
                document_name=file_name,
            ),
            document, client_id=None, actor=actor, at=at,
        )
        pdf = stamped.result.pdf
        signed = signed_revision_digest(pdf)
        self._session.add(LicenceUseCopy(
            use_id=use.id, licence_id=licence.id, identifier=licence.identifier,
            signed_sha256=signed, fields=list(fields), original_attached=attach,
            client_id=client_id, made_at=at))
        use.use_copy_sha256 = stamped.output_sha256
        self._audit.append(actor=actor, action="licence.use_copy_made", object_type="licence",
                           object_id=licence.identifier, at=at,
                           details={"check": check.id, "sha256": stamped.output_sha256,
                                    "signed_sha256": signed, "fields": list(fields),
                                    "original_attached": attach})
        return UseCopy(pdf=pdf, file_name=file_name, identifier=licence.identifier,
                       signed_sha256=signed, fields=fields, original_attached=attach)
