"""SAP SuccessFactors connector: awards as Employee Profile background entries (OData v2)."""

from connectors.successfactors.connector import SuccessFactorsConnector

__all__ = ["SuccessFactorsConnector"]
