"""The plugin manager: ``plugins.toml``, the built-in and installed plugins, and the engine's
``ContentInspector`` port implemented on pluggy.

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

Any mistake is a ``PluginConfigError`` (a ``ConfigError``: the CLI prints it and exits 2) that
names the plugin, the option or the hook.
"""

from __future__ import annotations

import importlib.metadata
import inspect
import logging
import re
import tomllib
import types
import typing
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pluggy

from asset_service.config import ConfigError
from asset_service.engine.errors import AssetServiceError, UnprocessableContent, UnsupportedContent
from asset_service.engine.events import Event
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import TEMP_BUCKET, AssetType, Dimensions
from asset_service.engine.preview_types import Previewer

from . import hookspecs
from .builtin import BUILTIN_PLUGINS
from .builtin._common import reason_of
from .identify import identify

logger = logging.getLogger(__name__)

#: the entry-point group installed plugins register under
ENTRY_POINT_GROUP = "asset_service.plugins"
#: where the configuration is read from when ``ASSET_PLUGINS_CONFIG`` is not set; a missing
#: file at this default path means "every plugin with its defaults", any other missing path
#: is an error
DEFAULT_CONFIG = Path("plugins.toml")
_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


class PluginConfigError(ConfigError):
    """A mistake in ``plugins.toml`` or in a plugin, found at start."""


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


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    name: str
    origin: str
    plugin: Any
    options: Mapping[str, Any]


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


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


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


# --- the ContentInspector port ------------------------------------------------------------


def _merge(results: Iterable[Description | None]) -> Description:
    merged = Description()
    for result in results:
        if result is None:
            continue
        if not isinstance(result, Description):
            raise TypeError(f"extract_metadata returned {type(result).__name__}, not Description")
        if merged.duration is None and result.duration is not None:
            merged.duration = float(result.duration)
        if merged.dimensions is None and isinstance(result.dimensions, Dimensions):
            merged.dimensions = result.dimensions
        for key, value in (result.extracted or {}).items():
            if key != "format":  # the service's own: the detected format
                merged.extracted.setdefault(key, value)
    return merged


