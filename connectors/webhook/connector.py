"""Send award events as Standard Webhooks (https://www.standardwebhooks.com/).

Each request is ``POST {url}`` with a JSON body and three headers:

* ``webhook-id``: the event's idempotency key, identical on every retry (receivers dedupe
  on it);
* ``webhook-timestamp``: the attempt time in Unix seconds (receivers reject more than five
  minutes of skew, so it is not the event time);
* ``webhook-signature``: ``v1,<base64 HMAC-SHA256>`` of ``{id}.{timestamp}.{body}`` per
  configured secret, space-separated (two during a rotation).

The signed text is the exact body sent. ``check()`` sends a signed ``microcred.ping`` event
with a fresh ``ping_`` id; a receiver should verify it and answer 2xx without storing it.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar

import requests
from standardwebhooks import Webhook

from connectors.base import AwardEvent, Connector, EventType, Result
from connectors.http import result_from_response, send
from connectors.webhook.payload import encode, event_payload, ping_payload
from schemas.connectors.webhook import WebhookSettingsSchema

PING_EVENT_TYPE = "microcred.ping"
USER_AGENT = "Microcred-Webhooks/1"


class WebhookConnector(Connector):
    key = "webhook"
    capabilities: ClassVar[frozenset[str]] = frozenset(str(kind) for kind in EventType)
    settings_schema = WebhookSettingsSchema

    clock: ClassVar[Callable[[], float]] = time.time  # seconds since the epoch; tests pin it

    def __init__(
        self,
        settings: Mapping[str, Any],
        secrets: Mapping[str, Any],
        session: requests.Session,
    ) -> None:
        super().__init__(settings, secrets, session)
        self._signers = tuple(Webhook(secret) for secret in self.settings["secrets"])
        self._hidden = self.secret_values  # the settings are read-only: collected once

    def check(self) -> Result:
        now = datetime.fromtimestamp(int(type(self).clock()), tz=UTC)
        return self._post(f"ping_{uuid.uuid4().hex}", encode(ping_payload(now)), what="ping")

    def push(self, event: AwardEvent) -> Result:
        return self.unsupported(event, "push") or self._deliver(event)

    def revoke(self, event: AwardEvent) -> Result:
        return self.unsupported(event, "revoke") or self._deliver(event)

    def _deliver(self, event: AwardEvent) -> Result:
        payload = event_payload(
            event,
            include_credential=self.settings["include_credential"],
            share_email=self.settings["share_email"],
        )
        return self._post(event.idempotency_key, encode(payload), what=str(event.type))

    def signature(self, msg_id: str, timestamp: datetime, body: str) -> str:
        """Space-separated ``v1,`` signatures, one per configured secret."""
        return " ".join(signer.sign(msg_id, timestamp, body) for signer in self._signers)

    def _post(self, msg_id: str, body: str, *, what: str) -> Result:
        stamp = int(type(self).clock())
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            "webhook-id": msg_id,
            "webhook-timestamp": str(stamp),
            "webhook-signature": self.signature(
                msg_id, datetime.fromtimestamp(stamp, tz=UTC), body
            ),
        }
        url = self.settings["url"]
        response = send(
            self.session,
            "POST",
            url,
            timeout=self.settings["timeout"],
            what=what,
            data=body.encode("utf-8"),
            headers=headers,
        )
        if isinstance(response, Result):
            return response
        return result_from_response(response, secrets=self._hidden, what=what)
