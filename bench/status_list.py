"""Status lists for 1.2 M licences: compressed size, build and sign time, update latency.

    python -m bench.status_list [--quick] [--licences N]

Licences are spread over lists of 2^20 entries of 4 bits (registry/statuslists.py), at
random indices, each list filled to about three quarters before the next opens, with a
realistic share of statuses: revoked 2 %, superseded 8 %, expired 5 %, suspended 0.3 %,
lost 0.5 %, the rest valid. For each list it prints the size of ``lst`` (zlib level 9)
and of the whole token, and the time to build the array, compress it and sign the token
(ES256). A status change becomes visible at ``GET /status-lists/{id}`` at the next
request after its commit: the route rebuilds the token when the list's version moved, so
the update latency is one rebuild (printed), plus the query for the list's non-valid
entries (measured at the route by tests/verify/test_status_lists.py).
"""

from __future__ import annotations

import argparse
import random
import time
from datetime import UTC, datetime

import jwt
from cryptography.hazmat.primitives.asymmetric import ec

from zhengyin.registry.statuslists import LIST_SIZE
from zhengyin.trust.statuslist import StatusValue, compress_entries, status_list_claims

SHARES = ((StatusValue.INVALID, 0.02), (StatusValue.SUPERSEDED, 0.08),
          (StatusValue.EXPIRED, 0.05), (StatusValue.SUSPENDED, 0.003),
          (StatusValue.LOST, 0.005))
FILL = 0.75


def _lists(licences: int, rng: random.Random) -> list[list[tuple[int, int]]]:
    """Per list, its non-valid entries (index, value) at random indices."""
    lists = []
    left = licences
    while left > 0:
        used = min(left, int(LIST_SIZE * FILL))
        indices = rng.sample(range(LIST_SIZE), used)
        entries, start = [], 0
        for value, share in SHARES:
            count = int(used * share)
            entries += [(index, int(value)) for index in indices[start:start + count]]
            start += count
        lists.append(entries)
        left -= used
    return lists


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="100 k licences")
    parser.add_argument("--licences", type=int, default=None)
    args = parser.parse_args()
    licences = args.licences or (100_000 if args.quick else 1_200_000)
    key = ec.generate_private_key(ec.SECP256R1())
    rng = random.Random(13)
    lists = _lists(licences, rng)
    print(f"{licences:,} licences over {len(lists)} list(s) of {LIST_SIZE:,} entries "
          f"(4 bits, {LIST_SIZE // 2 // 1024} KiB uncompressed each)")
    total = 0
    for number, entries in enumerate(lists, start=1):
        started = time.perf_counter()
        lst = compress_entries(LIST_SIZE, entries)
        built = time.perf_counter()
        claims = status_list_claims(uri=f"https://zz.example/status-lists/{number}", lst=lst,
                                    at=datetime.now(UTC), lifetime_seconds=86400,
                                    ttl_seconds=300)
        token = jwt.encode(claims, key, algorithm="ES256", headers={"typ": "statuslist+jwt"})
        signed = time.perf_counter()
        total += len(token)
        print(f"list {number}: {len(entries):,} non-valid entries; lst {len(lst) / 1024:7.1f} "
              f"KiB, token {len(token) / 1024:7.1f} KiB; build+compress "
              f"{(built - started) * 1000:6.1f} ms, sign {(signed - built) * 1000:5.1f} ms; "
              f"update latency (one rebuild) {(signed - started) * 1000:6.1f} ms")
    print(f"all lists: {total / 1024:.1f} KiB of tokens")


if __name__ == "__main__":
    main()
