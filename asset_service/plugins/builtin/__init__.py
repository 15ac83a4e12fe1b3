"""The built-in type plugins. Each is registered by name, the way an installed plugin is: the
values below are entry-point references (``module:object``), loaded like those of the
``asset_service.plugins`` entry-point group and configured from ``plugins.toml`` the same way."""

BUILTIN_PLUGINS: dict[str, str] = {
    "audio": "asset_service.plugins.builtin.audio:AudioPlugin",
    "image": "asset_service.plugins.builtin.image:ImagePlugin",
    "video": "asset_service.plugins.builtin.video:VideoPlugin",
    "document": "asset_service.plugins.builtin.document:DocumentPlugin",
}


def check_svg(data: bytes) -> None:
    """Raise ``UnprocessableContent`` unless ``data`` is an SVG the image plugin would accept:
    no scripts, event handlers, entities or references outside the file. Blocking (it parses
    XML): call it in a worker thread. The plugin inspector's ``safe_inline`` runs it on stored
    SVGs before the engine lets one be shown inline."""
    from ._svg import check

    check(data)
