"""Builders: lock files, wheelhouse, local-code bundle, image layers."""
