"""Readers for upstream binary formats, written without their frameworks (no TensorFlow, no protoc)."""
