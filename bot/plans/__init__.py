"""Plans in: the canonical plan format, its importers and the seed converters."""
