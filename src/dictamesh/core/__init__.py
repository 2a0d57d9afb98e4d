"""Core vocabulary: models, errors, settings and request context."""
