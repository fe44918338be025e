"""Settings schemas of the built-in connectors (third-party connectors ship their own).

Secret fields carry ``metadata={"secret": True}``; see :mod:`connectors.settings`.
"""

from schemas.connectors.degreed import DegreedSettingsSchema
from schemas.connectors.successfactors import SuccessFactorsSettingsSchema
from schemas.connectors.webhook import WebhookSettingsSchema
from schemas.connectors.workday import WorkdaySettingsSchema
from schemas.connectors.xapi import XapiSettingsSchema

__all__ = [
    "DegreedSettingsSchema",
    "SuccessFactorsSettingsSchema",
    "WebhookSettingsSchema",
    "WorkdaySettingsSchema",
    "XapiSettingsSchema",
]
