"""berg plugin: ecog-zada2025-gpt2_xl, words of a story -> ECoG high-gamma around each word (Zada et al. 2025)."""

__version__ = "0.1.0"
