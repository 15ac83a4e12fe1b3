"""``asset-service import``: migrate existing files into the service.

``import_path`` walks a file or a directory tree (sorted, hidden entries skipped, never following
a link out of the tree, nor into a directory), and for each file: hashes it in a worker thread,
skips it when a live asset of the type with that checksum is already in the target folder, and
otherwise streams it through an upload session of the engine, exactly as an HTTP upload would be
(same inspection, same limits). A file the engine refuses is *rejected* with the engine's reason;
any other failure rejects that file with the error's text; the import always goes on.

Files are imported one after the other, so a file that appears twice in the tree (same bytes,
same folder) is imported once and skipped the second time, and running the import again imports
nothing new.

The progress renderers live here too: a one-line bar redrawn with ``\\r`` on a terminal, one
plain line per file otherwise (CI logs). ``run_import`` is what ``asset-service import`` runs.
"""

from __future__ import annotations

import enum
import hashlib
import json
import logging
import os
import shutil
import stat
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, TextIO

import trio

from .engine import AssetEngine, AssetQuery, UploadSpec
from .engine.errors import AssetServiceError, InvalidInput
from .engine.fields import (
    MAX_NAME,
    NewAssetFields,
    clean_filename,
    clean_text,
    is_customer_id,
    normalize_folder,
)
from .engine.model import Principal, Role

logger = logging.getLogger(__name__)

#: bytes read (and sent into the upload session) at a time
CHUNK = 1024 * 1024


class UsageError(ValueError):
    """The command line asks for something impossible (exit code 2)."""


class Status(enum.StrEnum):
    IMPORTED = "imported"
    SKIPPED = "skipped"
    REJECTED = "rejected"


@dataclass(slots=True)
class FileResult:
    """What happened to one file. ``path`` is relative to the imported PATH (POSIX style)."""

    path: str
    status: Status
    size: int
    folder: str | None
    checksum: str | None = None
    #: the new asset (imported) or the one already there (skipped)
    asset_id: str | None = None
    reason: str | None = None
    #: for a rejection: the error's class name (``UnsupportedContent``, ``OSError``…)
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "status": self.status.value,
            "size": self.size,
            "folder": self.folder,
            "checksum": self.checksum,
            "asset_id": self.asset_id,
            "reason": self.reason,
            "error": self.error,
        }


@dataclass(frozen=True, slots=True)
class Ignored:
    """An entry of the tree that was not looked at (a link leaving it, a FIFO…)."""

    path: str
    reason: str


@dataclass(slots=True)
class ImportReport:
    path: str
    asset_type: str
    customer: str
    user: str
    folder: str
    files: list[FileResult] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)

    def with_status(self, status: Status) -> list[FileResult]:
        return [f for f in self.files if f.status is status]

    @property
    def imported(self) -> list[FileResult]:
        return self.with_status(Status.IMPORTED)

    @property
    def skipped(self) -> list[FileResult]:
        return self.with_status(Status.SKIPPED)

    @property
    def rejected(self) -> list[FileResult]:
        return self.with_status(Status.REJECTED)

    @property
    def exit_code(self) -> int:
        return 1 if self.rejected else 0

    def to_json(self) -> dict[str, Any]:
        return {
            "path": self.path,
            "type": self.asset_type,
            "customer": self.customer,
            "user": self.user,
            "folder": self.folder,
            "imported": len(self.imported),
            "skipped": len(self.skipped),
            "rejected": len(self.rejected),
            "imported_bytes": sum(f.size for f in self.imported),
            "rejected_files": [{"path": f.path, "reason": f.reason} for f in self.rejected],
            "ignored": [{"path": i.path, "reason": i.reason} for i in self.ignored],
            "files": [f.to_json() for f in self.files],
        }

    def summary(self) -> str:
        lines = [
            f"imported {len(self.imported)}, skipped {len(self.skipped)}, "
            f"rejected {len(self.rejected)} of {len(self.files)} files "
            f"({human_bytes(sum(f.size for f in self.imported))} imported) "
            f"into {self.asset_type} {self.folder} of customer {self.customer}"
        ]
        if self.rejected:
            lines.append("rejected:")
            lines += [f"  {f.path}: {f.reason}" for f in self.rejected]
        if self.ignored:
            lines.append("not looked at:")
            lines += [f"  {i.path}: {i.reason}" for i in self.ignored]
        return "\n".join(lines)


