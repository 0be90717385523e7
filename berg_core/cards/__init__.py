"""Model cards: the pydantic schema and loading YAML cards (no torch, no plugins)."""
