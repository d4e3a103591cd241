"""Low-level glTF 2.0 reading: the JSON document, its buffers, accessors and images.

Everything a malformed file can get wrong (bad magic, truncated chunks, buffers or
accessors pointing past the data, undecodable images) is turned into a `LivefaceError`
naming the file, so a bad avatar never shows the user a traceback.
"""

import base64
import io
import json
import struct
import urllib.parse
from pathlib import Path

import numpy as np
import pygltflib as gl
from PIL import Image

from app.errors import LivefaceError

GLB_MAGIC = b"glTF"
CHUNK_JSON, CHUNK_BIN = 0x4E4F534A, 0x004E4942
COMPONENTS = {  # componentType -> (numpy dtype, divisor when normalized)
    gl.BYTE: (np.int8, 127.0),
    gl.UNSIGNED_BYTE: (np.uint8, 255.0),
    gl.SHORT: (np.int16, 32767.0),
    gl.UNSIGNED_SHORT: (np.uint16, 65535.0),
    gl.UNSIGNED_INT: (np.uint32, None),
    gl.FLOAT: (np.float32, None),
}
WIDTHS = {"SCALAR": 1, "VEC2": 2, "VEC3": 3, "VEC4": 4, "MAT2": 4, "MAT3": 9, "MAT4": 16}


