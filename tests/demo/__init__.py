"""Tests of berg demo, the synthetic-store writer, result pictures and the .berg accessor per plugin."""
