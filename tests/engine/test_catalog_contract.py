"""The ``Catalog`` combination, on every catalog adapter (``conftest.CATALOGS``): the adapter
implements every protocol, and opening and closing are idempotent.

Each protocol has its own contract suite: ``test_asset_records_contract.py``,
``test_asset_search_contract.py``, ``test_folders_contract.py``, ``test_leases_contract.py``
and ``test_upload_sessions_contract.py``.
"""

from __future__ import annotations

import inspect

from asset_service.engine.catalog import CATALOG_PROTOCOLS, Catalog


async def test_adapter_implements_every_protocol(catalog: Catalog) -> None:
    cls = type(catalog)
    assert not cls.__abstractmethods__
    for protocol in CATALOG_PROTOCOLS:
        assert protocol in cls.__mro__, protocol.__name__
        for name in protocol.__abstractmethods__:
            ours, port = getattr(cls, name), getattr(protocol, name)
            assert ours is not port, name
            assert inspect.iscoroutinefunction(ours), name
    assert set(Catalog.__abstractmethods__) == {"open", "close"} | {
        name for protocol in CATALOG_PROTOCOLS for name in protocol.__abstractmethods__
    }


async def test_open_again_and_close_are_idempotent(catalog: Catalog) -> None:
    await catalog.open()  # the fixture opened it already; the engine opens it again
    await catalog.close()
    await catalog.close()
    await catalog.close()
