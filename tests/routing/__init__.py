"""Routing tests."""
