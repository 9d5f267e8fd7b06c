"""offerlake offer language."""
