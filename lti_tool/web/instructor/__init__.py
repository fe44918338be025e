"""Instructor pages: the course's achievements, awarding (one, several, CSV, roster),
and the life of an award (suspend, reinstate, revoke).

Instructors and administrators only; every query is scoped to the session's platform
(tenant) and course. Every POST carries the session's CSRF token. One blueprint
(`instructor`, under `/app/instructor`), its views in one module per job:

- `achievements`: list, create, show (who earned it), edit, archive
- `awarding`: award by hand to learners picked from the course
- `bulk_csv`: CSV upload, dry run, confirmation
- `roster_award`: the whole roster, fetched with NRPS
- `awards`: one award, suspend / reinstate / revoke
"""

from __future__ import annotations

from ...lti.nrps import roster
from . import achievements, awarding, awards, bulk_csv, roster_award
from .blueprint import bp

__all__ = ["achievements", "awarding", "awards", "bp", "bulk_csv", "roster", "roster_award"]
