"""Asset Service: one service that owns every file a product handles."""

__version__ = "0.1.0"
