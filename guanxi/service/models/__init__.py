"""Models of the service app."""
