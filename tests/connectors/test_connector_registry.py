"""Connector discovery through entry points, in-process registration and validation."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, ClassVar

import pytest
import requests
from marshmallow import Schema, fields

from connectors.base import AwardEvent, Connector, Outcome, Result
from connectors.registry import ENTRY_POINT_GROUP, Registry, RegistryError
from connectors.settings import SettingsError
from connectors.testing import REQUIRE_ENTRY_POINTS_ENV, ConnectorContract, ContractWarning
from connectors.webhook import WebhookConnector
from connectors.xapi import XapiConnector

# The lines the project's pyproject.toml declares (kept in one place for this test).
BUILT_IN_ENTRY_POINTS = {
    "webhook": "connectors.webhook:WebhookConnector",
    "xapi": "connectors.xapi:XapiConnector",
}


class DemoSchema(Schema):
    url = fields.URL(required=True)
    token = fields.String(required=True, metadata={"secret": True})


class DemoConnector(Connector):
    key = "demo"
    capabilities: ClassVar[frozenset[str]] = frozenset({"credential.awarded"})
    settings_schema = DemoSchema

    def check(self) -> Result:
        return Result(Outcome.DELIVERED)

    def push(self, event: AwardEvent) -> Result:
        return Result(Outcome.DELIVERED)

    def revoke(self, event: AwardEvent) -> Result:
        return Result(Outcome.DELIVERED)


def install_distribution(
    root: Path, name: str, entry_points: dict[str, str], group: str = ENTRY_POINT_GROUP
) -> None:
    """Write a minimal installed distribution (dist-info with entry_points.txt) under root."""
    info = root / f"{name}-1.0.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n")
    lines = "\n".join(f"{key} = {value}" for key, value in entry_points.items())
    (info / "entry_points.txt").write_text(f"[{group}]\n{lines}\n")


@pytest.fixture
def site(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.syspath_prepend(str(tmp_path))
    return tmp_path


def test_entry_points_are_discovered_and_validated(site: Path) -> None:
    group = "microcred.connectors.test-discovery"
    install_distribution(site, "microcred_builtin_fake", BUILT_IN_ENTRY_POINTS, group)
    registry = Registry(group)
    assert dict(registry.all()) == {"webhook": WebhookConnector, "xapi": XapiConnector}
    assert registry.get("xapi") is XapiConnector
    assert registry.source("webhook").startswith("entry point webhook = ")
    assert registry.errors() == {}


def test_broken_plugins_do_not_hide_the_others(site: Path) -> None:
    group = "microcred.connectors.test-broken"
    install_distribution(
        site,
        "third_party_fake",
        {
            "webhook": "connectors.webhook:WebhookConnector",
            "missing": "no_such_module_for_microcred:Thing",
            "renamed": "connectors.xapi:XapiConnector",
            "notaclass": "connectors.registry:ENTRY_POINT_GROUP",
        },
        group,
    )
    registry = Registry(group)
    assert list(registry.all()) == ["webhook"]
    with pytest.raises(RegistryError, match="cannot load: ModuleNotFoundError"):
        registry.get("missing")
    with pytest.raises(RegistryError, match="key is 'xapi'; it must equal the entry-point name"):
        registry.get("renamed")
    with pytest.raises(RegistryError, match="not a Connector subclass"):
        registry.get("notaclass")
    assert set(registry.errors()) == {"missing", "renamed", "notaclass"}


def test_in_process_registration() -> None:
    registry = Registry(discover=False)
    assert registry.register(DemoConnector) is DemoConnector
    assert registry.get("demo") is DemoConnector
    assert registry.source("demo") == "registered in-process"
    registry.register(DemoConnector)  # the same class again is harmless
    with pytest.raises(RegistryError, match="already provided"):
        registry.register(type("Other", (DemoConnector,), {}), name="demo")
    registry.unregister("demo")
    with pytest.raises(RegistryError, match=r"no connector 'demo' \(available: none\)"):
        registry.get("demo")


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"key": "Demo"}, "lower-case"),
        ({"capabilities": {"credential.awarded"}}, "frozenset of str"),
        ({"capabilities": frozenset({1})}, "frozenset of str"),
        ({"settings_schema": dict}, "marshmallow Schema"),
    ],
)
def test_invalid_classes_are_refused(changes: dict[str, Any], message: str) -> None:
    broken = type("Broken", (DemoConnector,), changes)
    with pytest.raises(RegistryError, match=message):
        Registry(discover=False).register(broken, name=changes.get("key", "demo"))


def test_abstract_and_foreign_classes_are_refused() -> None:
    class Half(Connector):
        key = "half"
        capabilities: ClassVar[frozenset[str]] = frozenset()
        settings_schema = DemoSchema

    with pytest.raises(RegistryError, match="abstract methods left: check, push, revoke"):
        Registry(discover=False).register(Half)  # type: ignore[type-abstract]
    with pytest.raises(RegistryError, match="not a Connector subclass"):
        Registry(discover=False).register(dict, name="dict")  # type: ignore[arg-type]


def test_settings_are_validated_through_the_schema() -> None:
    registry = Registry(discover=False)
    registry.register(DemoConnector)
    assert registry.validate_settings("demo", {"url": "https://x.example"}, {"token": "t"}) == {
        "url": "https://x.example",
        "token": "t",
    }
    with pytest.raises(SettingsError) as caught:
        registry.validate_settings("demo", {"url": "nope"})
    assert caught.value.errors == {
        "url": ["Not a valid URL."],
        "token": ["Missing data for required field."],
    }
    assert str(caught.value) == "token: Missing data for required field.; url: Not a valid URL."


def test_connector_construction_validates_settings() -> None:
    with requests.Session() as session, pytest.raises(SettingsError, match="token: Is a secret"):
        DemoConnector({"url": "https://x.example", "token": "t"}, {}, session)


class _WebhookKeyProbe(ConnectorContract):
    connector_class = WebhookConnector


def test_contract_checks_the_installed_entry_point(
    site: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the entry points installed, the contract's key check needs no fallback."""
    if "webhook" not in Registry().entry_points():
        install_distribution(site, "microcred_entry_points_fake", BUILT_IN_ENTRY_POINTS)
    monkeypatch.setenv(REQUIRE_ENTRY_POINTS_ENV, "1")
    with warnings.catch_warnings():
        warnings.simplefilter("error", ContractWarning)
        _WebhookKeyProbe().test_key_matches_entry_point()


def test_contract_fails_without_entry_point_when_required(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    class Unlisted(DemoConnector):
        key = "unlisted_demo"

    class Probe(ConnectorContract):
        connector_class = Unlisted

    monkeypatch.setenv(REQUIRE_ENTRY_POINTS_ENV, "1")
    with pytest.raises(pytest.fail.Exception, match=r"no 'microcred\.connectors' entry point"):
        Probe().test_key_matches_entry_point()
    monkeypatch.delenv(REQUIRE_ENTRY_POINTS_ENV)
    with pytest.warns(ContractWarning, match="only in-process registration was checked"):
        Probe().test_key_matches_entry_point()
