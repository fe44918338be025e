"""Degreed connector: awards become verified completions (API v2, OAuth client credentials)."""

from connectors.degreed.connector import DegreedConnector
from connectors.degreed.payload import content_external_id

__all__ = ["DegreedConnector", "content_external_id"]
