"""Whole-store operations that consult the plugin registry: convert, download, pre-generated responses, synthetic stores."""
