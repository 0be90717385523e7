"""Tests of the THINGS EEG2 plugin (a package, so module names never clash with other test folders)."""
