"""The session's one error type, apart so that its helper modules can raise it too."""


class SessionError(ValueError):
    """A command that cannot apply to this session (the session is unchanged)."""
