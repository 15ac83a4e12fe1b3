"""Concrete implementations of the engine ports (``blobstore.BlobStore``, ``catalog.Catalog``)."""
