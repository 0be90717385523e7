"""berg plugin: the LeBel 2023 story fMRI encoding model (``fmri-lebel2023-opt_1_3b``)."""

__version__ = "0.1.0"
