"""This database's random installation id (made once, on first use, then never changed).

Why a random id stored in the database rather than a key derived from the secret key
(HKDF of MICROCRED_SECRET_KEY): the collisions to avoid are between installations that share
a target, and the most common such pair is a database recreated from scratch (or a staging
copy) running with the *same* configuration, hence the same secret key. A secret-derived key
would repeat every idempotency key of the old database there; a random id stored with the
data does not. It also survives a secret-key rotation unchanged and needs no key plumbing
into the award listeners. (A database restored from a backup keeps its id, as it keeps its
award ids: it is the same installation.)
"""

from __future__ import annotations

import secrets

from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from lti_tool.models import Installation
from lti_tool.models.installation import INSTALLATION_ROW


def installation_id(session: Session) -> str:
    """The installation id, created in ``session``'s transaction if there is none yet.

    ``session.get`` answers from the identity map after the first call in a session. Two
    transactions creating it at once (PostgreSQL): the loser's insert fails in its own
    savepoint and it reads the winner's row, which then has committed.
    """
    found = session.get(Installation, INSTALLATION_ROW)
    if found is not None:
        return found.installation_id
    created = Installation(id=INSTALLATION_ROW, installation_id=secrets.token_hex(32))
    try:
        with session.begin_nested():
            session.add(created)
    except IntegrityError:
        found = session.get(Installation, INSTALLATION_ROW, populate_existing=True)
        if found is None:  # pragma: no cover - the winner's row is committed by now
            raise
        return found.installation_id
    return created.installation_id
