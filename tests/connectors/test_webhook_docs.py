"""The receiver example in docs/connectors/webhook.md works with the connector."""

from __future__ import annotations

import base64
import os
import re
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from werkzeug.serving import make_server

from connectors.base import EventType, Outcome
from connectors.testing import follow_up, sample_event
from connectors.webhook import WebhookConnector

DOC = Path(__file__).resolve().parents[2] / "docs" / "connectors" / "webhook.md"
SECRET = "whsec_" + base64.b64encode(os.urandom(32)).decode()


def example_code() -> str:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), re.DOTALL)
    assert len(blocks) == 1, "webhook.md should hold exactly one Python example"
    return blocks[0]


@pytest.fixture
def example(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[dict[str, Any], str]]:
    monkeypatch.setenv("MICROCRED_WEBHOOK_SECRETS", SECRET)
    namespace: dict[str, Any] = {"__name__": "webhook_receiver_example"}
    exec(compile(example_code(), str(DOC), "exec"), namespace)  # noqa: S102 - our own docs
    server = make_server("127.0.0.1", 0, namespace["app"], threaded=True)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05})
    thread.start()
    try:
        yield namespace, f"http://127.0.0.1:{server.server_port}/hooks/microcred"
    finally:
        server.shutdown()
        thread.join(timeout=5)


def test_documented_receiver_accepts_dedupes_and_orders(
    example: tuple[dict[str, Any], str],
) -> None:
    namespace, url = example
    with requests.Session() as session:
        connector = WebhookConnector({"url": url}, {"secrets": [SECRET]}, session)
        assert connector.check().outcome is Outcome.DELIVERED
        award = sample_event()
        revocation = follow_up(award, EventType.REVOKED)
        assert connector.revoke(revocation).ok  # arrives first: out of order
        assert connector.push(award).ok
        assert connector.push(award).ok  # retried delivery
    assert namespace["processed_ids"] == {award.idempotency_key, revocation.idempotency_key}
    assert namespace["latest_sequence"] == {award.award_id: revocation.sequence}


def test_documented_receiver_refuses_bad_signatures(
    example: tuple[dict[str, Any], str],
) -> None:
    namespace, url = example
    other = "whsec_" + base64.b64encode(os.urandom(32)).decode()
    with requests.Session() as session:
        result = WebhookConnector({"url": url}, {"secrets": [other]}, session).push(sample_event())
        forged = session.post(
            url,
            data=b'{"type":"credential.awarded"}',
            headers={"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,AAAA"},
            timeout=5,
        )
    assert result.outcome is Outcome.UNAUTHORIZED
    assert forged.status_code == 401
    assert namespace["processed_ids"] == set()
