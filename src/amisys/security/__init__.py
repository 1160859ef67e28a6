"""Identities, message protection, authorization and audit: the one path every message travels."""
