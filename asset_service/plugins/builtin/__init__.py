"""The built-in type plugins. Each is registered by name, the way an installed plugin is: the
values below are entry-point references (``module:object``), loaded like those of the
``asset_service.plugins`` entry-point group and configured from ``plugins.toml`` the same way."""

BUILTIN_PLUGINS: dict[str, str] = {
    "audio": "asset_service.plugins.builtin.audio:AudioPlugin",
    "image": "asset_service.plugins.builtin.image:ImagePlugin",
    "video": "asset_service.plugins.builtin.video:VideoPlugin",
    "document": "asset_service.plugins.builtin.document:DocumentPlugin",
}
