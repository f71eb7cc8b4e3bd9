"""Converters from the two real seed layouts (JTAI, MSCB) into the canonical plan format."""
