"""berg plugin: THINGS-fMRI1 encoding models."""

__version__ = "0.1.0"
