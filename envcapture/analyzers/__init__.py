"""Analysers: entry points, import extraction, module resolution, classification, tracing."""
