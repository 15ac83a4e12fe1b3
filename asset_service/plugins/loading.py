"""Loading the plugins: ``plugins.toml``, the built-in and installed plugins, each made from its
options, handed to the ``inspector.PluginInspector`` (the engine's ``ContentInspector`` port).

Start-up (``load_plugins``), in this order:

1. read ``plugins.toml``: which plugins are enabled, and each one's options;
2. list the candidates: the built-ins (``BUILTIN_PLUGINS``, entry-point references) and every
   entry point of the group ``asset_service.plugins``, all by name;
3. load each enabled one: a class is called with its options as keyword arguments (its
   signature says which options exist and their types), a module or an object is registered
   as it is (and takes no options);
4. ``check_pending()``: a hook implementation that matches no hook (a misspelt name) is an
   error, as is a hook implementation with an argument its hook does not have;
5. collect ``asset_types`` once: a type or bucket claimed twice is an error.

Any mistake is a ``PluginConfigError`` (``plugins.errors``; the composition root makes it a
configuration error, for which the CLI exits 2) that names the plugin, the option or the hook.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .builtin import BUILTIN_PLUGINS
from .errors import PluginConfigError
from .inspector import LoadedPlugin, PluginInspector

logger = logging.getLogger(__name__)

#: the entry-point group installed plugins register under
ENTRY_POINT_GROUP = "asset_service.plugins"
#: where the configuration is read from when ``ASSET_PLUGINS_CONFIG`` is not set; a missing
#: file at this default path means "every plugin with its defaults", any other missing path
#: is an error
DEFAULT_CONFIG = Path("plugins.toml")


# --- plugins.toml ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class PluginSettings:
    enabled: bool = True
    options: Mapping[str, Any] = field(default_factory=dict)


def read_config(path: Path) -> dict[str, PluginSettings]:
    """``[plugins.NAME]`` tables: ``enabled`` (default true) and ``[plugins.NAME.options]``."""
    if not path.exists():
        if path == DEFAULT_CONFIG:
            logger.info("no %s: every plugin is enabled with its default options", path)
            return {}
        raise PluginConfigError(f"ASSET_PLUGINS_CONFIG={path}: no such file")
    try:
        with open(path, "rb") as handle:
            document = tomllib.load(handle)
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise PluginConfigError(f"{path}: {error}") from None
    for key in document:
        if key != "plugins":
            raise PluginConfigError(
                f"{path}: unknown top-level key {key!r}; plugins are configured under "
                "[plugins.NAME]"
            )
    tables = document.get("plugins", {})
    if not isinstance(tables, dict):
        raise PluginConfigError(f"{path}: 'plugins' must be a table of [plugins.NAME] tables")
    settings: dict[str, PluginSettings] = {}
    for name, table in tables.items():
        where = f"{path}: [plugins.{name}]"
        if not isinstance(table, dict):
            raise PluginConfigError(f"{where} must be a table")
        for key in table:
            if key not in ("enabled", "options"):
                raise PluginConfigError(
                    f"{where} has an unknown key {key!r}: a plugin table takes 'enabled' and "
                    f"'options' (its options go under [plugins.{name}.options])"
                )
        enabled = table.get("enabled", True)
        if not isinstance(enabled, bool):
            raise PluginConfigError(f"{where}: enabled must be true or false")
        options = table.get("options", {})
        if not isinstance(options, dict):
            raise PluginConfigError(f"{where}: options must be a table")
        settings[name] = PluginSettings(enabled, dict(options))
    return settings


# --- candidates and loading --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A plugin that could be loaded: its name, where it comes from, how to load it."""

    name: str
    entry_point: importlib.metadata.EntryPoint
    #: ``built-in`` or ``<distribution> <version>``
    origin: str


def candidates(*, installed: bool = True) -> dict[str, Candidate]:
    """The built-ins, then (unless ``installed=False``) every installed entry point."""
    found = {
        name: Candidate(
            name, importlib.metadata.EntryPoint(name, value, ENTRY_POINT_GROUP), "built-in"
        )
        for name, value in BUILTIN_PLUGINS.items()
    }
    if not installed:
        return found
    for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP):
        dist = entry_point.dist
        origin = f"{dist.name} {dist.version}" if dist is not None else entry_point.value
        if entry_point.name in found:
            if found[entry_point.name].entry_point.value == entry_point.value:
                continue  # the same plugin seen twice on sys.path
            raise PluginConfigError(
                f"two plugins are named {entry_point.name!r}: {found[entry_point.name].origin} "
                f"and {origin}; uninstall one"
            )
        found[entry_point.name] = Candidate(entry_point.name, entry_point, origin)
    return found


def _option_types(factory: Any) -> dict[str, Any]:
    try:
        return typing.get_type_hints(factory.__init__)
    except Exception:  # annotations that cannot be resolved: options are then not type-checked
        return {}


