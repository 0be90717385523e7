"""berg plugin: TVSD (THINGS Ventral Stream Spiking Dataset) Utah-array encoding models."""

__version__ = "0.1.0"
