"""The batch loop that drives models over stimuli, locally or on a Dask cluster."""
