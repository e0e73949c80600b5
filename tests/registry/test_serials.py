"""Serial counters: one per type, issuer and year, created at first use, bumped atomically."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

from sqlalchemy import select

from zhengyin.api.runtime import Runtime
from zhengyin.registry.models import SerialCounter

from .conftest import BUSINESS_TYPE, FOOD_TYPE, MARKET


def _allocate(runtime: Runtime, type_code: str, year: int, count: int = 1) -> int:
    with runtime.unit_of_work() as services:
        return runtime.serials.allocate(services.session, type_code, MARKET, year, count)


def test_a_new_counter_starts_at_one(runtime: Runtime) -> None:
    assert _allocate(runtime, FOOD_TYPE, 2031) == 1


def test_a_block_of_serials_is_followed_by_the_next_free_one(runtime: Runtime) -> None:
    first = _allocate(runtime, FOOD_TYPE, 2032, count=5)
    assert _allocate(runtime, FOOD_TYPE, 2032) == first + 5


def test_each_type_and_year_counts_on_its_own(runtime: Runtime) -> None:
    _allocate(runtime, FOOD_TYPE, 2033, count=3)
    assert _allocate(runtime, BUSINESS_TYPE, 2033) == 1
    assert _allocate(runtime, FOOD_TYPE, 2034) == 1
    with runtime.unit_of_work(readonly=True) as services:
        counters = services.session.scalars(
            select(SerialCounter).where(SerialCounter.year.in_([2033, 2034]))
            .order_by(SerialCounter.year, SerialCounter.type_code)).all()
    assert [(c.type_code, c.year, c.next_value) for c in counters] == [
        (BUSINESS_TYPE, 2033, 2), (FOOD_TYPE, 2033, 4), (FOOD_TYPE, 2034, 2)]


def test_concurrent_first_uses_of_a_counter_share_it_without_repeats(runtime: Runtime) -> None:
    with ThreadPoolExecutor(8) as pool:  # an allocation that fails re-raises here
        got = list(pool.map(lambda _: _allocate(runtime, FOOD_TYPE, 2035), range(8)))
    assert sorted(got) == list(range(1, 9))
