"""The hooks an asset-type plugin can implement: the whole plugin API in one module.

Every hook is called through pluggy under the project name ``asset_service``. A plugin
implements any subset of them, with any subset of each hook's arguments, by decorating a
function (or a method of its plugin object) of the same name with ``@hookimpl``::

    from asset_service.plugins import hookimpl

    @hookimpl
    def sniff(head):
        ...

A misspelt hook name is refused when the service starts (``check_pending``). Each hook's page
under ``docs/plugins/hooks/`` shows it with an example; ``tests/plugins/test_docs.py`` fails when
a hook here has no page.

Where hooks run: ``asset_types`` once at start; ``sniff``, ``on_event`` and ``previewers`` on
the event loop (keep them quick, no I/O); ``validate``, ``extract_metadata`` and the ``render``
of a ``Previewer`` in a worker thread, so they may
block (read the file, run a library or a subprocess), but they hold a thread for as long as they
take: bound every subprocess with a timeout.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pluggy

from asset_service.engine.events import Event
from asset_service.engine.inspection import Description, Detected
from asset_service.engine.model import AssetType
from asset_service.engine.preview_types import Previewer

#: the pluggy project name, and the prefix of nothing: hooks are matched by their plain names
PROJECT_NAME = "asset_service"

hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)


@hookspec
def asset_types() -> Sequence[AssetType]:
    """The asset types this plugin brings.

    Called once, when the service starts. Not ``firstresult``: every plugin's types are
    collected. Each ``AssetType`` names the type (``"audio"``, ``"subtitles"``), the bucket its
    blobs live in (a valid S3 bucket name of its own), the MIME types and file extensions it
    stands for (a file part's ``Content-Type`` naming one of these MIME types declares the type),
    and its size limit in bytes (``max_size``; ``None``: the service's upload limit).

    A type name or bucket claimed by two plugins is an error at start. A type nobody declares
    cannot be stored, even if some plugin's ``sniff`` recognises it.

    :return: the types, possibly none.
    """


@hookspec(firstresult=True)
def sniff(head: bytes, filename: str) -> Detected | None:
    """Recognise content from its first bytes.

    Called once per upload, on the event loop, when the whole body has arrived and before
    anything else looks at the file. ``firstresult``: Stops at first non-None result. Plugins
    registered later are asked first; mark the implementation ``@hookimpl(trylast=True)`` when it
    recognises loosely (plain text, say) so that precise recognisers get their turn before it.

    :param head: the first ``SNIFF_BYTES`` (8192) bytes of the file, or all of it when shorter.
    :param filename: the client's file name, already cut to its last segment. The bytes decide
        the type: the built-in plugins never look at the name; use it at most to tell apart
        formats whose bytes are identical.
    :return: a ``Detected`` (asset type, MIME type, short format name such as ``"mp3"``), or
        ``None`` when the bytes are not this plugin's. Quick and pure: no I/O.
    """


@hookspec
def validate(path: Path, detected: Detected) -> None:
    """Reject broken or dangerous content, with a reason a user can read.

    Called once per upload in a worker thread, after ``sniff``, with the complete file. Not
    ``firstresult``: every plugin's implementation is called, for every file, so an
    implementation returns at once when ``detected`` is not its concern (a plugin may also check
    every file, as a virus scanner would).

    :param path: the uploaded file on local disk; read it, never write or move it.
    :param detected: what ``sniff`` found.
    :raises UnprocessableContent: the file is of its type but broken, truncated or dangerous
        (answered 422 with the exception's reason).
    :raises UnsupportedContent: a closer look shows it is not of a type this service stores
        (answered 415). Any other exception also rejects the upload (422, its message as the
        reason, the traceback in the log).
    """


@hookspec
def extract_metadata(path: Path, detected: Detected) -> Description | None:
    """Describe a file that passed validation.

    Called once per upload in a worker thread, after every ``validate`` passed. Not
    ``firstresult``: the non-None results are merged in call order: the first ``duration`` and
    the first ``dimensions`` win, and ``extracted`` dicts are combined, the first value of a
    key winning. ``duration`` (seconds) and ``dimensions`` (pixels) go to the top level of the
    asset record; ``extracted`` (JSON-serialisable: str, int, float, bool, None, lists, dicts)
    goes under ``extracted``. The key ``format`` is the service's own (``detected.format``).

    :param path: the uploaded file on local disk; read it, never write or move it.
    :param detected: what ``sniff`` found.
    :return: a ``Description``, or ``None`` when ``detected`` is not this plugin's concern.
        An exception rejects the upload as in ``validate``.
    """


@hookspec
def on_event(event: Event) -> None:
    """React to an engine event.

    Called on the event loop for every event the engine publishes: ``upload.progress``,
    ``asset.created``, ``asset.updated``, ``asset.deleted``, ``asset.restored``,
    ``asset.purged``, ``version.created``, ``asset.preview_ready``, ``asset.preview_failed``.
    Not ``firstresult``; each implementation is called on its own, so one that raises (the
    error is logged) does not keep the event from the others. Hook wrappers are not allowed
    on this hook.

    :param event: ``event.name``, ``event.customer_id``, ``event.data`` (for ``asset.*``:
        ``asset_id``, ``type``, ``revision``) and ``event.at`` (ISO 8601 time).
        Must return quickly and must not block: hand slow work (a webhook call) to a thread or
        a queue of the plugin's own.
    """


@hookspec
def previewers(asset_type: str, mime_type: str) -> Sequence[Previewer] | None:
    """The previews this plugin makes for content of a type, and how.

    Called on the event loop when a version is about to be committed (to store its previews
    as pending) and when previews are asked for; keep it quick, no I/O. Not ``firstresult``:
    every plugin's previewers are collected; when two offer the same ``kind`` for a type, the
    plugin registered later wins (so an installed plugin can replace a built-in's preview).

    Each ``Previewer`` names a ``kind`` (``thumbnail``, ``poster``, ``waveform`` or one of the
    plugin's own: lower-case letters, digits and ``_``), the ``media_type`` of what it makes,
    and ``render``: called later by the preview actor, in a worker thread, with a
    ``PreviewRequest`` (the version's content as a local file, a directory to write into, its
    time budget). It returns one ``RenderedPreview`` per variant it wrote (for pictures, the
    sizes 128, 256, 512 and 1024 as ``"128"``…; a single ``"peaks"`` for a waveform). It
    raises to fail the preview: ``NoPreview("why")`` when it cannot be made here (no
    renderer installed), any other exception when the content breaks it; the message is
    stored as the reason and the preview is never retried.

    :param asset_type: the asset's type (``"image"``).
    :param mime_type: the version's MIME type (``"image/jpeg"``).
    :return: the previewers, or ``None`` (or an empty list) when the plugin makes none for
        this content.
    """
