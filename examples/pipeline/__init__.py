"""Actors of the pipeline example (examples/pipeline.yaml)."""
