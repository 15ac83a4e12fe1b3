"""The ``Folders`` contract, run against every catalog adapter (``conftest.CATALOGS``): a
folder brings its parents, the root always exists, and the listing counts the live assets
directly in each folder, per customer and type."""

from __future__ import annotations

from asset_service.engine.catalog import Catalog, FolderInfo

from .catalog_samples import make_asset


async def test_folders(catalog: Catalog) -> None:
    assert await catalog.folders("cust-1", "image") == [FolderInfo("/", 0)]

    assert await catalog.add_folder("cust-1", "image", "/a/b/c") is True
    assert await catalog.add_folder("cust-1", "image", "/a/b/c") is False
    assert await catalog.add_folder("cust-1", "image", "/a/b") is False  # made as a parent
    assert await catalog.add_folder("cust-1", "image", "/x") is True
    assert await catalog.add_folder("cust-1", "image", "/") is False  # the root always exists
    assert await catalog.add_folder("cust-2", "image", "/other") is True
    assert await catalog.add_folder("cust-1", "video", "/clips") is True

    for folder in ("/a/b", "/a/b", "/", "/x"):
        await catalog.insert(make_asset(folder=folder))
    await catalog.insert(make_asset(folder="/a/b", deleted=10))  # not counted
    await catalog.insert(make_asset(folder="/only/assets"))  # never added as a folder
    await catalog.insert(make_asset(folder="/a", type="video"))  # another type

    assert await catalog.folders("cust-1", "image") == [
        FolderInfo("/", 1),
        FolderInfo("/a", 0),
        FolderInfo("/a/b", 2),
        FolderInfo("/a/b/c", 0),
        FolderInfo("/only", 0),
        FolderInfo("/only/assets", 1),
        FolderInfo("/x", 1),
    ]
    assert await catalog.folders("cust-1", "video") == [
        FolderInfo("/", 0),
        FolderInfo("/a", 1),
        FolderInfo("/clips", 0),
    ]
    assert await catalog.folders("cust-2", "image") == [FolderInfo("/", 0), FolderInfo("/other", 0)]