def _coerce(where: str, value: Any, hint: Any) -> Any:
    """``value`` checked against the annotation ``hint`` (TOML gives int, float, bool, str,
    lists, tables); lists become tuples where a tuple is wanted."""
    if hint is None or hint is Any:
        return value
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        errors = []
        for arg in args:
            if arg is type(None):
                continue
            try:
                return _coerce(where, value, arg)
            except PluginConfigError as error:
                errors.append(error)
        raise errors[0] if errors else PluginConfigError(f"{where}: no value is allowed")
    if hint is bool:
        if isinstance(value, bool):
            return value
        raise PluginConfigError(f"{where} must be true or false, not {value!r}")
    if hint is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise PluginConfigError(f"{where} must be an integer, not {value!r}")
    if hint is float:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        raise PluginConfigError(f"{where} must be a number, not {value!r}")
    if hint is str:
        if isinstance(value, str):
            return value
        raise PluginConfigError(f"{where} must be a string, not {value!r}")
    if hint is Path:
        if isinstance(value, str):
            return Path(value)
        raise PluginConfigError(f"{where} must be a path (a string), not {value!r}")
    if origin in (list, tuple) and args:
        if not isinstance(value, list):
            raise PluginConfigError(f"{where} must be a list, not {value!r}")
        item = args[0]
        items = [_coerce(f"{where}[{n}]", v, item) for n, v in enumerate(value)]
        return tuple(items) if origin is tuple else items
    return value


def _check_options(name: str, factory: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    parameters = {
        p.name: p
        for p in inspect.signature(factory).parameters.values()
        if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY) and not p.name.startswith("_")
    }
    known = ", ".join(sorted(parameters)) or "none"
    unknown = sorted(set(options) - set(parameters))
    if unknown:
        raise PluginConfigError(
            f"plugins.toml: plugin {name!r} has no option {unknown[0]!r} (its options: {known})"
        )
    missing = [
        p.name for p in parameters.values() if p.default is p.empty and p.name not in options
    ]
    if missing:
        raise PluginConfigError(
            f"plugins.toml: plugin {name!r} needs the option {missing[0]!r} "
            f"([plugins.{name}.options])"
        )
    hints = _option_types(factory)
    return {
        key: _coerce(f"plugins.toml: plugins.{name}.options.{key}", value, hints.get(key))
        for key, value in options.items()
    }


def load_one(candidate: Candidate, options: Mapping[str, Any]) -> LoadedPlugin:
    """Import a candidate and make its plugin object from its options."""
    name = candidate.name
    try:
        target = candidate.entry_point.load()
    except Exception as error:
        raise PluginConfigError(
            f"plugin {name!r} ({candidate.origin}) could not be loaded: "
            f"{type(error).__name__}: {error}"
        ) from error
    if inspect.isclass(target):
        checked = _check_options(name, target, options)
        try:
            plugin = target(**checked)
        except (TypeError, ValueError) as error:
            raise PluginConfigError(f"plugins.toml: plugin {name!r}: {error}") from error
        return LoadedPlugin(name, candidate.origin, plugin, checked)
    if options:
        raise PluginConfigError(
            f"plugins.toml: plugin {name!r} takes no options (it is a module, not a class)"
        )
    return LoadedPlugin(name, candidate.origin, target, {})


def load_plugins(
    config_path: Path = DEFAULT_CONFIG,
    *,
    installed: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> PluginInspector:
    """The inspector the engine is given: every enabled plugin loaded, registered and checked.

    :param config_path: ``plugins.toml`` (``Settings.plugins_config``).
    :param installed: also load the plugins of the ``asset_service.plugins`` entry points.
    :param extra: plugin objects to register besides those, by name (tests, embedding).
    """
    settings = read_config(config_path)
    available = candidates(installed=installed)
    for name in extra or {}:
        if name in available:
            raise PluginConfigError(f"a plugin named {name!r} is already known")
    unknown = sorted(set(settings) - set(available) - set(extra or {}))
    if unknown:
        raise PluginConfigError(
            f"{config_path}: unknown plugin {unknown[0]!r}: it is neither built in nor "
            f"installed under the entry-point group {ENTRY_POINT_GROUP!r} "
            f"(known: {', '.join(sorted(available))})"
        )
    loaded: list[LoadedPlugin] = []
    for name, candidate in available.items():
        setting = settings.get(name, PluginSettings())
        if setting.enabled:
            loaded.append(load_one(candidate, setting.options))
    for name, plugin in (extra or {}).items():
        if settings.get(name, PluginSettings()).enabled:
            loaded.append(LoadedPlugin(name, "extra", plugin, {}))
    return PluginInspector(loaded)
