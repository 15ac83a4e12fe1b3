"""GLB (binary glTF 2.0) 3D models as a new asset type, ``model3d``: an example plugin."""

import json
import struct
from dataclasses import dataclass

from asset_service.plugins import AssetType, Description, Detected, UnprocessableContent, hookimpl

GLB = Detected("model3d", "model/gltf-binary", "glb")


def read_gltf(path):
    """The glTF JSON chunk of a GLB file, once its header checked out."""
    with open(path, "rb") as handle:
        _, version, length, size, kind = struct.unpack("<4sIII4s", handle.read(20))
        if version != 2 or kind != b"JSON" or size > 64 * 2**20:
            raise UnprocessableContent("not a glTF 2.0 binary whose first chunk is JSON")
        if length != path.stat().st_size:
            raise UnprocessableContent(f"the GLB says {length} bytes, has {path.stat().st_size}")
        return json.loads(handle.read(size))  # broken JSON: the service answers 422 too


@dataclass
class GlbPlugin:
    max_size: int = 256 * 2**20  # bytes; plugins.toml: [plugins.glb.options] max_size = ...

    @hookimpl
    def asset_types(self):
        mime_types, extensions = ("model/gltf-binary",), ("glb",)
        return [AssetType("model3d", "model3d-assets", mime_types, extensions, self.max_size)]

    @hookimpl
    def sniff(self, head):
        return GLB if head[:4] == b"glTF" else None

    @hookimpl
    def validate(self, path, detected):
        if detected == GLB:
            read_gltf(path)

    @hookimpl
    def extract_metadata(self, path, detected):
        if detected == GLB:
            gltf = read_gltf(path)
            meshes = gltf.get("meshes", [])
            positions = [p["attributes"].get("POSITION") for m in meshes for p in m["primitives"]]
            count = sum(gltf["accessors"][i]["count"] for i in positions if i is not None)
            found = {"vertex_count": count, "meshes": len(meshes), "nodes": len(gltf["nodes"])}
            return Description(extracted={**found, "generator": gltf["asset"].get("generator")})

    @hookimpl
    def previewers(self):
        return []  # no 3D renderer here: no preview (else [Previewer("thumbnail", ...)])
