"""Data: study preparation, pair manifests and loading."""
