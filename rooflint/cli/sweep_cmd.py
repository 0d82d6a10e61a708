"""`rooflint sweep` (being ported to the new core)."""
