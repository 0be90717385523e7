"""The ``berg`` command line."""
