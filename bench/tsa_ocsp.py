"""Time-stamp tokens/s and OCSP responses/s over HTTP on loopback.

    python -m bench.tsa_ocsp [--quick] [--database-url postgresql://...]

Starts ``zhengyin serve`` with one worker per core, then drives POST /tsa and POST /ocsp
with a closed-loop asyncio client (which shares the machine's cores with the server).
"""

from __future__ import annotations

import argparse
import hashlib
import os
import tempfile
from pathlib import Path

from asn1crypto import algos, ocsp, tsp
from asn1crypto import x509 as asn1_x509

from .loadgen import closed_loop
from .server import running_server


def _tsa_request() -> bytes:
    request = tsp.TimeStampReq({
        "version": "v1",
        "message_imprint": {
            "hash_algorithm": algos.DigestAlgorithm({"algorithm": "sha256"}),
            "hashed_message": hashlib.sha256(os.urandom(32)).digest(),
        },
        "nonce": int.from_bytes(os.urandom(8), "big"),
        "cert_req": True,
    })
    return bytes(request.dump())


def _ocsp_request(issuer: asn1_x509.Certificate, serial: int) -> bytes:
    cert_id = ocsp.CertId({
        "hash_algorithm": {"algorithm": "sha1"},
        "issuer_name_hash": hashlib.sha1(issuer.subject.dump()).digest(),
        "issuer_key_hash": issuer.public_key.sha1,
        "serial_number": serial,
    })
    request = ocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}})
    return bytes(request.dump())


def main() -> None:
    """Run the benchmark and print rates."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="3 s per measurement")
    parser.add_argument("--database-url", default=None)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    seconds = 3.0 if args.quick else 15.0
    workers = os.cpu_count() or 1

    with tempfile.TemporaryDirectory() as tmp, running_server(
        Path(tmp), database_url=args.database_url, workers=workers
    ) as server:
        credential = server.cli("client", "add", "--name", "bench", "--role", "intake").strip()
        headers = {"Authorization": f"Bearer {credential}",
                   "Content-Type": "application/timestamp-query"}
        import httpx

        issuer = asn1_x509.Certificate.load(
            httpx.get(f"{server.base_url}/pki/ca/issuing.crt").content)
        seal = server.cli("pki", "issue-seal", "--org-name", "基准测试局",
                          "--credit-code", "11100000000013338W", "--seal-name", "基准测试章")
        serial = int(seal.split()[2], 16)
        ocsp_body = _ocsp_request(issuer, serial)

        print(f"# {workers} server workers, {args.concurrency} concurrent clients, "
              f"{seconds:.0f} s each, database {args.database_url or 'SQLite'}")
        tsa = closed_loop(
            lambda c: c.post(f"{server.base_url}/tsa", content=_tsa_request(), headers=headers),
            concurrency=args.concurrency, seconds=seconds,
        )
        print(tsa.line("time-stamp tokens (POST /tsa)"))
        ocsp_result = closed_loop(
            lambda c: c.post(f"{server.base_url}/ocsp", content=ocsp_body,
                             headers={"Content-Type": "application/ocsp-request"}),
            concurrency=args.concurrency, seconds=seconds,
        )
        print(ocsp_result.line("OCSP responses (POST /ocsp)"))


if __name__ == "__main__":
    main()
