"""Running models: loading through the owning plugin (and the factory that loads a model again anywhere), and the batch loop over stimuli, locally or on a Dask cluster."""
