"""offerlake jobs."""
