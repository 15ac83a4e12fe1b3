"""Asset-type plugins: the hooks, loading them, the built-in plugins.

What a plugin author imports comes from here::

    from asset_service.plugins import AssetType, Description, Detected, hookimpl

Implements the engine's ``ContentInspector`` port (``inspector.PluginInspector``); the engine
never imports this package.
"""

from asset_service.engine.errors import UnprocessableContent as UnprocessableContent
from asset_service.engine.errors import UnsupportedContent as UnsupportedContent
from asset_service.engine.events import Event as Event
from asset_service.engine.inspection import SNIFF_BYTES as SNIFF_BYTES
from asset_service.engine.inspection import Description as Description
from asset_service.engine.inspection import Detected as Detected
from asset_service.engine.model import AssetType as AssetType
from asset_service.engine.model import Dimensions as Dimensions
from asset_service.engine.preview_types import NoPreview as NoPreview
from asset_service.engine.preview_types import Previewer as Previewer
from asset_service.engine.preview_types import PreviewRequest as PreviewRequest
from asset_service.engine.preview_types import RenderedPreview as RenderedPreview

from .hookspecs import hookimpl as hookimpl
from .hookspecs import hookspec as hookspec
