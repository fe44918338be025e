"""Error (and status) bodies of the OB 3.0 API: ``Imsx_StatusInfo`` (spec §6.4)."""

from __future__ import annotations

from typing import Any, Final

#: HTTP status -> (imsx_codeMajor, imsx_codeMinorFieldValue), as the spec pairs them.
_BY_STATUS: Final = {
    400: ("failure", "invalid_data"),
    401: ("failure", "unauthorizedrequest"),
    403: ("failure", "forbidden"),
    404: ("failure", "not_found"),
    405: ("failure", "not_allowed"),
    406: ("failure", "not_acceptable"),
    500: ("failure", "internal_server_error"),
}


def status_info(status: int, description: str, *, code_minor: str | None = None) -> dict[str, Any]:
    major, minor = _BY_STATUS.get(status, ("failure", "unknown"))
    return {
        "imsx_codeMajor": major,
        "imsx_severity": "error",
        "imsx_description": description,
        "imsx_codeMinor": {
            "imsx_codeMinorField": [
                {
                    "imsx_codeMinorFieldName": "TargetEndSystem",
                    "imsx_codeMinorFieldValue": code_minor or minor,
                }
            ]
        },
    }