class PluginInspector:
    """Implements ``asset_service.engine.inspection.ContentInspector`` by calling the hooks.

    Errors: a domain error (``UnprocessableContent``, ``UnsupportedContent``…) raised by a
    plugin reaches the client as it is; any other exception from ``validate`` or
    ``extract_metadata`` is logged with its traceback and rejects the upload with a 422 (the
    bytes made a plugin fail: they are not a file this service can take), never a 500.
    """

    def __init__(self, plugins: Iterable[LoadedPlugin]) -> None:
        self.pm = new_plugin_manager()
        self.plugins: dict[str, LoadedPlugin] = {}
        for plugin in plugins:
            self._register(plugin)
        self._check()
        self._types = self._collect_types()
        logger.info(
            "plugins: %s; asset types: %s",
            ", ".join(f"{p.name} ({p.origin})" for p in self.plugins.values()) or "none",
            ", ".join(sorted(self._types)) or "none",
        )

    # --- set-up ----------------------------------------------------------------------

    def register(self, plugin: Any, name: str) -> None:
        """Add a plugin object after start, with the checks of start-up (tests, embedding).
        Its asset types are added too; the engine creates buckets only when it starts."""
        if name in self.plugins:
            raise PluginConfigError(f"a plugin named {name!r} is already registered")
        self._register(LoadedPlugin(name, "registered", plugin, {}))
        try:
            self._check()
            self._types = self._collect_types()
        except BaseException:
            self.unregister(name)
            raise

    def unregister(self, name: str) -> None:
        """Remove a plugin by name (and the asset types it brought)."""
        if self.plugins.pop(name, None) is not None:
            self.pm.unregister(name=name)
            self._types = self._collect_types()

    def _register(self, loaded: LoadedPlugin) -> None:
        try:
            self.pm.register(loaded.plugin, name=loaded.name)
        except (pluggy.PluginValidationError, ValueError) as error:
            raise PluginConfigError(f"plugin {loaded.name!r} ({loaded.origin}): {error}") from error
        self.plugins[loaded.name] = loaded

    def _check(self) -> None:
        try:
            self.pm.check_pending()
        except pluggy.PluginValidationError as error:
            known = ", ".join(sorted(self.hook_names()))
            raise PluginConfigError(
                f"plugin {self.pm.get_name(error.plugin)!r}: {error} (the hooks: {known})"
            ) from error
        # These are called one implementation at a time (to know whose types are whose,
        # and so that one failing listener does not silence the others): no wrappers.
        for hook in (self.pm.hook.asset_types, self.pm.hook.on_event, self.pm.hook.previewers):
            for impl in hook.get_hookimpls():
                if impl.hookwrapper or impl.wrapper:
                    raise PluginConfigError(
                        f"plugin {impl.plugin_name!r}: {hook.name} may not be a hook wrapper"
                    )

    @staticmethod
    def hook_names() -> list[str]:
        """Every hook of the plugin API."""
        return sorted(
            name
            for name, value in vars(hookspecs).items()
            if callable(value) and hasattr(value, f"{hookspecs.PROJECT_NAME}_spec")
        )

    def _collect_types(self) -> dict[str, AssetType]:
        collected: dict[str, AssetType] = {}
        owners: dict[str, str] = {}
        buckets: dict[str, str] = {TEMP_BUCKET: "the service (temporary uploads)"}
        for impl in self.pm.hook.asset_types.get_hookimpls():
            plugin = impl.plugin_name
            try:
                declared = list(impl.function() or ())
            except Exception as error:
                raise PluginConfigError(
                    f"plugin {plugin!r}: asset_types failed: {error}"
                ) from error
            for asset_type in declared:
                if not isinstance(asset_type, AssetType):
                    raise PluginConfigError(
                        f"plugin {plugin!r}: asset_types must return AssetType values, "
                        f"not {type(asset_type).__name__}"
                    )
                name, bucket = asset_type.name, asset_type.bucket
                if not _TYPE_NAME.match(name):
                    raise PluginConfigError(
                        f"plugin {plugin!r}: asset type name {name!r} must be lower-case "
                        "letters, digits, '-' or '_', starting with a letter"
                    )
                if name in owners:
                    raise PluginConfigError(
                        f"the asset type {name!r} is declared by both {owners[name]!r} and "
                        f"{plugin!r}"
                    )
                if not _BUCKET_NAME.match(bucket) or ".." in bucket:
                    raise PluginConfigError(
                        f"plugin {plugin!r}: bucket {bucket!r} of type {name!r} is not a valid "
                        "bucket name (3-63 lower-case letters, digits, '-' and '.')"
                    )
                if bucket in buckets:
                    raise PluginConfigError(
                        f"plugin {plugin!r}: bucket {bucket!r} of type {name!r} is already "
                        f"used by {buckets[bucket]}"
                    )
                if asset_type.max_size is not None and asset_type.max_size < 1:
                    raise PluginConfigError(
                        f"plugin {plugin!r}: max_size of {name!r} must be positive"
                    )
                owners[name] = plugin
                buckets[bucket] = f"{plugin!r}"
                collected[name] = asset_type
        return collected

    # --- the port --------------------------------------------------------------------

    def asset_types(self) -> dict[str, AssetType]:
        return dict(self._types)

    def sniff(self, head: bytes, filename: str) -> Detected | None:
        """The first plugin's recognition; content nobody recognises is refused here, with
        what it looks like (``UnsupportedContent``), rather than answered ``None``."""
        try:
            detected = self.pm.hook.sniff(head=head, filename=filename)
        except AssetServiceError:
            raise
        except Exception:
            # A plugin's bug: ask the others one by one, without the failing one.
            detected = self._sniff_one_by_one(head, filename)
        if isinstance(detected, Detected):
            return detected
        if detected is not None:
            logger.error("a plugin's sniff returned %r, not a Detected", type(detected).__name__)
        label, builtin_type = identify(head)
        if builtin_type is not None and builtin_type not in self._types:
            raise UnsupportedContent(
                f"{builtin_type} assets are not enabled here; detected: {label}"
            )
        raise UnsupportedContent(
            f"the content is of no type this service stores; detected: {label}"
        )

    def _sniff_one_by_one(self, head: bytes, filename: str) -> Detected | None:
        arguments = {"head": head, "filename": filename}
        for impl in reversed(self.pm.hook.sniff.get_hookimpls()):
            if impl.hookwrapper or impl.wrapper:
                continue
            try:
                result = impl.function(*[arguments[name] for name in impl.argnames])
            except AssetServiceError:
                raise
            except Exception:
                logger.exception("plugin %r failed in sniff", impl.plugin_name)
                continue
            if result is not None:
                return result
        return None

    def validate(self, path: Path, detected: Detected) -> None:
        try:
            self.pm.hook.validate(path=path, detected=detected)
        except AssetServiceError:
            raise
        except Exception as error:
            logger.exception("a plugin failed validating a %s file", detected.format)
            raise UnprocessableContent(
                f"the {detected.format.upper()} file could not be read: {reason_of(error, path)}"
            ) from None

    def describe(self, path: Path, detected: Detected) -> Description:
        try:
            return _merge(self.pm.hook.extract_metadata(path=path, detected=detected))
        except AssetServiceError:
            raise
        except Exception as error:
            logger.exception("a plugin failed describing a %s file", detected.format)
            raise UnprocessableContent(
                f"the {detected.format.upper()} file could not be read: {reason_of(error, path)}"
            ) from None

    def previewers(self, asset_type: str, mime_type: str) -> list[Previewer]:
        """Every plugin's previewers for this content, later-registered plugins first; a
        failing plugin is logged and offers none."""
        found: list[Previewer] = []
        for impl in reversed(self.pm.hook.previewers.get_hookimpls()):
            arguments = {"asset_type": asset_type, "mime_type": mime_type}
            try:
                result = impl.function(*[arguments[arg] for arg in impl.argnames])
            except Exception:
                logger.exception("plugin %r failed in previewers", impl.plugin_name)
                continue
            for previewer in result or ():
                if isinstance(previewer, Previewer):
                    found.append(previewer)
                else:
                    logger.error(
                        "plugin %r: previewers returned %r, not a Previewer",
                        impl.plugin_name,
                        type(previewer).__name__,
                    )
        return found

    def notify(self, event: Event) -> None:
        # One by one, so that a failing plugin does not keep the event from the others.
        for impl in reversed(self.pm.hook.on_event.get_hookimpls()):
            try:
                impl.function(*[{"event": event}[arg] for arg in impl.argnames])
            except Exception:
                logger.exception("plugin %r failed in on_event(%s)", impl.plugin_name, event.name)
