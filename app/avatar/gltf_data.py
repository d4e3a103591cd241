"""Low-level glTF 2.0 reading: the JSON document, its buffers, accessors and images.

Everything a malformed file can get wrong (bad magic, truncated chunks, buffers or
accessors pointing past the data, undecodable images) is turned into a `LivefaceError`
naming the file, so a bad avatar never shows the user a traceback.

Avatars come from strangers, so a file may only read what sits in its own folder (or is
embedded in it), and every size it states is checked against the bytes it has and against
the limits below before anything is allocated.
"""

import base64
import io
import json
import math
import re
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
INDEX_COMPONENTS = (gl.UNSIGNED_BYTE, gl.UNSIGNED_SHORT, gl.UNSIGNED_INT)
TOP_LEVEL_ARRAYS = ("accessors", "bufferViews", "buffers", "images", "materials", "meshes",
                    "nodes", "scenes", "textures")

# Limits far above any head a VR runtime can draw, far below what would exhaust memory.
MAX_FILE_BYTES = 512 * 1024 * 1024  # the .glb/.gltf and each file it refers to
MAX_ACCESSOR_VALUES = 1 << 25  # count x components of one accessor (256 MB as float64)
MAX_IMAGE_PIXELS = 8192 * 8192  # one texture
MAX_AVATAR_VERTICES = 500_000  # all parts together; each costs ~1.2 kB of morph deltas
MIN_STRIDE_BYTES, MAX_STRIDE_BYTES = 4, 252  # glTF's bounds on bufferView.byteStride
# Objects in the top-level arrays together (a VRoid avatar has a few thousand): the schema
# library takes about a millisecond for each, so a file may not ask for minutes of parsing.
MAX_JSON_OBJECTS = 20_000
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")  # "http:", "file:", and "C:" drives
_IMAGE_FORMATS = ("PNG", "JPEG", "WEBP")  # what glTF textures may be; no other decoder runs