# --- finding the files ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Candidate:
    #: what to open: inside the tree, never a symbolic link itself
    source: Path
    relative: str
    size: int
    folder: str | None
    #: why the file's directory can't be a folder (``--keep-tree``), if it can't
    folder_error: str | None = None


def _sort_key(entry: os.DirEntry[str]) -> str:
    return entry.name


def discover(
    path: Path, *, folder: str, keep_tree: bool = False
) -> tuple[list[_Candidate], list[Ignored], list[FileResult]]:
    """The files under ``path`` in sorted order, what was left out and why, and directories
    that could not be read (as rejections). Blocking: run it in a worker thread."""
    try:
        top = path.stat()  # PATH itself may be a link: the operator named it
    except OSError as error:
        raise UsageError(f"{path}: {error.strerror or error}") from None
    if stat.S_ISREG(top.st_mode):
        return [_Candidate(path, path.name, top.st_size, folder)], [], []
    if not stat.S_ISDIR(top.st_mode):
        raise UsageError(f"{path}: not a file or a directory")

    root = path.resolve()
    candidates: list[_Candidate] = []
    ignored: list[Ignored] = []
    unreadable: list[FileResult] = []

    def target_folder(parts: tuple[str, ...]) -> tuple[str | None, str | None]:
        if not keep_tree or not parts:
            return folder, None
        try:
            return normalize_folder(folder.rstrip("/") + "/" + "/".join(parts)), None
        except InvalidInput as error:
            return None, f"the directory can't be a folder: {error.reason}"

    def walk(directory: Path, parts: tuple[str, ...]) -> None:
        try:
            with os.scandir(directory) as scan:
                entries = sorted(scan, key=_sort_key)
        except OSError as error:
            relative = "/".join(parts) or "."
            reason = f"cannot read the directory: {error.strerror or error}"
            unreadable.append(
                FileResult(
                    relative, Status.REJECTED, 0, None, reason=reason, error=type(error).__name__
                )
            )
            return
        for entry in entries:
            if entry.name.startswith("."):
                continue  # hidden files and directories (.git, .DS_Store…)
            relative = "/".join((*parts, entry.name))
            try:
                if entry.is_symlink():
                    target = Path(entry.path).resolve()
                    if not target.is_relative_to(root):
                        ignored.append(
                            Ignored(relative, "a symbolic link out of PATH (not followed)")
                        )
                        continue
                    info = target.stat()
                    if stat.S_ISDIR(info.st_mode):
                        ignored.append(
                            Ignored(relative, "a symbolic link to a directory (not followed)")
                        )
                        continue
                    source = target
                elif entry.is_dir(follow_symlinks=False):
                    walk(Path(entry.path), (*parts, entry.name))
                    continue
                else:
                    source = Path(entry.path)
                    info = entry.stat(follow_symlinks=False)
            except OSError as error:
                # A dangling link, or an entry gone since the scan.
                ignored.append(Ignored(relative, error.strerror or str(error)))
                continue
            if not stat.S_ISREG(info.st_mode):
                ignored.append(Ignored(relative, "not a regular file"))
                continue
            to_folder, folder_error = target_folder(parts)
            candidates.append(_Candidate(source, relative, info.st_size, to_folder, folder_error))

    walk(path, ())
    return candidates, ignored, unreadable


# --- progress ------------------------------------------------------------------------------


