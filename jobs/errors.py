"""The one exception hierarchy: messages say what went wrong, where, and what to do."""


class OfferlakeError(Exception):
    """Base of every error a user can act on; the CLI prints it as one red line."""

    exit_code = 1


class ConfigError(OfferlakeError):
    """A file in conf/ is missing, unreadable or has a wrong key or value."""


class SetupError(OfferlakeError):
    """Something `make setup` provides is missing (jars, virtual environment)."""


class ZoneAccessError(OfferlakeError):
    """A job touched a zone its side of the trust boundary may not touch."""


class StageFailedError(OfferlakeError):
    """A stage ran but part of it failed (a feed, a table); its report says which."""
