"""The registry's own seal: the organisation operating Zhengyin seals use-copies with it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from zhengyin.signing.models import Seal, SealStatus, SealType
from zhengyin.signing.seals import SealRequest, SealService

from .errors import RegistryError

__all__ = ["platform_seal"]


def platform_seal(session: Session, seals: SealService, *, org_name: str, credit_code: str,
                  at: datetime, create: bool) -> Seal:
    """The platform's active approval seal; created here when ``create`` (development)."""
    seal = session.scalar(
        select(Seal).where(Seal.org_credit_code == credit_code)
        .where(Seal.seal_type == SealType.APPROVAL).where(Seal.status == SealStatus.ACTIVE)
        .where(Seal.valid_from <= at).where(Seal.valid_until > at)
        .order_by(Seal.created_at.desc()).limit(1)
    )
    if seal is not None:
        return seal
    if not create:
        raise RegistryError(
            f"the platform ({org_name}, {credit_code}) has no active approval seal",
            hint="create one with: zhengyin seal create --type approval "
                 f"--credit-code {credit_code}",
        )
    return seals.create(SealRequest(org_name=org_name, credit_code=credit_code,
                                    seal_type=SealType.APPROVAL, name=f"{org_name}证照专用章"),
                        at=at, actor="system")
