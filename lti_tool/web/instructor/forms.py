"""The achievement form and the score field: what an instructor typed, as the credential
schemas want it, and the schemas' messages back on the form fields they belong to."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ...models import Achievement
from .common import opt, strings

MAX_ALIGNMENT_ROWS = 50

FORM_FIELDS = (
    "name",
    "description",
    "criteria_narrative",
    "criteria_url",
    "achievement_type",
    "tags",
    "validity_days",
    "evidence_required",
    "result_type",
    "result_name",
    "value_min",
    "value_max",
    "levels",
    "image",
)
ALIGNMENT_FIELDS = ("target_name", "target_url", "target_framework", "target_code")


def alignment_rows(form: Mapping[str, str]) -> int:
    try:
        count = int(form.get("alignment_count") or 1)
    except ValueError:
        count = 1
    return max(1, min(count, MAX_ALIGNMENT_ROWS))


def _result_description(form: Mapping[str, str]) -> dict[str, Any] | None:
    result_type = opt(form, "result_type")
    if not result_type:
        return None
    result: dict[str, Any] = {
        "result_type": result_type,
        "name": form.get("result_name", "").strip(),
    }
    if result_type == "Percent":
        result["value_min"] = opt(form, "value_min")
        result["value_max"] = opt(form, "value_max")
    else:
        levels = [line.strip() for line in form.get("levels", "").splitlines()]
        result["levels"] = [{"name": name} for name in levels if name]
    return result


def achievement_data(form: Mapping[str, str]) -> tuple[dict[str, Any], list[int]]:
    """The form as the achievement schema wants it; also which form row each alignment is."""
    alignments: list[dict[str, Any]] = []
    rows: list[int] = []
    for i in range(alignment_rows(form)):
        row = {f: opt(form, f"alignment-{i}-{f}") for f in ALIGNMENT_FIELDS}
        if any(row.values()):
            alignments.append(row)
            rows.append(i)
    data = {
        "name": form.get("name", "").strip(),
        "description": form.get("description", "").strip(),
        "criteria_narrative": opt(form, "criteria_narrative"),
        "criteria_url": opt(form, "criteria_url"),
        "achievement_type": opt(form, "achievement_type") or "MicroCredential",
        "tags": [t.strip() for t in form.get("tags", "").split(",") if t.strip()],
        "validity_days": opt(form, "validity_days"),
        "evidence_required": form.get("evidence_required") == "on",
        "result_description": _result_description(form),
        "alignments": alignments,
    }
    return data, rows


def field_errors(messages: Mapping[str, Any], rows: list[int]) -> dict[str, list[str]]:
    """marshmallow's nested messages, keyed by the name of the form field they belong to."""
    out: dict[str, list[str]] = {}

    def add(name: str, value: Any) -> None:
        out.setdefault(name, []).extend(strings(value))

    for key, value in messages.items():
        if key == "alignments" and isinstance(value, Mapping):
            for index, sub in value.items():
                if isinstance(sub, Mapping) and str(index).isdigit() and int(index) < len(rows):
                    for name, text in sub.items():
                        add(f"alignment-{rows[int(index)]}-{name}", text)
                else:
                    add("alignments", sub)
        elif key == "result_description" and isinstance(value, Mapping):
            for name, text in value.items():
                target = {"name": "result_name"}.get(name, name)
                add(target if target in FORM_FIELDS else "result_type", text)
        elif key in FORM_FIELDS or key == "alignments":
            add(key, value)
        else:
            add("_form", value)
    return out


def form_values(achievement: Achievement | None) -> dict[str, Any]:
    """The form filled in from a stored achievement (or the defaults of a new one)."""
    if achievement is None:
        return {"alignment_count": "1", "achievement_type": "MicroCredential"}
    values: dict[str, Any] = {
        "name": achievement.name,
        "description": achievement.description,
        "criteria_narrative": achievement.criteria_narrative or "",
        "criteria_url": achievement.criteria_url or "",
        "achievement_type": achievement.achievement_type,
        "tags": ", ".join(achievement.tags or []),
        "validity_days": str(achievement.validity_days or ""),
        "evidence_required": "on" if achievement.evidence_required else "",
        "alignment_count": str(len(achievement.alignments) + 1),
    }
    result = achievement.result_description or {}
    if result:
        values["result_type"] = result.get("result_type", "")
        values["result_name"] = result.get("name", "")
        values["value_min"] = "" if result.get("value_min") is None else str(result["value_min"])
        values["value_max"] = "" if result.get("value_max") is None else str(result["value_max"])
        values["levels"] = "\n".join(level["name"] for level in result.get("levels") or [])
    for i, alignment in enumerate(achievement.alignments):
        for name in ALIGNMENT_FIELDS:
            values[f"alignment-{i}-{name}"] = getattr(alignment, name) or ""
    return values


def parse_result(achievement: Achievement, raw: str | None) -> dict[str, Any] | None:
    """The `result` of an award from what an instructor typed (ValueError: what is wrong)."""
    raw = (raw or "").strip()
    if not raw:
        return None
    description = achievement.result_description
    if not description:
        raise ValueError("this achievement records no score; leave it empty")
    if description["result_type"] == "Percent":
        try:
            value = float(raw)
        except ValueError:
            raise ValueError(f"the score must be a number, not {raw[:40]!r}") from None
        low, high = description.get("value_min", 0.0), description.get("value_max", 100.0)
        if not (low <= value <= high) or value != value:
            raise ValueError(f"the score must be between {low:g} and {high:g}")
        return {"value": value}
    names = [level["name"] for level in description.get("levels") or []]
    if raw not in names:
        raise ValueError("the score must be one of: " + ", ".join(names))
    return {"level": raw}
