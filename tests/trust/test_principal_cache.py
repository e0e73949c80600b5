"""The per-process cache of authenticated API clients."""

from __future__ import annotations

from zhengyin.core.clients import ROLE_SCOPES, Principal, PrincipalCache
from zhengyin.core.models import ClientRole


class _Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def _principal(client_id: str = "0123456789abcdef") -> Principal:
    return Principal(client_id=client_id, name="intake", role=ClientRole.INTAKE,
                     org_credit_code=None, scopes=ROLE_SCOPES[ClientRole.INTAKE])


CREDENTIAL = "zy.0123456789abcdef." + "s" * 43


def test_a_fresh_entry_is_returned() -> None:
    cache = PrincipalCache(5.0, clock=_Clock())
    cache.put(CREDENTIAL, _principal())

    assert cache.get(CREDENTIAL) == _principal()


def test_an_entry_expires_after_its_time_to_live() -> None:
    clock = _Clock()
    cache = PrincipalCache(5.0, clock=clock)
    cache.put(CREDENTIAL, _principal())

    clock.now += 5.0

    assert cache.get(CREDENTIAL) is None


def test_another_secret_for_the_same_client_does_not_match() -> None:
    cache = PrincipalCache(5.0, clock=_Clock())
    cache.put(CREDENTIAL, _principal())

    assert cache.get("zy.0123456789abcdef." + "t" * 43) is None


def test_forgetting_a_client_drops_all_its_entries_and_only_its() -> None:
    cache = PrincipalCache(5.0, clock=_Clock())
    other = "zy.fedcba9876543210." + "s" * 43
    cache.put(CREDENTIAL, _principal())
    cache.put(other, _principal("fedcba9876543210"))

    cache.forget("0123456789abcdef")

    assert cache.get(CREDENTIAL) is None
    assert cache.get(other) is not None


def test_a_zero_time_to_live_caches_nothing() -> None:
    cache = PrincipalCache(0.0, clock=_Clock())
    cache.put(CREDENTIAL, _principal())

    assert cache.get(CREDENTIAL) is None


def test_a_full_cache_starts_over_instead_of_growing() -> None:
    cache = PrincipalCache(5.0, max_entries=2, clock=_Clock())
    for n in range(3):
        cache.put(f"zy.{n:016x}." + "s" * 43, _principal(f"{n:016x}"))

    assert cache.get(f"zy.{2:016x}." + "s" * 43) is not None
    assert cache.get(f"zy.{0:016x}." + "s" * 43) is None
