"""Exceptions the model layer raises for problems a user can fix."""


class ModelLoadError(Exception):
    """A model directory or checkpoint cannot be used; the message says why, in one line."""


class Interrupted(Exception):
    """A forward pass into a `KVCache` abandoned between blocks because its caller's
    `should_stop()` said so; the cache is as it was before the pass."""
