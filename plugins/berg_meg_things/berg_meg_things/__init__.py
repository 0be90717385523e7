"""berg plugin: THINGS-MEG1 encoding models."""

__version__ = "0.1.0"
