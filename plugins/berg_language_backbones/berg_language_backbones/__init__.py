"""berg plugin: Hugging Face language backbones (GPT-2 XL, OPT-1.3B) for language encoding models."""

__version__ = "0.1.0"
