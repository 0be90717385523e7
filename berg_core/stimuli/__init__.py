"""Stimuli: user inputs to labelled batches, image transforms, background decoding."""
