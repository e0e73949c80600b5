"""Registry fixtures: the example licence types, seals for their issuers, issuer clients."""

from __future__ import annotations

from typing import Any

import pytest

from zhengyin.api.runtime import Runtime
from zhengyin.core.clock import utcnow
from zhengyin.core.models import ClientRole
from zhengyin.registry.catalogue import TypeDefinition, example_definitions
from zhengyin.signing.appearance import RoundSealSpec, render_round_seal
from zhengyin.signing.models import SealType
from zhengyin.signing.seals import SealRequest

from ..support import bearer

MARKET = "11110105MB00000009"        # 北京市朝阳区市场监督管理局: 营业执照, 食品经营许可证
REAL_ESTATE = "11110105MB0000001C"   # 不动产登记中心
HOSPITAL = "12110105MB0000002C"      # 妇幼保健院
HOUSING = "11110105MB0000003J"       # 住房和城乡建设委员会
FOOD_TYPE = "11100000000013338W032"
BUSINESS_TYPE = "11100000000013338W001"
ESTATE_TYPE = "11100000000013338W087"
BIRTH_TYPE = "11100000000013338W011"
PERMIT_TYPE = "11100000000013338W009"

_SEAL_PNG: bytes | None = None


def seal_png() -> bytes:
    """One round seal image for every test seal (drawing one costs most of a second)."""
    global _SEAL_PNG  # noqa: PLW0603 - a test-session cache
    if _SEAL_PNG is None:
        _SEAL_PNG = render_round_seal(RoundSealSpec(org_name="测试发证机关", purpose="审批专用章",
                                                    seal_code="1101050000001", dpi=300))
    return _SEAL_PNG


def food_request(**overrides: Any) -> dict[str, Any]:
    """A valid food business licence request body."""
    body: dict[str, Any] = {
        "type_code": FOOD_TYPE,
        "holder_kind": "credit-code",
        "holder_code": "91110000600037341L",
        "holder_name": "北京某某餐饮管理有限公司",
        "fields": {
            "operator_name": "北京某某餐饮管理有限公司",
            "legal_representative": "张三",
            "address": "北京市朝阳区建国路88号",
            "premises": "北京市朝阳区建国路88号1层101",
            "business_format": "餐饮服务经营者",
            "business_items": "热食类食品制售；冷食类食品制售",
        },
    }
    body.update(overrides)
    return body


@pytest.fixture
def registry(runtime: Runtime) -> Runtime:
    """The runtime with the example types and an approval seal for each example issuer."""
    install_examples(runtime)
    return runtime


def install_examples(runtime: Runtime) -> None:
    """The example licence types and an approval seal for each example issuer."""
    at = utcnow()
    with runtime.unit_of_work() as services:
        for document in example_definitions():
            services.catalogue.define(TypeDefinition.from_json(document), at=at, actor="test")
        for code, name, kind in (
            (MARKET, "北京市朝阳区市场监督管理局", SealType.APPROVAL),
            (REAL_ESTATE, "北京市朝阳区不动产登记中心", SealType.APPROVAL),
            (HOSPITAL, "北京市朝阳区妇幼保健院", SealType.OFFICIAL),
            (HOUSING, "北京市朝阳区住房和城乡建设委员会", SealType.APPROVAL),
        ):
            services.seals.create(SealRequest(org_name=name, credit_code=code, seal_type=kind,
                                              image_png=seal_png()), at=at, actor="test")


def issuer_headers(runtime: Runtime, org: str, name: str | None = None) -> dict[str, str]:
    """A credential header for an issuer client of ``org``."""
    with runtime.unit_of_work() as services:
        issued = services.clients.add(name=name or f"issuer-{org}", role=ClientRole.ISSUER,
                                      org_credit_code=org, at=utcnow(), actor="test")
    return bearer(issued.credential)


@pytest.fixture
def market(registry: Runtime) -> dict[str, str]:
    """Headers of the market regulator's issuing system."""
    return issuer_headers(registry, MARKET)