class GltfData:
    """A parsed glTF document with its buffers loaded, able to decode accessors."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise LivefaceError(f"avatar file {path} does not exist; check the path.")
        raw = path.read_bytes()
        if raw[:4] == GLB_MAGIC:
            text, self._glb_bin = _split_glb(raw, path)
        else:
            text, self._glb_bin = raw, None
        self.doc = _parse_json(text, path)
        self.buffers = [self._load_buffer(i, b) for i, b in enumerate(self.doc.buffers)]

    def fail(self, what: str) -> LivefaceError:
        return LivefaceError(f"avatar {self.path} is not a valid glTF file: {what}.")

    def _load_buffer(self, index: int, buffer: gl.Buffer) -> bytes:
        if buffer.uri is None:
            if self._glb_bin is None:
                raise self.fail(f"buffer {index} has no uri and the file has no binary chunk")
            data = self._glb_bin
        else:
            data = self._read_uri(buffer.uri, f"buffer {index}")
        if buffer.byteLength is None or len(data) < buffer.byteLength:
            raise self.fail(f"buffer {index} holds {len(data)} bytes, fewer than its byteLength {buffer.byteLength}")
        return data

    def _read_uri(self, uri: str, what: str) -> bytes:
        """Bytes behind a data: URI or a file path relative to the glTF file."""
        if uri.startswith("data:"):
            header, _, payload = uri.partition(",")
            try:
                if header.endswith(";base64"):
                    return base64.b64decode(payload, validate=True)
                return urllib.parse.unquote_to_bytes(payload)
            except ValueError as err:
                raise self.fail(f"{what} has a malformed data URI ({err})") from None
        if "://" in uri:
            raise self.fail(f"{what} points at {uri}; avatars must be local files")
        file = self.path.parent / urllib.parse.unquote(uri)
        if not file.is_file():
            raise self.fail(f"{what} refers to {file}, which does not exist")
        return file.read_bytes()

    def view_bytes(self, index: int) -> tuple[bytes, int | None]:
        """(bytes of a bufferView, its byteStride)."""
        if not 0 <= index < len(self.doc.bufferViews):
            raise self.fail(f"bufferView {index} does not exist")
        view = self.doc.bufferViews[index]
        if view.buffer is None or not 0 <= view.buffer < len(self.buffers):
            raise self.fail(f"bufferView {index} refers to a missing buffer")
        start, length = view.byteOffset or 0, view.byteLength or 0
        data = self.buffers[view.buffer]
        if start < 0 or length < 0 or start + length > len(data):
            raise self.fail(f"bufferView {index} reaches past the end of buffer {view.buffer}")
        return data[start : start + length], view.byteStride

    def accessor(self, index: int) -> np.ndarray:
        """Decode accessor `index` into (count, width) float64 (normalized integers scaled
        into [0, 1] or [-1, 1]), sparse substitutions applied."""
        if index is None or not 0 <= index < len(self.doc.accessors):
            raise self.fail(f"accessor {index} does not exist")
        acc = self.doc.accessors[index]
        if acc.componentType not in COMPONENTS or acc.type not in WIDTHS or not isinstance(acc.count, int) or acc.count < 0:
            raise self.fail(f"accessor {index} has an unknown component type or shape")
        width = WIDTHS[acc.type]
        if acc.bufferView is None:
            values = np.zeros((acc.count, width), dtype=np.float64)
        else:
            values = self._dense(acc, width, f"accessor {index}")
        if acc.sparse is not None and acc.sparse.count:
            self._apply_sparse(acc, values, width, index)
        return values

    def _dense(self, acc: gl.Accessor, width: int, what: str, view=None, offset=None, count=None) -> np.ndarray:
        dtype, divisor = COMPONENTS[acc.componentType]
        data, stride = self.view_bytes(acc.bufferView if view is None else view)
        offset = (acc.byteOffset or 0) if offset is None else offset
        count = acc.count if count is None else count
        item = np.dtype(dtype).itemsize * width
        stride = stride or item
        if count and (offset < 0 or offset + stride * (count - 1) + item > len(data)):
            raise self.fail(f"{what} reads past the end of its bufferView")
        rows = np.ndarray((count, width), dtype=np.dtype(dtype).newbyteorder("<"),
                          buffer=data, offset=offset, strides=(stride, np.dtype(dtype).itemsize)) if count else np.zeros((0, width), dtype)
        values = rows.astype(np.float64)
        if acc.normalized and divisor is not None:
            values = np.maximum(values / divisor, -1.0)
        return values

    def _apply_sparse(self, acc: gl.Accessor, values: np.ndarray, width: int, index: int) -> None:
        sparse = acc.sparse
        what = f"sparse accessor {index}"
        if sparse.indices is None or sparse.values is None:
            raise self.fail(f"{what} lacks its indices or values")
        idx_acc = gl.Accessor(componentType=sparse.indices.componentType, count=sparse.count, type="SCALAR")
        if idx_acc.componentType not in (gl.UNSIGNED_BYTE, gl.UNSIGNED_SHORT, gl.UNSIGNED_INT):
            raise self.fail(f"{what} has indices of an invalid component type")
        rows = self._dense(idx_acc, 1, what, sparse.indices.bufferView, sparse.indices.byteOffset or 0)
        rows = rows[:, 0].astype(np.int64)
        val_acc = gl.Accessor(componentType=acc.componentType, normalized=acc.normalized, count=sparse.count, type=acc.type)
        subst = self._dense(val_acc, width, what, sparse.values.bufferView, sparse.values.byteOffset or 0)
        if rows.size and (rows.min() < 0 or rows.max() >= len(values)):
            raise self.fail(f"{what} substitutes rows outside 0..{len(values) - 1}")
        values[rows] = subst

    def image(self, index: int) -> np.ndarray:
        """Decode image `index` (embedded, data URI or file) to (H, W, 4) uint8."""
        if not 0 <= index < len(self.doc.images):
            raise self.fail(f"image {index} does not exist")
        image = self.doc.images[index]
        if image.bufferView is not None:
            data = self.view_bytes(image.bufferView)[0]
        elif image.uri:
            data = self._read_uri(image.uri, f"image {index}")
        else:
            raise self.fail(f"image {index} has neither a bufferView nor a uri")
        try:
            with Image.open(io.BytesIO(data)) as decoded:
                return np.asarray(decoded.convert("RGBA"), dtype=np.uint8).copy()
        except (OSError, ValueError, Image.DecompressionBombError) as err:
            raise self.fail(f"image {index} cannot be decoded ({err})") from None


def _split_glb(raw: bytes, path: Path) -> tuple[bytes, bytes | None]:
    """The JSON and BIN chunks of a glTF binary, checking every length against the file."""
    def bad(what: str) -> LivefaceError:
        return LivefaceError(f"avatar {path} is not a valid glTF binary: {what}.")

    if len(raw) < 20:
        raise bad("the file is shorter than a GLB header")
    _, version, length = struct.unpack_from("<4sII", raw, 0)
    if version != 2:
        raise bad(f"it is glTF version {version}, only 2 is supported")
    if length > len(raw):
        raise bad(f"the header announces {length} bytes but the file has {len(raw)} (truncated?)")
    chunks, offset = {}, 12
    while offset + 8 <= length:
        size, kind = struct.unpack_from("<II", raw, offset)
        if offset + 8 + size > length:
            raise bad("a chunk runs past the end of the file (truncated?)")
        chunks.setdefault(kind, raw[offset + 8 : offset + 8 + size])
        offset += 8 + size
    if CHUNK_JSON not in chunks:
        raise bad("it has no JSON chunk")
    return chunks[CHUNK_JSON], chunks.get(CHUNK_BIN)


def _parse_json(text: bytes, path: Path) -> gl.GLTF2:
    try:
        data = json.loads(text.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LivefaceError(
            f"avatar {path} is neither a glTF binary (.glb) nor glTF JSON; export the avatar as glTF 2.0."
        ) from None
    asset = data.get("asset") if isinstance(data, dict) else None
    if not isinstance(asset, dict) or str(asset.get("version", "")).split(".")[0] != "2":
        raise LivefaceError(f"avatar {path} is not glTF 2.0 (missing or wrong asset.version).")
    try:
        return gl.GLTF2.from_json(text.decode("utf-8"), infer_missing=True)
    except Exception as err:  # the schema library raises many types for malformed fields
        raise LivefaceError(f"avatar {path} has a malformed glTF document ({err}).") from None
