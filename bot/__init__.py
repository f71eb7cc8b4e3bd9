"""actionbot: chases the leads of multi-agency action plans and escalates what stays quiet."""

__version__ = "0.1.0"