class GltfData:
    """A parsed glTF document with its buffers loaded, able to decode accessors."""

    def __init__(self, path: Path):
        self.path = path
        if not path.is_file():
            raise LivefaceError(f"avatar file {path} does not exist; check the path.")
        raw = _read_capped(path, path)
        if raw[:4] == GLB_MAGIC:
            text, self._glb_bin = _split_glb(raw, path)
        else:
            text, self._glb_bin = raw, None
        self.doc = _parse_json(text, path)
        for what, uri in self._uris():  # every reference is judged before any is read
            if not uri.startswith("data:"):
                self._local_file(uri, what)
        self.buffers = [self._load_buffer(i, b) for i, b in enumerate(self.doc.buffers)]

    def fail(self, what: str) -> LivefaceError:
        return invalid(self.path, what)

    def too_large(self, what: str) -> LivefaceError:
        return LivefaceError(_one_line(f"avatar {self.path} is too large to load: {what}."))

    def _count(self, value, what: str, most: int | None = None) -> int:
        """`value` as a whole number from 0 to `most`, else a clear error."""
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self.fail(f"{what} must be a whole number >= 0, not {value!r}")
        if most is not None and value > most:
            raise self.fail(f"{what} is {value}, more than {most}")
        return value

    def _uris(self):
        """(what, uri) for every buffer and image that names its bytes by URI."""
        for kind, items in (("buffer", self.doc.buffers), ("image", self.doc.images)):
            for index, item in enumerate(items):
                if item.uri is not None and not isinstance(item.uri, str):
                    raise self.fail(f"{kind} {index} has a uri that is not a string ({item.uri!r})")
                if item.uri is not None:
                    yield f"{kind} {index}", item.uri

    def _load_buffer(self, index: int, buffer: gl.Buffer) -> bytes:
        if buffer.uri is None:
            if self._glb_bin is None:
                raise self.fail(f"buffer {index} has no uri and the file has no binary chunk")
            data = self._glb_bin
        else:
            data = self._read_uri(buffer.uri, f"buffer {index}")
        length = self._count(buffer.byteLength, f"buffer {index}'s byteLength")
        if len(data) < length:
            raise self.fail(f"buffer {index} holds {len(data)} bytes, fewer than its byteLength {length}")
        return data

    def _read_uri(self, uri: str, what: str) -> bytes:
        """Bytes behind a data: URI or a file path relative to the glTF file."""
        if uri.startswith("data:"):
            return self._decode_data_uri(uri, what)
        return _read_capped(self._local_file(uri, what), self.path)

    def _decode_data_uri(self, uri: str, what: str) -> bytes:
        header, comma, payload = uri.partition(",")
        if not comma:
            raise self.fail(f"{what} has a data URI with no ',' before its data")
        try:
            if header.endswith(";base64"):
                return base64.b64decode(payload, validate=True)
            return urllib.parse.unquote_to_bytes(payload)
        except ValueError as err:
            raise self.fail(f"{what} has a data URI whose base64 cannot be decoded ({err})") from None

    def _local_file(self, uri: str, what: str) -> Path:
        """The file a relative URI names. Anything that could leave the avatar's folder (a
        scheme, an absolute path or drive, '..', a symlink pointing out) is refused."""
        shown = _shorten(uri)
        name = urllib.parse.unquote(uri).replace("\\", "/")
        if _SCHEME.match(uri) or _SCHEME.match(name) or name.startswith("/") or "\0" in name:
            raise self.fail(f"{what} points at {shown}; an avatar may only use files in its own "
                            "folder, named by relative paths, or data: URIs")
        try:
            folder = self.path.parent.resolve()
            file = (folder / name).resolve()
        except (OSError, RuntimeError) as err:  # a symlink loop, a name the OS refuses
            raise self.fail(f"{what} points at {shown}, which cannot be resolved ({err})") from None
        if not file.is_relative_to(folder):
            raise self.fail(f"{what} points at {shown}, which leads outside the avatar's folder "
                            f"{folder}; keep the avatar's files beside it")
        if not file.exists():
            raise self.fail(f"{what} refers to {file}, which does not exist")
        if not file.is_file():
            raise self.fail(f"{what} refers to {file}, which is not a regular file")
        return file

    def view_bytes(self, index: int) -> tuple[bytes, int | None]:
        """(bytes of a bufferView, its byteStride)."""
        if not isinstance(index, int) or not 0 <= index < len(self.doc.bufferViews):
            raise self.fail(f"bufferView {index!r} does not exist")
        view = self.doc.bufferViews[index]
        if not isinstance(view.buffer, int) or not 0 <= view.buffer < len(self.buffers):
            raise self.fail(f"bufferView {index} refers to a missing buffer")
        start = self._count(view.byteOffset or 0, f"bufferView {index}'s byteOffset")
        length = self._count(view.byteLength, f"bufferView {index}'s byteLength")
        data = self.buffers[view.buffer]
        if start + length > len(data):
            raise self.fail(f"bufferView {index} reaches past the end of buffer {view.buffer}")
        if view.byteStride is not None:
            stride = self._count(view.byteStride, f"bufferView {index}'s byteStride")
            if not MIN_STRIDE_BYTES <= stride <= MAX_STRIDE_BYTES or stride % 4:
                raise self.fail(f"bufferView {index} has byteStride {stride}; glTF allows "
                                f"multiples of 4 from {MIN_STRIDE_BYTES} to {MAX_STRIDE_BYTES}")
        return data[start : start + length], view.byteStride

    def accessor_def(self, index: int) -> gl.Accessor:
        """Accessor `index`'s description, without its data."""
        if not isinstance(index, int) or not 0 <= index < len(self.doc.accessors):
            raise self.fail(f"accessor {index!r} does not exist")
        return self.doc.accessors[index]

    def accessor(self, index: int) -> np.ndarray:
        """Decode accessor `index` into (count, width) float64 (normalized integers scaled
        into [0, 1] or [-1, 1]), sparse substitutions applied."""
        acc = self.accessor_def(index)
        what = f"accessor {index}"
        if acc.componentType not in COMPONENTS or acc.type not in WIDTHS:
            raise self.fail(f"{what} has an unknown componentType {acc.componentType!r} or type {acc.type!r}")
        width = WIDTHS[acc.type]
        count = self._count(acc.count, f"{what}'s count")
        if count * width > MAX_ACCESSOR_VALUES:
            raise self.too_large(f"{what} holds {count} x {width} numbers, more than the "
                                 f"{MAX_ACCESSOR_VALUES} one accessor may have")
        if acc.bufferView is None:
            values = np.zeros((count, width), dtype=np.float64)
        else:
            values = self._dense(acc.componentType, acc.normalized, (count, width), what,
                                 acc.bufferView, acc.byteOffset)
        if acc.sparse is not None and acc.sparse.count:
            self._apply_sparse(acc, values, what)
        if not np.isfinite(values).all():
            raise self.fail(f"{what} holds NaN or infinite values")
        return values

    def _dense(self, component: int, normalized, shape: tuple[int, int], what: str,
               view: int, offset) -> np.ndarray:
        """`shape` rows of `component` numbers read from bufferView `view` at `offset`."""
        dtype, divisor = COMPONENTS[component]
        data, stride = self.view_bytes(view)
        offset = self._count(offset or 0, f"{what}'s byteOffset")
        count, width = shape
        item = np.dtype(dtype).itemsize * width
        stride = stride or item
        if stride < item:
            raise self.fail(f"{what} has {item}-byte elements but its bufferView's byteStride is {stride}")
        if count and offset + stride * (count - 1) + item > len(data):
            raise self.fail(f"{what} reads past the end of its bufferView")
        if not count:
            return np.zeros((0, width), dtype=np.float64)
        rows = np.ndarray(shape, dtype=np.dtype(dtype).newbyteorder("<"), buffer=data,
                          offset=offset, strides=(stride, np.dtype(dtype).itemsize))
        with np.errstate(invalid="ignore", over="ignore"):  # non-finite: refused by the caller
            values = rows.astype(np.float64)
        if normalized and divisor is not None:
            values = np.maximum(values / divisor, -1.0)
        return values

    def _apply_sparse(self, acc: gl.Accessor, values: np.ndarray, what: str) -> None:
        sparse, what = acc.sparse, f"sparse {what}"
        if sparse.indices is None or sparse.values is None:
            raise self.fail(f"{what} lacks its indices or values")
        count = self._count(sparse.count, f"{what}'s count", len(values))
        if sparse.indices.componentType not in INDEX_COMPONENTS:
            raise self.fail(f"{what} has indices of an invalid component type")
        rows = self._dense(sparse.indices.componentType, False, (count, 1), what,
                           sparse.indices.bufferView, sparse.indices.byteOffset)
        rows = rows[:, 0].astype(np.int64)
        subst = self._dense(acc.componentType, acc.normalized, (count, values.shape[1]), what,
                            sparse.values.bufferView, sparse.values.byteOffset)
        if rows.size and (rows.min() < 0 or rows.max() >= len(values)):
            raise self.fail(f"{what} substitutes rows outside 0..{len(values) - 1}")
        values[rows] = subst

    def image(self, index: int) -> np.ndarray:
        """Decode image `index` (embedded, data URI or file) to (H, W, 4) uint8."""
        if not isinstance(index, int) or not 0 <= index < len(self.doc.images):
            raise self.fail(f"image {index!r} does not exist")
        image = self.doc.images[index]
        if image.bufferView is not None:
            data = self.view_bytes(image.bufferView)[0]
        elif image.uri:
            data = self._read_uri(image.uri, f"image {index}")
        else:
            raise self.fail(f"image {index} has neither a bufferView nor a uri")
        try:
            with Image.open(io.BytesIO(data), formats=_IMAGE_FORMATS) as decoded:
                if decoded.width * decoded.height > MAX_IMAGE_PIXELS:
                    raise self.too_large(f"image {index} is {decoded.width}x{decoded.height} pixels, "
                                         f"more than the {MAX_IMAGE_PIXELS} a texture may have")
                return np.asarray(decoded.convert("RGBA"), dtype=np.uint8).copy()
        except LivefaceError:
            raise
        except Exception as err:  # noqa: BLE001 - Pillow's decoders raise many types for damaged data
            raise self.fail(f"image {index} cannot be decoded ({type(err).__name__}: {err})") from None


