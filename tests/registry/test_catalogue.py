"""Licence types: definitions, versions, import and export."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from sqlalchemy import inspect
from sqlalchemy.orm.exc import DetachedInstanceError

from zhengyin.api.runtime import Runtime
from zhengyin.core.models import ClientRole
from zhengyin.registry.catalogue import TypeDefinition, TypeDefinitionError, example_definitions

from ..support import bearer
from .conftest import FOOD_TYPE, MARKET, REAL_ESTATE, food_request


def _food_definition() -> dict[str, Any]:
    return copy.deepcopy(next(d for d in example_definitions() if d["code"] == FOOD_TYPE))


def test_five_example_types_ship_with_zhengyin() -> None:
    names = {document["name"] for document in example_definitions()}
    assert {"营业执照", "食品经营许可证", "不动产权证书", "出生医学证明",
            "建筑工程施工许可证"} <= names


def test_redefining_an_unchanged_type_keeps_its_version(http: Any, registry: Runtime,
                                                        credentials: dict[ClientRole, str]
                                                        ) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    response = http.put("/admin/licence-types", json=[_food_definition()], headers=admin)
    assert response.status_code == 200, response.text
    assert response.json()[0]["version"] == 1


def test_changing_a_type_adds_a_version_and_licences_keep_theirs(
    http: Any, registry: Runtime, market: dict[str, str], credentials: dict[ClientRole, str]
) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    before = http.post("/licences", json=food_request(), headers=market).json()
    changed = _food_definition()
    changed["template"]["footer"] = "新版监制"
    versions = http.put("/admin/licence-types", json=[changed], headers=admin).json()
    assert versions[0]["version"] == 2
    after = http.post("/licences", json=food_request(), headers=market).json()
    assert (before["type_version"], after["type_version"]) == (1, 2)
    assert http.get(f"/licences/{before['identifier']}", headers=market).json()[
        "type_version"] == 1
    history = http.get(f"/licence-types/{FOOD_TYPE}", headers=market).json()
    assert [(v["version"], v["current"]) for v in history] == [(1, False), (2, True)]


def test_export_then_import_round_trips(http: Any, registry: Runtime,
                                        credentials: dict[ClientRole, str]) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    exported = http.get(f"/admin/licence-types/{FOOD_TYPE}/export", headers=admin).json()
    assert exported["issuers"] == [{"code": "11110105MB00000009",
                                    "name": "北京市朝阳区市场监督管理局"}]
    assert TypeDefinition.from_json(exported).content() == \
        TypeDefinition.from_json(_food_definition()).content()
    again = http.put("/admin/licence-types", json=[exported], headers=admin).json()
    assert again[0]["version"] == 1


@pytest.mark.parametrize(("change", "message"), [
    (lambda d: d.update(code="11100000000013338X032"), "credit code"),
    (lambda d: d.update(code="short"), "plus 3 digits"),
    (lambda d: d["fields_schema"].update(type="array"), "object schema"),
    (lambda d: d["fields_schema"]["properties"].update(x={"type": "nonsense"}), "JSON Schema"),
    (lambda d: d["template"]["fields"].append({"key": "nope", "label": "无"}), "template field"),
    (lambda d: d.update(validity={"kind": "forever"}), "validity kind"),
    (lambda d: d.update(number_pattern="{year}{nonsense}"), "unknown fields"),
    (lambda d: d.update(holder_kinds=["alien"]), "malformed"),
    (lambda d: d.pop("template"), "lacks 'template'"),
    (lambda d: d["fields_schema"]["properties"]["address"].pop("maxLength"),
     "printed field address: a string needs a maxLength"),
    (lambda d: d["fields_schema"]["properties"]["complaint_hotline"].update(
        pattern="[0-9-]{3,20}"), "printed field complaint_hotline: a string needs"),
    (lambda d: d["fields_schema"]["properties"]["business_items"].update(maxLength=100_000),
     "the printed fields at their schema's maximum lengths do not fit: .* pages"),
    (lambda d: (d["fields_schema"]["properties"].update(seats={"type": "integer"}),
                d["template"]["fields"].append({"key": "seats", "label": "座位数"})),
     "printed field seats: a number needs a minimum and a maximum"),
    (lambda d: d["template"].update(title="食品经营许可证" * 4), "template.title is wider"),
    (lambda d: d["issuers"].append({"code": "11110105MB0000003J", "name": "某" * 60}),
     "issuer name 某+ is wider"),
    (lambda d: d["template"]["fields"][0].update(label="经营者𠀀"),
     "the licence font cannot print '𠀀' of the template"),
], ids=["bad-authority-code", "bad-type-code", "schema-not-object", "invalid-schema",
        "template-unknown-field", "validity", "pattern", "holder-kind", "missing-template",
        "printed-field-unbounded", "printed-field-unanchored-pattern",
        "printed-fields-too-long-for-every-page", "printed-number-unbounded",
        "title-too-wide", "issuer-name-too-wide", "unprintable-label"])
def test_invalid_definitions_are_refused_with_a_reason(change: Any, message: str) -> None:
    definition = _food_definition()
    change(definition)
    with pytest.raises(TypeDefinitionError, match=message):
        TypeDefinition.from_json(definition)


def test_every_example_type_fits_its_own_schema() -> None:
    for document in example_definitions():
        TypeDefinition.from_json(document)  # the template check passes


def test_a_type_whose_printed_fields_are_bounded_only_by_anchored_patterns_fits() -> None:
    definition = _food_definition()
    properties = definition["fields_schema"]["properties"]
    properties["address"] = {"type": "string", "pattern": r"^\w{1,200}$"}
    TypeDefinition.from_json(definition)
    properties["address"] = {"type": "string", "pattern": r"^\w+$"}  # no upper bound
    with pytest.raises(TypeDefinitionError, match="printed field address"):
        TypeDefinition.from_json(definition)


def test_only_administrators_define_types(http: Any, registry: Runtime,
                                          market: dict[str, str]) -> None:
    response = http.put("/admin/licence-types", json=[_food_definition()], headers=market)
    assert response.status_code == 403


def test_issuers_list_the_current_types(http: Any, registry: Runtime,
                                        market: dict[str, str]) -> None:
    listed = http.get("/licence-types", headers=market).json()
    assert len(listed) == 5
    assert all(item["current"] for item in listed)


def test_an_issuer_left_out_of_a_new_definition_may_no_longer_issue(
    http: Any, registry: Runtime, market: dict[str, str], credentials: dict[ClientRole, str]
) -> None:
    admin = bearer(credentials[ClientRole.ADMIN])
    issued = http.post("/licences", json=food_request(), headers=market).json()["identifier"]
    withdrawn = _food_definition()
    withdrawn["issuers"] = []
    assert http.put("/admin/licence-types", json=[withdrawn], headers=admin).status_code == 200

    refused = http.post("/licences", json=food_request(), headers=market)

    assert refused.status_code == 403, refused.text
    assert http.get(f"/licences/{issued}", headers=market).json()["status"] == "valid"


def test_withdrawing_an_issuer_is_audited(http: Any, registry: Runtime,
                                          credentials: dict[ClientRole, str]) -> None:
    from sqlalchemy import select

    from zhengyin.core.models import AuditEntry

    withdrawn = _food_definition()
    withdrawn["issuers"] = []
    http.put("/admin/licence-types", json=[withdrawn],
             headers=bearer(credentials[ClientRole.ADMIN]))
    with registry.unit_of_work(readonly=True) as services:
        [entry] = services.session.scalars(
            select(AuditEntry).where(AuditEntry.action == "licence_type.issuer_withdrawn"))
    assert (entry.object_id, entry.details["issuer"]) == (FOOD_TYPE, "11110105MB00000009")


def test_stored_type_versions_are_kept_detached_without_their_current_flag(
        registry: Runtime) -> None:
    with registry.unit_of_work(readonly=True) as services:
        row, issuer_name = services.catalogue.current_for_issuer(FOOD_TYPE, MARKET)
    with registry.unit_of_work(readonly=True) as services:
        again, _ = services.catalogue.current_for_issuer(FOOD_TYPE, MARKET)
    assert again is row
    assert issuer_name == "北京市朝阳区市场监督管理局"
    assert inspect(row).session is None
    with pytest.raises(DetachedInstanceError):
        _ = row.current  # what moves between versions is not kept


def test_an_organisation_not_allowed_to_issue_a_type_gets_no_issuer_name(
        registry: Runtime) -> None:
    with registry.unit_of_work(readonly=True) as services:
        row, issuer_name = services.catalogue.current_for_issuer(FOOD_TYPE, REAL_ESTATE)
    assert row.code == FOOD_TYPE
    assert issuer_name is None
