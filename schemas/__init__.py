"""marshmallow schemas only: no queries, no side effects."""