def invalid(path: Path, what: str) -> LivefaceError:
    """The error for a file that breaks glTF's rules, on one line whatever `what` holds."""
    return LivefaceError(_one_line(f"avatar {path} is not a valid glTF file: {what}."))


def _read_capped(file: Path, avatar: Path) -> bytes:
    """A file's bytes, refusing one too large to be an avatar before reading it."""
    try:
        size = file.stat().st_size
        if size > MAX_FILE_BYTES:
            raise LivefaceError(f"avatar {avatar} is too large to load: {file} is {size} bytes, "
                                f"more than the {MAX_FILE_BYTES} an avatar file may have.")
        return file.read_bytes()
    except OSError as err:
        raise LivefaceError(f"avatar {avatar}: {file} cannot be read ({err.strerror}).") from None


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
    if length < 20 or length % 4:
        raise bad(f"the header announces {length} bytes; a GLB is at least 20 bytes and a multiple of 4")
    chunks, offset = {}, 12
    while offset < length:
        if offset + 8 > length:
            raise bad(f"a chunk header at byte {offset} runs past the end of the file (truncated?)")
        size, kind = struct.unpack_from("<II", raw, offset)
        if offset + 8 + size > length:
            raise bad(f"the chunk at byte {offset} announces {size} bytes, past the end of the file (truncated?)")
        if size % 4:
            raise bad(f"the chunk at byte {offset} is {size} bytes long, not a multiple of 4")
        if offset == 12 and (kind != CHUNK_JSON or size == 0):
            raise bad("its first chunk is not a JSON chunk with content")
        chunks.setdefault(kind, raw[offset + 8 : offset + 8 + size])
        offset += 8 + size
    return chunks[CHUNK_JSON], chunks.get(CHUNK_BIN)


