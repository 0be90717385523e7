"""``berg demo``: synthetic stores, procedural images, one pass over every installed model."""
