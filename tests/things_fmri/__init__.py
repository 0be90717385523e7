"""Tests of the THINGS-fMRI1 plugin (berg_fmri_things)."""