class ImportProgress:
    """Told what the import does; renders nothing. Subclasses draw a bar or print lines."""

    def begin(self, total_files: int, total_bytes: int) -> None:
        pass

    def file_started(self, index: int, name: str, size: int) -> None:
        pass

    def phase(self, name: str) -> None:
        """``hashing`` or ``uploading`` the current file."""

    def advance(self, nbytes: int) -> None:
        """``nbytes`` more of the current file hashed, or uploaded."""

    def file_finished(self, result: FileResult) -> None:
        pass

    def close(self) -> None:
        """The import is over (or interrupted): leave the terminal tidy."""


def human_bytes(size: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def _describe(result: FileResult) -> str:
    if result.status is Status.IMPORTED:
        return f"imported {result.path} into {result.folder} as asset {result.asset_id}"
    return f"{result.status.value} {result.path}: {result.reason}"


class LineProgress(ImportProgress):
    """One line per file, for logs: ``[3/12] imported a/b.wav into / as asset …``."""

    def __init__(self, stream: TextIO) -> None:
        self.stream = stream
        self.total = 0
        self.index = 0

    def begin(self, total_files: int, total_bytes: int) -> None:
        self.total = total_files
        self.stream.write(f"importing {total_files} files ({human_bytes(total_bytes)})\n")
        self.stream.flush()

    def file_started(self, index: int, name: str, size: int) -> None:
        self.index = index

    def file_finished(self, result: FileResult) -> None:
        self.stream.write(f"[{self.index}/{self.total}] {_describe(result)}\n")
        self.stream.flush()


class BarProgress(ImportProgress):
    """A one-line bar on a terminal, redrawn in place with ``\\r`` (at most ``fps`` times a
    second, and at every file boundary): files done / total, bytes, the current file. Each
    file counts twice its size of work (hashed, then uploaded); skipped and rejected files
    count as done when they finish. Rejections are printed above the bar as they happen."""

    WIDTH = 24

    def __init__(self, stream: TextIO, *, columns: int | None = None, fps: float = 10) -> None:
        self.stream = stream
        self.columns = columns
        self.interval = 1 / fps
        self.total_files = 0
        self.total_bytes = 0
        self.files_done = 0
        self.bytes_done = 0
        self.name = ""
        self.size = 0
        self.work = 0  # of the current file, 0..2*size
        self.phase_name = ""
        self.drawn = False
        self.last_draw = -1.0

    def _columns(self) -> int:
        return self.columns or shutil.get_terminal_size(fallback=(80, 24)).columns

    def line(self) -> str:
        current = self.bytes_done + min(self.work // 2, self.size)
        fraction = current / self.total_bytes if self.total_bytes else 1.0
        filled = int(fraction * self.WIDTH)
        bar = "#" * filled + "." * (self.WIDTH - filled)
        text = (
            f"[{bar}] {self.files_done}/{self.total_files} files "
            f"{human_bytes(current)}/{human_bytes(self.total_bytes)}"
        )
        if self.name:
            text += f" {self.phase_name} {self.name}"
        limit = max(self._columns() - 1, 10)
        if len(text) > limit:
            text = text[: limit - 1] + "…"
        return text.ljust(limit)

    def draw(self, *, force: bool = False) -> None:
        now = time.monotonic()
        if not force and now - self.last_draw < self.interval:
            return
        self.last_draw = now
        self.stream.write("\r" + self.line())
        self.stream.flush()
        self.drawn = True

    def _erase(self) -> None:
        if self.drawn:
            self.stream.write("\r" + " " * max(self._columns() - 1, 10) + "\r")
            self.drawn = False

    def begin(self, total_files: int, total_bytes: int) -> None:
        self.total_files = total_files
        self.total_bytes = total_bytes
        self.draw(force=True)

    def file_started(self, index: int, name: str, size: int) -> None:
        self.name, self.size, self.work, self.phase_name = name, size, 0, "hashing"
        self.draw(force=True)

    def phase(self, name: str) -> None:
        self.phase_name = name
        if name == "uploading":
            self.work = max(self.work, self.size)  # hashing is done, whatever was counted
        self.draw()

    def advance(self, nbytes: int) -> None:
        self.work += nbytes
        self.draw()

    def file_finished(self, result: FileResult) -> None:
        self.files_done += 1
        self.bytes_done += self.size
        self.name, self.size, self.work = "", 0, 0
        if result.status is Status.REJECTED:
            self._erase()
            self.stream.write(_describe(result) + "\n")
        self.draw(force=True)

    def close(self) -> None:
        self._erase()
        self.stream.flush()


def progress_for(stream: TextIO) -> ImportProgress:
    """The bar on a terminal, plain lines otherwise."""
    try:
        tty = stream.isatty()
    except (AttributeError, ValueError):
        tty = False
    return BarProgress(stream) if tty else LineProgress(stream)


# --- importing -----------------------------------------------------------------------------


def _open_regular(path: Path) -> IO[bytes]:
    """Open for reading, refusing anything that became a link or a non-regular file since the
    walk (``O_NONBLOCK``: a FIFO put in its place must not hang the import)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    fd = os.open(path, flags)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise OSError(f"{path} is not a regular file")
        return os.fdopen(fd, "rb", buffering=0)
    except BaseException:
        os.close(fd)
        raise


def _hash_chunk(handle: IO[bytes], hasher: Any) -> int:
    data = handle.read(CHUNK)
    hasher.update(data)
    return len(data)


async def _sha256(handle: IO[bytes], progress: ImportProgress) -> str:
    hasher = hashlib.sha256()
    while n := await trio.to_thread.run_sync(_hash_chunk, handle, hasher):
        progress.advance(n)
    return hasher.hexdigest()


async def _existing(
    engine: AssetEngine, principal: Principal, asset_type: str, folder: str, checksum: str
) -> str | None:
    """The id of a live asset of the type in exactly ``folder`` whose current content has
    ``checksum``, if there is one."""
    page = await engine.list(
        principal,
        AssetQuery(
            customer_id=principal.customer_id,
            type=asset_type,
            folder=folder,
            checksum=checksum,
            limit=1,
        ),
    )
    return page.items[0].asset_id if page.items else None


async def _import_one(
    engine: AssetEngine,
    principal: Principal,
    asset_type: str,
    candidate: _Candidate,
    progress: ImportProgress,
) -> FileResult:
    result = FileResult(candidate.relative, Status.REJECTED, candidate.size, candidate.folder)
    if candidate.folder is None:
        result.reason, result.error = candidate.folder_error, "InvalidInput"
        return result
    folder = candidate.folder
    try:
        handle = await trio.to_thread.run_sync(_open_regular, candidate.source)
        try:
            progress.phase("hashing")
            result.checksum = await _sha256(handle, progress)
            existing = await _existing(engine, principal, asset_type, folder, result.checksum)
            if existing is not None:
                result.status, result.asset_id = Status.SKIPPED, existing
                result.reason = f"already in {folder} as asset {existing}"
                return result
            progress.phase("uploading")
            await trio.to_thread.run_sync(handle.seek, 0)
            upload = await engine.begin_upload(
                UploadSpec(
                    principal=principal,
                    # the name in the tree (a link's own name, not its target's)
                    filename=clean_filename(candidate.relative.rsplit("/", 1)[-1]),
                    max_bytes=engine.config.max_upload_bytes,
                    declared_type=asset_type,
                    expected_bytes=candidate.size,
                )
            )
            async with upload:
                while data := await trio.to_thread.run_sync(handle.read, CHUNK):
                    await upload.write(data)
                    progress.advance(len(data))
                asset = await upload.commit(NewAssetFields(folder=folder), declared_type=asset_type)
        finally:
            handle.close()
    except AssetServiceError as error:
        result.reason, result.error = error.reason, type(error).__name__
        return result
    except OSError as error:
        result.reason = f"cannot read the file: {error.strerror or error}"
        result.error = type(error).__name__
        return result
    except Exception as error:
        logger.debug("importing %s failed", candidate.relative, exc_info=True)
        result.reason, result.error = str(error) or type(error).__name__, type(error).__name__
        return result
    # The engine's checksum is of the bytes it stored (the file may have changed since).
    result.status, result.asset_id, result.checksum = (
        Status.IMPORTED,
        asset.asset_id,
        asset.checksum,
    )
    return result


def _check_name(value: str, what: str) -> str:
    try:
        cleaned = clean_text(value, what, MAX_NAME)
    except InvalidInput as error:
        raise UsageError(error.reason) from None
    if not cleaned:
        raise UsageError(f"{what} may not be empty")
    return cleaned


async def import_path(
    engine: AssetEngine,
    path: Path | str,
    *,
    asset_type: str,
    customer: str,
    user: str,
    folder: str = "/",
    progress: ImportProgress | None = None,
    keep_tree: bool = False,
) -> ImportReport:
    """Import the file or tree at ``path`` as assets of ``asset_type`` owned by ``user`` of
    ``customer``, into ``folder`` (and, with ``keep_tree``, its sub-folders mirroring the
    sub-directories). Raises ``UsageError`` before touching anything if the arguments are
    wrong; otherwise every file ends imported, skipped or rejected in the report."""
    progress = progress or ImportProgress()
    path = Path(path)
    known = engine.asset_types()
    if asset_type not in known:
        raise UsageError(f"--type must be one of {', '.join(sorted(known))}, not {asset_type!r}")
    try:
        folder = normalize_folder(folder)
    except InvalidInput as error:
        raise UsageError(f"--folder: {error.reason}") from None
    customer = _check_name(customer, "--customer")
    if not is_customer_id(customer):
        raise UsageError(
            "--customer must be 1 to 64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    user = _check_name(user, "--user")
    # The import acts as an operator of the customer, hence ADMIN rather than EDITOR: only an
    # admin's query sees every live asset of the customer — other users' private ones
    # included — so the duplicate check can't miss one and import the same bytes again. The
    # assets are still owned by ``user``, with the default visibility.
    principal = Principal(user, customer, frozenset({Role.ADMIN}))

    candidates, ignored, unreadable = await trio.to_thread.run_sync(
        lambda: discover(path, folder=folder, keep_tree=keep_tree)
    )
    report = ImportReport(str(path), asset_type, customer, user, folder, ignored=ignored)
    report.files.extend(unreadable)
    progress.begin(len(candidates), sum(c.size for c in candidates))
    for index, candidate in enumerate(candidates, 1):
        progress.file_started(index, candidate.relative, candidate.size)
        result = await _import_one(engine, principal, asset_type, candidate, progress)
        report.files.append(result)
        progress.file_finished(result)
    return report


# --- the command ---------------------------------------------------------------------------


def run_import(
    settings: Any,
    *,
    path: Path,
    asset_type: str,
    customer: str,
    user: str,
    folder: str = "/",
    keep_tree: bool = False,
    as_json: bool = False,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """``asset-service import``: 0 when nothing was rejected, 1 when some files were, 2 for a
    usage error. Configuration errors and unreachable backends propagate to ``cli.main``."""
    from .wiring import running_engine

    stdout = stdout or sys.stdout
    stderr = stderr or sys.stderr
    progress = progress_for(stderr)

    async def run() -> ImportReport:
        async with running_engine(settings, scheduled_cleanup=False) as engine:
            return await import_path(
                engine,
                path,
                asset_type=asset_type,
                customer=customer,
                user=user,
                folder=folder,
                progress=progress,
                keep_tree=keep_tree,
            )

    try:
        # What can be checked without the engine is, before it opens the backends.
        if not os.path.exists(path):
            raise UsageError(f"{path}: no such file or directory")
        try:
            normalize_folder(folder)
        except InvalidInput as error:
            raise UsageError(f"--folder: {error.reason}") from None
        report = trio.run(run)
    except UsageError as error:
        progress.close()  # before the message, not over it
        print(f"asset-service import: {error}", file=stderr)
        return 2
    finally:
        progress.close()
    if as_json:
        print(json.dumps(report.to_json(), indent=2), file=stdout)
    else:
        print(report.summary(), file=stdout)
    return report.exit_code
