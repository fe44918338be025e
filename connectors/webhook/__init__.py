"""Standard Webhooks connector: signed JSON POSTs to a customer's endpoint."""

from connectors.webhook.connector import PING_EVENT_TYPE, WebhookConnector

__all__ = ["PING_EVENT_TYPE", "WebhookConnector"]
