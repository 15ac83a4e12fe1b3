"""What a blob store holds, looked at from outside the service for the crash harness
(``tests/crash_harness.py``): leftovers (temp blobs, partial writes, unfinished multipart
uploads) and the asset blobs, each with a fingerprint that changes when the blob does, so that
the harness hashes every blob once however often it checks."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from server_process import asset_blobs, temp_and_partial_files

BlobReader = Callable[[], bytes]
#: (bucket, key) -> (a fingerprint that changes when the blob does, a reader of its bytes)
BlobListing = dict[tuple[str, str], tuple[object, BlobReader]]


class FilesystemBlobs:
    """The embedded store's directory: temp area, partial writes, type buckets."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir

    def leftovers(self) -> list[str]:
        return [str(path) for path in temp_and_partial_files(self.data_dir)]

    def asset_blobs(self) -> BlobListing:
        listing: BlobListing = {}
        for where, path in asset_blobs(self.data_dir).items():
            stat = path.stat()
            listing[where] = ((stat.st_size, stat.st_mtime_ns, stat.st_ino), path.read_bytes)
        return listing


class S3Blobs:
    """The same, looked at through the S3 API: objects in the temp bucket and unfinished
    multipart uploads are leftovers; objects in ``*-assets`` buckets are asset blobs."""

    def __init__(self, s3_url: str) -> None:
        from backends import sdk_client

        from asset_service.engine.adapters.s3 import parse_s3_url

        self.s3_url = s3_url
        self.prefix = parse_s3_url(s3_url).bucket_prefix
        self.client = sdk_client(s3_url)

    def leftovers(self) -> list[str]:
        from backends import s3_contents

        return [
            name
            for name in s3_contents(self.s3_url)
            if name.startswith((".partial/", "temp-uploads/"))
        ]

    def asset_blobs(self) -> BlobListing:
        listing: BlobListing = {}
        for bucket in self.client.list_buckets():
            logical = bucket.name[len(self.prefix) :]
            if not bucket.name.startswith(self.prefix) or not logical.endswith("-assets"):
                continue
            for found in self.client.list_objects(bucket.name, recursive=True):
                if ".previews/" in found.object_name:
                    continue  # derived from a content blob, not one (engine/preview_store.py)
                listing[(logical, found.object_name)] = (
                    (found.size, found.etag, found.last_modified),
                    self._reader(bucket.name, found.object_name),
                )
        return listing

    def _reader(self, bucket: str, key: str) -> BlobReader:
        def read() -> bytes:
            response = self.client.get_object(bucket, key)
            try:
                return response.read()
            finally:
                response.close()
                response.release_conn()

        return read
