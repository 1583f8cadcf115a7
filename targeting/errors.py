"""Errors shared by the jobs and their engines (the CLI maps each to an exit code)."""

from __future__ import annotations


class BadInputError(ValueError):
    """Too many malformed rows, or unusable input: exit code 2."""


class ScaleoutError(RuntimeError):
    """The Ray engine lost or duplicated requests: an internal error (exit code 1)."""
