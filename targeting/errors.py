"""Every error the product raises on purpose, in one place; the CLI maps each to an exit code
(``targeting.cli.EXIT_CODES``): bad input or usage 2, a busy workspace 75, anything else 1."""

from __future__ import annotations


class BadInputError(ValueError):
    """Too many malformed rows, or unusable input: exit code 2."""


class InputError(ValueError):
    """Unusable input (a path that matches nothing, an unsupported or unreadable file).

    The message is one line and names the path.
    """


class IndicatorBundleError(BadInputError):
    """A received indicator bundle that is malformed, too large or not STIX 2.1: exit code 2."""


class UsageProblem(ValueError):
    """A problem with what the user asked for: exit code 2."""


class WorkspaceError(RuntimeError):
    """The workspace is missing, locked or inconsistent."""


class WorkspaceLocked(WorkspaceError):
    """Another run holds the workspace lock."""


class TaxonomyError(ValueError):
    """The taxonomy file or one of its exemplar files is malformed."""


class EmbeddingError(RuntimeError):
    """The model cannot be found offline or is not in safetensors format."""


class ScaleoutError(RuntimeError):
    """The Ray engine lost or duplicated requests: an internal error (exit code 1)."""


class NoWorkspace(RuntimeError):
    """The app was given no workspace or cannot open it: shown as a message, not a traceback."""
