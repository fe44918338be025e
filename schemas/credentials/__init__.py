"""marshmallow schemas of the credential domain's inputs (achievements, awards, pathways)."""
