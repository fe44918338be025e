"""Workday connector: awards as worker certifications through the Talent web service."""

from connectors.workday.connector import WorkdayConnector

__all__ = ["WorkdayConnector"]
