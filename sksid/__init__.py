"""sksid."""
