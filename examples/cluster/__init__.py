"""Actors of examples/cluster.yaml."""
