"""Picture previews: thumbnails of images and PDF first pages, and the sizes of a poster.

Every picture preview is WEBP at the longest side 128, 256, 512 and 1024 px, never upscaled
(a picture smaller than a size is stored at its own size for that size), aspect kept. A JPEG is
decoded at the smallest DCT scale that still gives 1024 px (Pillow's ``draft``), so a 24 MP
photo costs a few MiB instead of ~100 MiB; EXIF orientation is applied; an animation gives
its first frame. Blocking: the preview actor calls these in a worker thread.
"""

from __future__ import annotations

import shutil
import subprocess

from PIL import Image, ImageOps

from asset_service.engine.preview_types import (
    PICTURE_SIZES,
    NoPreview,
    PreviewRequest,
    RenderedPreview,
)

WEBP_QUALITY = 80
#: libwebp's effort 0-6: 2 encodes a 1024 px picture in about half the time of the default 4,
#: for a file a few per cent bigger (a thumbnail is made once, served many times: still cheap)
WEBP_METHOD = 2
#: pixels a picture may have when decoded for a thumbnail (the image plugin refuses bigger)
MAX_PIXELS = 100_000_000


def fitted(width: int, height: int, size: int) -> tuple[int, int]:
    """``width`` x ``height`` scaled so its longest side is ``size`` (never larger than it
    is), the other side rounded: aspect kept within 1 px."""
    longest = max(width, height)
    if longest <= size:
        return width, height
    scale = size / longest
    if width >= height:
        return size, max(1, round(height * scale))
    return max(1, round(width * scale)), size


def _flattened(image: Image.Image) -> Image.Image:
    """RGB, or RGBA when the picture has transparency (WEBP keeps it)."""
    if image.mode in ("RGB", "RGBA"):
        return image
    has_alpha = image.mode in ("LA", "PA") or "transparency" in image.info
    return image.convert("RGBA" if has_alpha else "RGB")


def write_sizes(image: Image.Image, request: PreviewRequest) -> list[RenderedPreview]:
    """Each size, largest first, each made from the previous one (cheaper than from the
    original each time, and as sharp: every step at least halves or keeps the size)."""
    rendered = []
    current = _flattened(image)
    original = current.size
    for size in sorted(PICTURE_SIZES, reverse=True):
        # Dimensions from the original (rounding once), pixels from the previous size.
        width, height = fitted(*original, size)
        if (width, height) != current.size:
            # Pillow's own thumbnail() settings: bicubic after a fast box reduction.
            current = current.resize((width, height), Image.Resampling.BICUBIC, reducing_gap=2.0)
        path = request.out_dir / f"{size}.webp"
        current.save(path, "WEBP", quality=WEBP_QUALITY, method=WEBP_METHOD)
        rendered.append(RenderedPreview(str(size), path, width, height))
    return rendered


def image_thumbnail(request: PreviewRequest) -> list[RenderedPreview]:
    with Image.open(request.source) as image:
        width, height = image.size
        if width * height > MAX_PIXELS:
            raise NoPreview(f"the image is too large to preview ({width}x{height})")
        image.seek(0)  # the first frame of an animation
        if image.format == "JPEG":
            # The smallest DCT scale whose longest side is still at least the largest size.
            target = fitted(width, height, max(PICTURE_SIZES))
            image.draft("RGB", target)
        loaded = ImageOps.exif_transpose(image)
        loaded.load()
        return write_sizes(loaded, request)


def pdf_thumbnail(request: PreviewRequest) -> list[RenderedPreview]:
    """The first page rendered with PDFium (pypdfium2) at 1024 px on its longest side."""
    import pypdfium2

    document = pypdfium2.PdfDocument(request.source)
    try:
        if len(document) == 0:
            raise NoPreview("the PDF has no pages")
        page = document[0]
        try:
            width, height = page.get_size()
            if width <= 0 or height <= 0:
                raise NoPreview("the PDF's first page has no size")
            scale = max(PICTURE_SIZES) / max(width, height)
            bitmap = page.render(scale=scale, fill_color=(255, 255, 255, 255))
            picture = bitmap.to_pil()
        finally:
            page.close()
    finally:
        document.close()
    return write_sizes(picture, request)


def svg_renderer() -> str | None:
    """``rsvg-convert`` (librsvg) if installed: the SVG renderer used here."""
    return shutil.which("rsvg-convert")


def svg_thumbnail(request: PreviewRequest) -> list[RenderedPreview]:
    command = svg_renderer()
    if command is None:
        raise NoPreview(
            "no SVG renderer is installed here (rsvg-convert from librsvg): SVG images have "
            "no thumbnail"
        )
    png = request.out_dir / "page.png"
    size = str(max(PICTURE_SIZES))
    # No network, no external files: librsvg loads nothing outside the SVG's own data URLs
    # unless told to, and the image plugin refused SVGs with external references anyway.
    done = subprocess.run(
        [
            command,
            "--keep-aspect-ratio",
            "-w",
            size,
            "-h",
            size,
            "-o",
            str(png),
            str(request.source),
        ],
        capture_output=True,
        timeout=request.timeout,
        check=False,
    )
    if done.returncode != 0 or not png.exists():
        reason = done.stderr.decode(errors="replace").strip().splitlines()
        raise NoPreview(f"the SVG could not be rendered: {reason[-1] if reason else 'error'}")
    with Image.open(png) as picture:
        picture.load()
        return write_sizes(picture, request)
