"""Tests of the TVSD plugin (berg_utah_tvsd)."""
