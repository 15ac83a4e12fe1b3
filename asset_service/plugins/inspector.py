"""The engine's ``ContentInspector`` port implemented on pluggy: the registered plugins, the
checks made when one is registered (hooks, asset types and buckets), and the hook calls that
sniff, validate, describe and notify. ``loading.load_plugins`` builds it at start."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pluggy

from asset_service.engine.content_safety import is_svg
from asset_service.engine.errors import AssetServiceError, UnprocessableContent, UnsupportedContent
from asset_service.engine.events import Event
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import TEMP_BUCKET, AssetType, Dimensions
from asset_service.engine.preview_types import Previewer

from . import hookspecs
from .builtin import check_svg
from .builtin._common import reason_of
from .errors import PluginConfigError
from .identify import identify

logger = logging.getLogger(__name__)


_BUCKET_NAME = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_TYPE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,39}$")


@dataclass(frozen=True, slots=True)
class LoadedPlugin:
    name: str
    origin: str
    plugin: Any
    options: Mapping[str, Any]


def new_plugin_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    pm.add_hookspecs(hookspecs)
    return pm


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

    def safe_inline(self, mime_type: str, content: bytes) -> bool:
        """SVG: the built-in SVG check, the one the image plugin validates uploads with (no
        scripts, event handlers, entities or outside references). No other type is judged
        here."""
        if not is_svg(mime_type):
            return False
        try:
            check_svg(content)
        except UnprocessableContent as error:
            logger.info("a stored SVG is not shown inline: %s", error.reason)
            return False
        return True

    def notify(self, event: Event) -> None:
        # One by one, so that a failing plugin does not keep the event from the others.
        for impl in reversed(self.pm.hook.on_event.get_hookimpls()):
            try:
                impl.function(*[{"event": event}[arg] for arg in impl.argnames])
            except Exception:
                logger.exception("plugin %r failed in on_event(%s)", impl.plugin_name, event.name)
