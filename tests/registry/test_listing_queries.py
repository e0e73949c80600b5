"""A page of licences costs a fixed number of statements, however many rows it holds."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event

from zhengyin.api.runtime import Runtime

from .conftest import food_request


@contextmanager
def _counted(runtime: Runtime) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        statements.append(statement)

    event.listen(runtime.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(runtime.engine, "before_cursor_execute", count)


def test_a_page_of_linked_licence_versions_costs_as_many_statements_as_a_page_of_one(
        http: Any, registry: Runtime, market: dict[str, str]) -> None:
    # Each changed licence links to its successor and back: the links that used to cost
    # two point reads per row.
    for n in range(3):
        first = http.post("/licences", json=food_request(), headers=market).json()
        fields = {**food_request()["fields"], "premises": f"北京市朝阳区建国路{90 + n}号"}
        changed = http.post(f"/licences/{first['identifier']}/change", headers=market,
                            json={"reason": "经营场所变更", "fields": fields})
        assert changed.status_code == 201, changed.text
    http.get("/licences?limit=1", headers=market)  # warm: the client, the type version

    # The first version alone, then the next four: their neighbours lie outside the page
    # (A1 | A2 B1 B2 C1 | C2), so nothing is spared by rows the page loaded itself.
    with _counted(registry) as one:
        small = http.get("/licences?limit=1", headers=market).json()
    with _counted(registry) as four:
        page = http.get(f"/licences?limit=4&after={small['next_after']}",
                        headers=market).json()["licences"]

    assert len(small["licences"]) == 1 and len(page) == 4
    assert page[0]["previous"] == small["licences"][0]["identifier"]
    assert page[-1]["superseded_by"] is not None
    assert len(four) == len(one)
