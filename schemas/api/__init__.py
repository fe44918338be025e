"""marshmallow schemas of the REST API (`/api/v1`): inputs refuse unknown fields (422)."""
