"""The domain: the asset model, the actors, access policy and the ports (blob store, the
catalog protocols, content inspection).

This package never imports Quart nor ``asset_service.plugins``.
"""

from ._cleanup import CleanupReport as CleanupReport
from ._upload import UploadHandle as UploadHandle
from ._upload import UploadProgress as UploadProgress
from ._upload import UploadSpec as UploadSpec
from .blobstore import BlobInfo as BlobInfo
from .blobstore import BlobStore as BlobStore
from .catalog import AssetQuery as AssetQuery
from .catalog import AssetRecords as AssetRecords
from .catalog import AssetSearch as AssetSearch
from .catalog import Catalog as Catalog
from .catalog import Folders as Folders
from .catalog import Leases as Leases
from .catalog import Page as Page
from .catalog import UploadSessions as UploadSessions
from .engine import AssetEngine as AssetEngine
from .engine import EngineConfig as EngineConfig
from .engine import open_engine as open_engine
from .fields import NewAssetFields as NewAssetFields
from .inspection import ContentInspector as ContentInspector
from .inspection import Description as Description
from .inspection import Detected as Detected
from .model import Asset as Asset
from .model import Principal as Principal
from .model import Role as Role
from .model import Visibility as Visibility
from .search import SortOrder as SortOrder
