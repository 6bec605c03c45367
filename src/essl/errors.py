"""Errors that are part of essl's interface.

Every error a user can cause (bad audio, a malformed manifest, an unknown config key) is an
:class:`EsslError` whose message names the offending item and the fix. The CLI prints it
without a traceback and exits with :data:`EXIT_USER_ERROR`.
"""

EXIT_USER_ERROR = 2


class EsslError(Exception):
    """A problem with the user's input; the message names the item and the fix."""


class ConfigError(EsslError):
    """An invalid config value, unknown key or mistyped override."""


class ManifestError(EsslError):
    """A malformed manifest line or entry."""


class AudioError(EsslError):
    """Audio that cannot be used: missing, corrupt, empty, non-finite, wrong rate or channels."""
