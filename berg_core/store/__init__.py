"""Model stores: locations, caching and fetching, manifests, weights, the native Zarr layout."""
