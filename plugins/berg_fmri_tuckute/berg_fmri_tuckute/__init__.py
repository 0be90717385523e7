"""berg plugin: fmri-tuckute_2024-GPT2_XL, sentences -> the language network's six fROIs (Tuckute et al. 2024)."""

__version__ = "0.1.0"
