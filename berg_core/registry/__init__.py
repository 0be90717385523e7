"""Plugin mechanics: hook specifications, the plugin manager, core's default hook implementations, card validation of installed plugins."""
