"""Find connectors: the ``microcred.connectors`` entry-point group, plus in-process registration.

Built-in and third-party connectors are declared the same way, in their distribution's
metadata::

    [project.entry-points."microcred.connectors"]
    webhook = "connectors.webhook:WebhookConnector"

Every entry point is loaded lazily, on the first lookup, and validated: it must be a
:class:`~connectors.base.Connector` subclass whose ``key`` equals the entry-point name. A
broken plug-in does not hide the others; looking it up raises :class:`RegistryError` with
the reason. Tests (and embedders) can :meth:`Registry.register` classes in-process.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from types import MappingProxyType
from typing import Any

from marshmallow import Schema

from connectors.base import Connector
from connectors.settings import load_settings

ENTRY_POINT_GROUP = "microcred.connectors"
KEY_PATTERN = re.compile(r"^[a-z][a-z0-9_]{0,62}$")


class RegistryError(LookupError):
    """A connector that cannot be found, loaded or accepted."""


def validate_connector_class(obj: object, name: str) -> type[Connector]:
    """``obj`` if it is a usable connector class registered under ``name``; else raise."""
    if not isinstance(obj, type) or not issubclass(obj, Connector):
        raise RegistryError(f"connector {name!r}: {obj!r} is not a Connector subclass")
    key = getattr(obj, "key", None)
    if key != name:
        raise RegistryError(
            f"connector {name!r}: {obj.__qualname__}.key is {key!r}; "
            "it must equal the entry-point name"
        )
    if not KEY_PATTERN.match(name):
        raise RegistryError(f"connector {name!r}: keys are lower-case letters, digits and _")
    capabilities = getattr(obj, "capabilities", None)
    if not isinstance(capabilities, frozenset) or any(
        not isinstance(item, str) for item in capabilities
    ):
        raise RegistryError(f"connector {name!r}: capabilities must be a frozenset of str")
    schema = getattr(obj, "settings_schema", None)
    if not isinstance(schema, type) or not issubclass(schema, Schema):
        raise RegistryError(f"connector {name!r}: settings_schema must be a marshmallow Schema")
    if getattr(obj, "__abstractmethods__", None):
        missing = ", ".join(sorted(obj.__abstractmethods__))
        raise RegistryError(f"connector {name!r}: abstract methods left: {missing}")
    return obj


class Registry:
    """Connector classes by key."""

    def __init__(self, group: str = ENTRY_POINT_GROUP, *, discover: bool = True) -> None:
        self.group = group
        self._discover = discover
        self._loaded = False
        self._lock = threading.RLock()
        self._classes: dict[str, type[Connector]] = {}
        self._broken: dict[str, str] = {}
        self._sources: dict[str, str] = {}

    # -- registration -----------------------------------------------------------------------

    def register(self, cls: type[Connector], name: str | None = None) -> type[Connector]:
        """Register ``cls`` in-process under ``name`` (default: its key); returns ``cls``."""
        self._ensure_loaded()
        name = name if name is not None else getattr(cls, "key", "")
        validate_connector_class(cls, name)
        self._add(name, cls, source="registered in-process")
        return cls

    def unregister(self, name: str) -> None:
        self._ensure_loaded()
        self._classes.pop(name, None)
        self._broken.pop(name, None)
        self._sources.pop(name, None)

    def _add(self, name: str, cls: type[Connector], *, source: str) -> None:
        existing = self._classes.get(name)
        if existing is not None and existing is not cls:
            raise RegistryError(
                f"connector {name!r} is already provided by {self._sources[name]} "
                f"({existing.__module__}.{existing.__qualname__})"
            )
        self._classes[name] = cls
        self._sources[name] = source
        self._broken.pop(name, None)

    # -- discovery --------------------------------------------------------------------------

    def entry_points(self) -> dict[str, EntryPoint]:
        """The group's entry points by name (the first distribution wins on duplicates)."""
        found: dict[str, EntryPoint] = {}
        for entry_point in entry_points(group=self.group):
            found.setdefault(entry_point.name, entry_point)
        return found

    def _ensure_loaded(self) -> None:
        if self._loaded:
            return
        # Worker threads may look a connector up at the same moment: one of them loads,
        # the others wait instead of seeing a half-filled registry.
        with self._lock:
            if self._loaded:
                return
            if self._discover:
                for name, entry_point in self.entry_points().items():
                    self._load(name, entry_point)
            self._loaded = True

    def _load(self, name: str, entry_point: EntryPoint) -> None:
        dist = entry_point.dist.name if entry_point.dist is not None else "unknown distribution"
        source = f"entry point {name} = {entry_point.value} ({dist})"
        try:
            cls = validate_connector_class(entry_point.load(), name)
        except RegistryError as exc:
            self._broken[name] = f"{source}: {exc}"
            return
        except Exception as exc:  # a plug-in's import error must not hide the other plug-ins
            self._broken[name] = f"{source}: cannot load: {type(exc).__name__}: {exc}"
            return
        self._add(name, cls, source=source)

    # -- lookup -----------------------------------------------------------------------------

    def get(self, key: str) -> type[Connector]:
        self._ensure_loaded()
        if key in self._classes:
            return self._classes[key]
        if key in self._broken:
            raise RegistryError(self._broken[key])
        known = ", ".join(sorted(self._classes)) or "none"
        raise RegistryError(f"no connector {key!r} (available: {known})")

    def all(self) -> Mapping[str, type[Connector]]:
        self._ensure_loaded()
        return MappingProxyType(dict(sorted(self._classes.items())))

    def errors(self) -> Mapping[str, str]:
        """Entry points that failed to load, with the reason."""
        self._ensure_loaded()
        return MappingProxyType(dict(self._broken))

    def source(self, key: str) -> str:
        """Where ``key`` came from (an entry point or in-process registration)."""
        self.get(key)
        return self._sources[key]

    def validate_settings(
        self, key: str, settings: Mapping[str, Any], secrets: Mapping[str, Any] | None = None
    ) -> dict[str, Any]:
        """Settings + secrets validated by ``key``'s schema; raises ``SettingsError``."""
        return load_settings(self.get(key).settings_schema, settings, secrets or {})


default_registry = Registry()


def get(key: str) -> type[Connector]:
    """The connector class registered under ``key`` in the default registry."""
    return default_registry.get(key)


# Shadows the builtin inside this module on purpose (``registry.all()``); use ``any`` above.
def all() -> Mapping[str, type[Connector]]:
    """Every connector class in the default registry, by key."""
    return default_registry.all()


def register(cls: type[Connector], name: str | None = None) -> type[Connector]:
    """Register ``cls`` in the default registry (for tests and embedders)."""
    return default_registry.register(cls, name)


def validate_settings(
    key: str, settings: Mapping[str, Any], secrets: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    return default_registry.validate_settings(key, settings, secrets)
