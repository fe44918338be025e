"""Issue 2,000 credentials of one achievement for different learners on one core.

Prints credentials/s (median of several runs) for eddsa-rdfc-2022 through the template fast
path, through plain pyld (full path), and for VC-JWT (RS256 and EdDSA); then checks the
fast-path credentials with the independent JS verifier (tests/js, needs `npm ci` there).

    python benchmarks/issue.py [--count 2000] [--runs 5] [--full-count 200] [--js-sample 2000]

Pinned to one CPU with os.sched_setaffinity when available (Linux); single thread anyway.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

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


def rate(fn: Callable[[], Any], count: int, runs: int) -> tuple[float, list[float]]:
    rates = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        rates.append(count / (time.perf_counter() - start))
    return statistics.median(rates), rates


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

    def jwt_eddsa() -> None:
        for d in docs:
            vcjwt.sign(d, ed_key, kid=key.verification_method)

    print(f"python {sys.version.split()[0]}, cpu affinity {sorted(os.sched_getaffinity(0))}")
    for label, fn, n in (
        ("eddsa-rdfc-2022 fast path", fast, args.count),
        ("eddsa-rdfc-2022 plain pyld (full path)", full, len(full_docs)),
        ("VC-JWT RS256", jwt_rs256, args.count),
        ("VC-JWT EdDSA", jwt_eddsa, args.count),
    ):
        median, rates = rate(fn, n, args.runs)
        runs = ", ".join(f"{r:,.0f}" for r in rates)
        print(f"{label:42s} median {median:9,.0f} credentials/s over {n} x {args.runs} [{runs}]")

    ours = sum(1 for d in signed if DI.verify(d).verified)
    print(f"python verifier: {ours}/{len(signed)} fast-path credentials verified")
    js = js_verify(signed[: args.js_sample])
    if js is None:
        print("JS verifier: skipped (run `npm ci` in tests/js)")
    else:
        print(f"JS verifier (Digital Bazaar): {js[0]}/{js[1]} fast-path credentials verified")


if __name__ == "__main__":
    main()
