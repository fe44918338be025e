"""Why a launch was refused: a reason for the log and a short text for the person."""

from __future__ import annotations


class LaunchRefused(Exception):
    """A refused LTI message. `public` is safe to show; `reason` goes to the log only."""

    def __init__(self, public: str, *, reason: str | None = None, status: int = 400) -> None:
        super().__init__(reason or public)
        self.public = public
        self.reason = reason or public
        self.status = status
