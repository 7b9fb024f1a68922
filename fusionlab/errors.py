"""One exception family for everything a user can fix.

Entry points catch :class:`FusionlabError` and print its message alone (the traceback only with
``HYDRA_FULL_ERROR=1`` or ``verbose=true``). Each subclass is one family of failure; the message
always names the file or option involved and says what to do.
"""


class FusionlabError(Exception):
    """Base class of every user-facing error."""


class ConfigError(FusionlabError):
    """A config value or combination of options is invalid."""


class DataError(FusionlabError):
    """A data file is missing, malformed, or disagrees with another one."""


class UnsafePickleError(DataError):
    """A pickle asked to build an object outside the allowed set (arrays and plain containers)."""


class CheckpointError(FusionlabError):
    """A checkpoint is missing, corrupt, or belongs to another model or vocabulary."""


class StorageError(FusionlabError):
    """A file could not be written: the disk or quota is full, or the folder is not writable."""


class NumericalError(FusionlabError):
    """A loss became NaN/inf or training diverged."""

