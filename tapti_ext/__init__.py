"""Tapti SDK."""
