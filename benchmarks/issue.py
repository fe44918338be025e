"""Issue 2,000 credentials of one achievement for different learners on one core.

Prints credentials/s (median of several runs) for eddsa-rdfc-2022 through the template fast
path, through plain pyld (full path), and for VC-JWT (RS256 and EdDSA, ours and PyJWT's
jwt.encode for comparison); then the raw RSA-2048 PKCS#1 v1.5 signing ceiling of this core
(`cryptography` loop, and `openssl speed -seconds 3 rsa2048` when openssl is installed), which
bounds any RS256 VC-JWT rate; then checks the results: fast-path credentials with the independent
JS verifier (tests/js, needs `npm ci` there), VC-JWTs with PyJWT and with Node's crypto.

    python -m benchmarks.issue [--count 2000] [--runs 5] [--full-count 200] [--js-sample 2000]

Pinned to one CPU with os.sched_setaffinity when available (Linux); single thread anyway.
Rates are per CPU-second of the benchmark thread (robust on a shared, loaded VM), with the
wall-clock rate next to them.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from jwt.algorithms import OKPAlgorithm, RSAAlgorithm

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lti_tool.openbadges import credential as C  # noqa: E402
from lti_tool.openbadges import dataintegrity as DI  # noqa: E402
from lti_tool.openbadges import vcjwt  # noqa: E402
from lti_tool.openbadges.canonical import Canonicalizer  # noqa: E402
from lti_tool.openbadges.contexts import offline_document_loader  # noqa: E402
from lti_tool.openbadges.keys import SigningKey  # noqa: E402


def credentials(key: SigningKey, count: int) -> list[dict[str, Any]]:
    issuer = C.IssuerProfile(
        id=key.controller, name="Example University", url="https://example.edu"
    )
    achievement = C.Achievement(
        id="https://example.edu/achievements/python-101",
        name="Python 101",
        description="Introduction to programming in Python.",
        criteria_narrative="Score at least 70% in the final assessment.",
        achievement_type="MicroCredential",
        image=C.Image("https://example.edu/img/python-101.png"),
        alignments=(
            C.Alignment("Programming", "https://esco.example/skill/1", target_type="CTDL"),
        ),
        result_descriptions=(
            C.ResultDescription("https://example.edu/rd/score", "Final score", "Percent"),
        ),
    )
    now = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
    return [
        C.build_achievement_credential(
            credential_id=C.new_credential_id(),
            issuer=issuer,
            achievement=achievement,
            recipient=C.Recipient(
                email=f"learner{i}@example.edu",
                lti_user_id=f"user-{i}",
                lti_platform_id="https://canvas.example.edu",
            ),
            salt=C.new_salt(),
            valid_from=now,
            results=(C.Result("https://example.edu/rd/score", value=str(50 + i % 50)),),
            status=(
                C.StatusEntry(
                    f"https://example.edu/status/1#{i}",
                    "revocation",
                    i,
                    "https://example.edu/status/1",
                ),
            ),
        )
        for i in range(count)
    ]


def interleaved(
    jobs: list[tuple[str, Callable[[], Any], int]], runs: int
) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Rates (items/s) of every job, run in turns (job 1, job 2, ..., job 1, ...) so that a
    noisy neighbour on a shared VM slows them all alike rather than one of them.

    Returns (per CPU-second of this thread, per wall-clock second): on a loaded machine the
    CPU-time rate is what one core delivers (as `openssl speed`, which also counts CPU time).
    """
    cpu: dict[str, list[float]] = {label: [] for label, _, _ in jobs}
    wall: dict[str, list[float]] = {label: [] for label, _, _ in jobs}
    for _ in range(runs):
        for label, fn, count in jobs:
            start_cpu, start_wall = time.thread_time(), time.perf_counter()
            fn()
            cpu[label].append(count / (time.thread_time() - start_cpu))
            wall[label].append(count / (time.perf_counter() - start_wall))
    return cpu, wall


