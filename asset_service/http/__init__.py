"""The HTTP API: a Quart-Trio app served by Hypercorn."""

from .app import create_app as create_app
