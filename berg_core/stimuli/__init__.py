"""Stimuli of every kind a card declares (images, video, sentences, timed words): user inputs to validated,
labelled batches (:mod:`berg_core.stimuli.kinds`), image transforms, background decoding."""
