"""xAPI connector: award statements to any Learning Record Store (xAPI 1.0.3)."""

from connectors.xapi.connector import XapiConnector
from connectors.xapi.statements import (
    AWARD_VERB,
    STATEMENT_NAMESPACE,
    VOIDED_VERB,
    statement_id,
)

__all__ = ["AWARD_VERB", "STATEMENT_NAMESPACE", "VOIDED_VERB", "XapiConnector", "statement_id"]
