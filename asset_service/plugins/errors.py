"""The plugin package's own error: a mistake in ``plugins.toml`` or in a plugin, found at start.

Not a ``config.ConfigError``: the plugins know nothing of the service's settings. The
composition root (``wiring.make_inspector``) turns it into one, so the CLI exits 2 for it.
"""

from __future__ import annotations


class PluginConfigError(ValueError):
    """A mistake in ``plugins.toml`` or in a plugin, found at start; the message names the
    plugin, the option or the hook."""
