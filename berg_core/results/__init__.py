"""Results: Zarr result stores, write locks, the xarray accessor and plotting."""
