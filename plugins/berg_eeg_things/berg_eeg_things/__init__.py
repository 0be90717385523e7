"""berg plugin: THINGS EEG2 encoding models."""

__version__ = "0.1.0"