def js_verify(docs: list[dict[str, Any]]) -> tuple[int, int] | None:
    js_dir = ROOT / "tests" / "js"
    if not (js_dir / "node_modules").is_dir() or shutil.which("node") is None:
        return None
    proc = subprocess.run(
        ["node", str(js_dir / "verify.mjs"), "--now", "2026-01-01T00:00:00Z"],
        input="".join(json.dumps(d) + "\n" for d in docs),
        capture_output=True,
        text=True,
        check=True,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    return sum(1 for r in results if r["verified"]), len(results)


def js_verify_jwts(tokens: list[str], jwk: dict[str, Any]) -> tuple[int, int] | None:
    script = ROOT / "tests" / "js" / "verify_jwt.mjs"
    if shutil.which("node") is None:
        return None
    proc = subprocess.run(
        ["node", str(script)],
        input="".join(json.dumps({"token": t, "jwk": jwk}) + "\n" for t in tokens),
        capture_output=True,
        text=True,
        check=True,
    )
    results = [json.loads(line) for line in proc.stdout.splitlines()]
    return sum(1 for r in results if r["verified"]), len(results)


def openssl_rsa2048() -> str:
    """`openssl speed -seconds 3 rsa2048` sign/s on this core, or why not."""
    if shutil.which("openssl") is None:
        return "openssl not installed"
    proc = subprocess.run(
        ["openssl", "speed", "-seconds", "3", "rsa2048"],
        capture_output=True,
        text=True,
        check=False,
    )
    match = re.search(r"^rsa 2048 bits\s+\S+s\s+\S+s\s+([\d.]+)", proc.stdout, re.MULTILINE)
    return f"{float(match.group(1)):,.0f} signs/s" if match else "could not parse its output"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=2000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--full-count", type=int, default=200, help="plain pyld is slow")
    parser.add_argument("--js-sample", type=int, default=2000)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    key = SigningKey.generate_did_key()
    docs = credentials(key, args.count)
    created = "2025-06-01T12:00:00Z"
    signed: list[dict[str, Any]] = []

    def fast() -> None:
        # A fresh canonicalizer per run: the one template build is part of the measured cost.
        canon = Canonicalizer()
        signed[:] = [DI.sign(d, key, created=created, canonicalizer=canon) for d in docs]

    full_docs = docs[: args.full_count]

    def full() -> None:
        for d in full_docs:
            DI.sign(d, key, created=created, loader=offline_document_loader)

    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ed_key = Ed25519PrivateKey.generate()

    def jwt_rs256() -> None:
        for d in docs:
            vcjwt.sign(d, rsa_key, kid=f"{key.controller}#rsa")

    tokens: dict[str, list[str]] = {"RS256": [], "EdDSA": []}

    def jwt_rs256_collect() -> None:
        tokens["RS256"] = [vcjwt.sign(d, rsa_key, kid=f"{key.controller}#rsa") for d in docs]

    def jwt_eddsa() -> None:
        tokens["EdDSA"] = [vcjwt.sign(d, ed_key, kid=key.verification_method) for d in docs]

    def jwt_rs256_pyjwt() -> None:
        for d in docs:
            payload = {k: v for k, v in d.items() if k not in ("iss", "sub", "jti", "nbf")}
            payload.update(vcjwt.jwt_claims(d))
            jwt.encode(payload, rsa_key, algorithm="RS256", headers={"kid": "k#rsa"})

    # The RS256 ceiling: nothing but the RSA signature over signing inputs of the real size.
    signing_inputs = [t.rpartition(".")[0].encode() for t in [vcjwt.sign(docs[0], rsa_key, "k")]]
    pkcs1, sha256 = padding.PKCS1v15(), hashes.SHA256()

    def raw_rsa() -> None:
        data = signing_inputs[0]
        for _ in range(args.count):
            rsa_key.sign(data, pkcs1, sha256)

    print(f"python {sys.version.split()[0]}, cpu affinity {sorted(os.sched_getaffinity(0))}")
    jobs = [
        ("eddsa-rdfc-2022 fast path", fast, args.count),
        ("eddsa-rdfc-2022 plain pyld (full path)", full, len(full_docs)),
        ("VC-JWT RS256", jwt_rs256, args.count),
        ("VC-JWT RS256 via PyJWT jwt.encode", jwt_rs256_pyjwt, args.count),
        ("raw RSA-2048 PKCS#1 v1.5 sign (ceiling)", raw_rsa, args.count),
        ("VC-JWT EdDSA", jwt_eddsa, args.count),
    ]
    rates, wall = interleaved(jobs, args.runs)
    print(f"{'':42s} {'per CPU-second':>21s}  (wall clock)  runs (CPU)")
    for label, _, n in jobs:
        runs = ", ".join(f"{r:,.0f}" for r in rates[label])
        median = statistics.median(rates[label])
        wall_median = statistics.median(wall[label])
        print(f"{label:42s} median {median:9,.0f}/s  ({wall_median:8,.0f}/s)  {n} x [{runs}]")
    share = statistics.median(
        ours / ceiling
        for ours, ceiling in zip(
            rates["VC-JWT RS256"], rates["raw RSA-2048 PKCS#1 v1.5 sign (ceiling)"], strict=True
        )
    )
    print(f"{'VC-JWT RS256 / raw RSA ceiling, same turn':42s} median {share:9.0%}")

    print(f"{'openssl speed -seconds 3 rsa2048 (sign)':42s} {openssl_rsa2048()}")

    jwt_rs256_collect()
    for alg, public in (("RS256", rsa_key.public_key()), ("EdDSA", ed_key.public_key())):
        good = sum(
            1
            for t in tokens[alg]
            if jwt.decode(t, public, algorithms=[alg], options={"verify_exp": False})
        )
        print(f"PyJWT: {good}/{len(tokens[alg])} VC-JWT {alg} verified")
    jwks = {
        "RS256": json.loads(RSAAlgorithm.to_jwk(rsa_key.public_key())),
        "EdDSA": json.loads(OKPAlgorithm.to_jwk(ed_key.public_key())),
    }
    for alg, jwk in jwks.items():
        node = js_verify_jwts(tokens[alg][: args.js_sample], jwk)
        if node is None:
            print("Node crypto (verify_jwt.mjs): skipped (no node)")
        else:
            print(f"Node crypto (verify_jwt.mjs): {node[0]}/{node[1]} VC-JWT {alg} verified")

    ours = sum(1 for d in signed if DI.verify(d).verified)
    print(f"python verifier: {ours}/{len(signed)} fast-path credentials verified")
    js = js_verify(signed[: args.js_sample])
    if js is None:
        print("JS verifier: skipped (run `npm ci` in tests/js)")
    else:
        print(f"JS verifier (Digital Bazaar): {js[0]}/{js[1]} fast-path credentials verified")


if __name__ == "__main__":
    main()
