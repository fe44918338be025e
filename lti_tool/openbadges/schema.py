"""Validate credentials against the 1EdTech OB 3.0 achievement-credential JSON schema.

The schema (draft 2019-09) is bundled in ``schemas/`` so the installed package validates offline.
``format`` keywords are asserted (``date-time`` needs a timezone, so a date without one fails
here even when a proof check passes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import cache
from importlib import resources
from typing import Any

from jsonschema import Draft201909Validator, FormatChecker

ACHIEVEMENT_CREDENTIAL_SCHEMA_FILE = "ob_v3p0_achievementcredential_schema.json"

_format_checker = FormatChecker()


@_format_checker.checks("date-time", raises=ValueError)
def _is_datetime(value: object) -> bool:
    # RFC 3339 date-time with a mandatory offset; jsonschema's own check needs an extra package.
    if not isinstance(value, str):
        return True
    text = value.upper()
    if "T" not in text or not (text.endswith("Z") or text[-6] in "+-"):
        return False
    datetime.fromisoformat(text.replace("Z", "+00:00"))
    return True


@cache
def achievement_credential_schema() -> Mapping[str, Any]:
    text = (
        resources.files(__package__)
        .joinpath("schemas", ACHIEVEMENT_CREDENTIAL_SCHEMA_FILE)
        .read_text(encoding="utf-8")
    )
    schema: dict[str, Any] = json.loads(text)
    return schema


@cache
def _validator() -> Draft201909Validator:
    schema = achievement_credential_schema()
    Draft201909Validator.check_schema(schema)
    return Draft201909Validator(schema, format_checker=_format_checker)


@dataclass(frozen=True, slots=True)
class SchemaResult:
    valid: bool
    errors: tuple[str, ...]

    def __bool__(self) -> bool:
        return self.valid


def validate_achievement_credential(credential: Mapping[str, Any]) -> SchemaResult:
    """All schema violations, each as ``"<json path>: <message>"``."""
    errors = sorted(
        (f"{error.json_path}: {error.message}" for error in _validator().iter_errors(credential)),
    )
    return SchemaResult(not errors, tuple(errors))
