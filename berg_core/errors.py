"""The exception hierarchy.

Every error a user can cause is a :class:`BERGError`, so a notebook can catch
``BERGError`` alone. Subclasses also inherit from the built-in exception a
Python user would expect (``KeyError`` for a missing model, ``ValueError``
for a bad value), so existing ``except ValueError`` code keeps working.
"""

from __future__ import annotations

__all__ = [
    "BERGError",
    "CardError",
    "IntegrityError",
    "InvalidParameterError",
    "ModelLoadError",
    "ModelNotFoundError",
    "PluginError",
    "StimulusError",
    "StoreError",
]


class BERGError(Exception):
    """Base class of every error berg raises for something a user can fix."""


class ModelNotFoundError(BERGError, LookupError):
    """The model id is not provided by any installed plugin."""


class InvalidParameterError(BERGError, ValueError):
    """A parameter (subject, selection, device, option...) has an invalid value."""


class StimulusError(BERGError, ValueError):
    """The stimuli are not in an accepted form."""


class ModelLoadError(BERGError, RuntimeError):
    """A model or its backbone could not be built from the files available."""


class StoreError(BERGError, OSError):
    """A store location could not be read or written."""


class IntegrityError(BERGError, ValueError):
    """A file's content is not what it should be (corrupt, truncated, or unsafe)."""


class PluginError(BERGError, RuntimeError):
    """A plugin failed to load or registered something inconsistent."""


class CardError(BERGError, ValueError):
    """A model card is missing, malformed or fails validation."""
