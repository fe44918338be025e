"""Settings of the Workday connector (``connectors.workday``)."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, post_load, validate

from schemas.connectors.common import TargetURL, timeout_field

VERSION_PATTERN = r"^v\d{1,3}\.\d{1,2}$"  # Workday web service versions: v41.0, v46.2
WORKER_ID_TYPES = ("Employee_ID", "Contingent_Worker_ID", "WID")
REVOCATION_MODES = ("end_date", "remove")
HR_ID_KEY = r"^[a-z][a-z0-9_]{0,62}$"


class WorkdaySettingsSchema(Schema):
    """A Workday tenant's web service endpoint and its Integration System User (ISU)."""

    tenant_url = TargetURL(
        metadata={
            "description": "The tenant's SOAP base URL, "
            "https://{host}/ccx/service/{tenant} (the service name and version are added)."
        },
    )
    version = fields.String(
        load_default="v41.0",
        validate=validate.Regexp(VERSION_PATTERN, error="Must look like v41.0."),
        metadata={"description": "Workday web service version (bsvc:version)."},
    )
    username = fields.String(
        required=True,
        validate=validate.Length(min=1, max=256),
        metadata={"description": "The Integration System User, usually ISU_name@tenant."},
    )
    password = fields.String(
        required=True,
        validate=validate.Length(min=1),
        metadata={"secret": True, "description": "The Integration System User's password."},
    )
    worker_id_type = fields.String(
        load_default="Employee_ID",
        validate=validate.OneOf(WORKER_ID_TYPES),
        metadata={"description": "How Workday identifies the worker (Role_Reference ID type)."},
    )
    worker_id_source = fields.String(
        load_default="employee_id",
        validate=validate.Regexp(HR_ID_KEY, error="Must be an HR identifier key."),
        metadata={"description": "Which of the learner's HR identifiers holds that ID."},
    )
    issuer = fields.String(
        required=True,
        validate=validate.Length(min=1, max=255),
        metadata={"description": "Issuer shown on the worker's certification."},
    )
    certification_ids = fields.Dict(
        keys=fields.String(validate=validate.Length(min=1)),
        values=fields.String(validate=validate.Length(min=1, max=255)),
        load_default=dict,
        metadata={
            "description": "Achievement URL -> Workday Certification_ID of a catalog "
            "certification; achievements not listed are sent by name and issuer."
        },
    )
    revocation = fields.String(
        load_default="end_date",
        validate=validate.OneOf(REVOCATION_MODES),
        metadata={
            "description": "end_date: set Expiration_Date to the withdrawal date; "
            "remove: delete the worker's certification."
        },
    )
    auto_complete = fields.Boolean(
        load_default=True,
        metadata={"description": "Business_Process_Parameters Auto_Complete and Run_Now."},
    )
    timeout = timeout_field()

    @post_load
    def _normalise(self, data: dict[str, Any], **_: Any) -> dict[str, Any]:
        data["tenant_url"] = data["tenant_url"].rstrip("/")
        return data
