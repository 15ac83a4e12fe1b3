"""The engine's public face: what the HTTP layer, the CLI and the plugins import from it.

The domain lives in this package — the asset model, the actors, access policy and the ports —
and it never imports Quart, ``asset_service.http`` nor ``asset_service.plugins``.
"""

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
from .cleanup_actor import CleanupReport as CleanupReport
from .dependencies import EngineConfig as EngineConfig
from .engine import MAILBOX_SIZE as MAILBOX_SIZE
from .engine import AssetEngine as AssetEngine
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
from .tus import CHECKSUM_ALGORITHMS as CHECKSUM_ALGORITHMS
from .tus import Checksum as Checksum
from .tus import NewUpload as NewUpload
from .tus_concatenation import FINAL as FINAL
from .tus_concatenation import MAX_PARTIALS as MAX_PARTIALS
from .tus_concatenation import PARTIAL as PARTIAL
from .upload_actor import UploadHandle as UploadHandle
from .upload_actor import UploadProgress as UploadProgress
from .upload_actor import UploadSpec as UploadSpec