def _parse_json(text: bytes, path: Path) -> gl.GLTF2:
    try:
        data = json.loads(text.decode("utf-8"), parse_constant=_refuse_constant, parse_float=_finite_float)
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise LivefaceError(
            f"avatar {path} is neither a glTF binary (.glb) nor glTF JSON; export the avatar as glTF 2.0."
        ) from None
    except RecursionError:
        raise invalid(path, "its JSON nests too deeply") from None
    except ValueError as err:  # from the two hooks: a number that is not finite
        raise invalid(path, f"its JSON has {err}") from None
    _check_layout(data, path)
    try:
        return gl.GLTF2.from_json(text.decode("utf-8"), infer_missing=True)
    except Exception as err:  # noqa: BLE001 - the schema library raises many types for malformed fields
        raise LivefaceError(_one_line(f"avatar {path} has a malformed glTF document ({err}).")) from None


def _check_layout(data, path: Path) -> None:
    """The document is an object with a glTF 2.0 asset, and its top-level arrays are arrays
    of objects, so the schema library sees the shapes it expects."""
    if not isinstance(data, dict):
        raise invalid(path, f"its JSON is a {type(data).__name__}, not an object")
    asset = data.get("asset")
    if not isinstance(asset, dict) or str(asset.get("version", "")).split(".")[0] != "2":
        raise LivefaceError(f"avatar {path} is not glTF 2.0 (missing or wrong asset.version).")
    for key in TOP_LEVEL_ARRAYS:
        items = data.get(key, [])
        if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
            raise invalid(path, f"'{key}' must be an array of objects")
    objects = sum(len(data.get(key, [])) for key in TOP_LEVEL_ARRAYS)
    if objects > MAX_JSON_OBJECTS:
        raise LivefaceError(f"avatar {path} is too large to load: its JSON lists {objects} nodes, "
                            f"meshes, accessors and the like, more than {MAX_JSON_OBJECTS}.")


def _refuse_constant(name: str):
    raise ValueError(f"{name}, which JSON and glTF do not allow")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text}, a number too large for a float (infinite)")
    return value


def _shorten(text: str, limit: int = 120) -> str:
    """`text` quoted for a message, escaped and cut short."""
    return repr(text if len(text) <= limit else text[:limit] + "...")


def _one_line(text: str) -> str:
    return " ".join(text.split())
