"""Tariffs, billing cycles and bills."""
