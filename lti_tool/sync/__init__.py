"""Sync of award events to connections: outbox, delivery engine, runners (docs/sync.md)."""

from __future__ import annotations

from .outbox import install, uninstall

__all__ = ["install", "uninstall"]
