"""berg plugin: Natural Scenes Dataset fMRI encoding models."""

__version__ = "0.1.0"
