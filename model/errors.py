"""Exceptions the model layer raises for problems a user can fix."""


class ModelLoadError(Exception):
    """A model directory or checkpoint cannot be used; the message says why, in one line."""
