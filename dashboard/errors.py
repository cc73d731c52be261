"""Domain exceptions. Each carries a one-line message fit for the CLI and the logs."""


class Stat311Error(Exception):
    """Base class for every error stat311 reports to a user."""

    exit_code = 1


class ConfigError(Stat311Error):
    """A setting or configuration file is invalid."""

    exit_code = 2


class InputFileError(Stat311Error):
    """A file cannot be read as a whole (binary, empty, unknown header...). Nothing is loaded."""

    exit_code = 2


class StoreError(Stat311Error):
    """The store cannot be opened or migrated."""


class SnapshotMissingError(Stat311Error):
    """No read-model snapshot exists yet (nothing has been loaded)."""
