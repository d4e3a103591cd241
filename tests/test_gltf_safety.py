"""Avatars from strangers: files may only read beside themselves, and damaged or hostile
files end in a `LivefaceError` quickly, never a traceback, a hang or a huge allocation."""

import io
import json
import os
import re
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pygltflib as gl
import pytest
from PIL import Image

from app.avatar import gltf, gltf_data
from app.avatar.gltf import load_avatar
from app.avatar.rig import ARKIT_NAMES
from app.errors import LivefaceError
from tests.test_gltf_load import TRIANGLE, _add_target, _tiny_gltf

CHUNK_JSON, CHUNK_BIN = gltf_data.CHUNK_JSON, gltf_data.CHUNK_BIN
SECONDS_PER_LOAD = 2.0
ESCAPING_URIS = [
    "../outside.bin", "sub/../../outside.bin", "..\\outside.bin", "%2e%2e/outside.bin",
    "..%2Foutside.bin", "/etc/passwd", "//server/share/outside.bin", "C:\\Windows\\outside.bin",
    "C:/outside.bin", "file:///etc/passwd", "file:outside.bin", "http://example.com/outside.bin",
    "https://example.com/outside.bin", "ftp://example.com/outside.bin",
]
EXTREME_NUMBERS = [0, -1, 3, 4095, 2**31 - 1, 2**32 + 4, 2**63, 10**30, -1e300, 1e-300]
WRONG_VALUES = ["x", "", -1, -(2**31), 2**31, 2**64, 1.5, None, [], [1, 2], {}, {"a": 1}, True, 1e308]


# ---------------------------------------------------------------- a small but complete file

def _append_view(doc: gl.GLTF2, blob: bytearray, data: bytes) -> int:
    blob.extend(b"\0" * (-len(blob) % 4))
    doc.bufferViews.append(gl.BufferView(buffer=0, byteOffset=len(blob), byteLength=len(data)))
    blob.extend(data)
    return len(doc.bufferViews) - 1


def _append_accessor(doc: gl.GLTF2, blob: bytearray, array: np.ndarray, kind: str) -> int:
    view = _append_view(doc, blob, np.ascontiguousarray(array, np.float32).tobytes())
    doc.accessors.append(gl.Accessor(bufferView=view, componentType=gl.FLOAT, count=len(array), type=kind))
    return len(doc.accessors) - 1


def _png(width: int = 4, height: int = 4) -> bytes:
    out = io.BytesIO()
    Image.new("RGBA", (width, height), (200, 150, 120, 255)).save(out, "PNG")
    return out.getvalue()


def _rich_doc() -> gl.GLTF2:
    """The two-triangle quad with dense and sparse ARKit targets, normals, UVs and an
    embedded PNG texture, so every reader in the loader has something to read."""
    doc = _tiny_gltf(["jawOpen", "eyeBlinkLeft"])
    blob = bytearray(doc.binary_blob())
    prim = doc.meshes[0].primitives[0]
    prim.targets.append({"POSITION": _add_target(doc, blob, [3])})
    doc.meshes[0].extras["targetNames"].append("mouthClose")
    prim.attributes.NORMAL = _append_accessor(doc, blob, np.tile([0.0, 0.0, 1.0], (4, 1)), gl.VEC3)
    prim.attributes.TEXCOORD_0 = _append_accessor(doc, blob, TRIANGLE[:, :2], gl.VEC2)
    doc.images.append(gl.Image(bufferView=_append_view(doc, blob, _png()), mimeType="image/png"))
    doc.textures.append(gl.Texture(source=0))
    texture = gl.TextureInfo(index=0)
    doc.materials.append(gl.Material(name="skin", pbrMetallicRoughness=gl.PbrMetallicRoughness(baseColorTexture=texture)))
    prim.material = 0
    blob.extend(b"\0" * (-len(blob) % 4))
    doc.set_binary_blob(bytes(blob))
    doc.buffers[0].byteLength = len(blob)
    return doc


def _split(glb: bytes) -> tuple[dict, bytes]:
    json_length = struct.unpack_from("<I", glb, 12)[0]
    bin_length = struct.unpack_from("<I", glb, 20 + json_length)[0]
    return json.loads(glb[20 : 20 + json_length]), glb[28 + json_length : 28 + json_length + bin_length]


def _pack(document: dict, binary: bytes) -> bytes:
    """A GLB from a JSON document and a BIN chunk, both padded as glTF requires."""
    text = json.dumps(document).encode()
    text += b" " * (-len(text) % 4)
    binary += b"\0" * (-len(binary) % 4)
    body = struct.pack("<II", len(text), CHUNK_JSON) + text + struct.pack("<II", len(binary), CHUNK_BIN) + binary
    return struct.pack("<4sII", b"glTF", 2, 12 + len(body)) + body


@pytest.fixture(scope="module")
def base_glb() -> bytes:
    glb = b"".join(_rich_doc().save_to_bytes())
    return _pack(*_split(glb))


def _load(path: Path):
    return load_avatar(path, require_all_targets=False)


def test_the_base_file_loads_whole(base_glb, tmp_path):
    path = tmp_path / "rich.glb"
    path.write_bytes(base_glb)
    avatar = _load(path)
    assert avatar.target_names == tuple(n for n in ARKIT_NAMES if n in {"jawOpen", "eyeBlinkLeft", "mouthClose"})
    assert avatar.parts[0].material.base_color_texture.shape == (4, 4, 4)


# ---------------------------------------------------------------- fuzzing

def _leaf_paths(value, path=()):
    """Every place in a JSON tree, as a path of keys and indices."""
    yield path
    items = value.items() if isinstance(value, dict) else enumerate(value) if isinstance(value, list) else ()
    for key, child in items:
        yield from _leaf_paths(child, (*path, key))


def _at(document: dict, path: tuple):
    for key in path:
        document = document[key]
    return document


def _replaced(document: dict, path: tuple, value) -> dict:
    copy = json.loads(json.dumps(document))
    _at(copy, path[:-1])[path[-1]] = value
    return copy


def _mutants(glb: bytes, rng: np.random.Generator):
    """(name, bytes) of damaged copies of `glb`, the same ones on every run."""
    document, binary = _split(glb)
    json_end = 20 + struct.unpack_from("<I", glb, 12)[0]
    for cut in sorted({0, 4, 11, 12, 19, 20, json_end, json_end + 8, len(glb) - 1,
                       *rng.integers(1, len(glb), 50).tolist()}):
        yield f"cut at {cut}", glb[:cut]
    for region, (low, high), count in (("json", (20, json_end), 25), ("bin", (json_end + 8, len(glb)), 40)):
        for k in range(count):
            flipped = bytearray(glb)
            for at in rng.integers(low, high, rng.integers(1, 4)):
                flipped[at] = int(rng.integers(0, 256))
            yield f"{region} flip {k}", bytes(flipped)
    digits = [i for i in range(20, json_end) if chr(glb[i]).isdigit()]
    for k in range(40):  # the JSON stays valid; an index, count or offset changes
        changed = bytearray(glb)
        changed[digits[rng.integers(len(digits))]] = ord(str(rng.integers(10)))
        yield f"json digit {k}", bytes(changed)
    for offset in (8, 12, json_end):
        for value in (0, 1, 3, 8, len(glb) + 4, 0x7FFFFFFF, 0xFFFFFFFF, int(rng.integers(0, 2**32))):
            yield f"length at {offset} = {value}", glb[:offset] + struct.pack("<I", value) + glb[offset + 4:]
    paths = [p for p in _leaf_paths(document) if p]
    numbers = [p for p in paths if isinstance(_at(document, p), int | float)]
    for k in range(40):
        path = numbers[rng.integers(len(numbers))]
        value = EXTREME_NUMBERS[rng.integers(len(EXTREME_NUMBERS))]
        yield f"{'/'.join(map(str, path))} = {value!r}", _pack(_replaced(document, path, value), binary)
    for k in range(50):
        path = paths[rng.integers(len(paths))]
        value = WRONG_VALUES[rng.integers(len(WRONG_VALUES))]
        yield f"{'/'.join(map(str, path))} = {value!r}", _pack(_replaced(document, path, value), binary)
    for uri in ESCAPING_URIS:
        yield f"buffer uri {uri}", _pack(_replaced(document, ("buffers", 0, "uri"), uri), binary)


def test_damaged_files_load_or_fail_cleanly_and_quickly(base_glb, tmp_path):
    failures, outcomes = [], {"loaded": 0, "refused": 0}
    path = tmp_path / "mutant.glb"
    for name, content in _mutants(base_glb, np.random.default_rng(1234)):
        path.write_bytes(content)
        start = time.perf_counter()
        try:
            _load(path)
            outcomes["loaded"] += 1
        except LivefaceError as err:
            outcomes["refused"] += 1
            if "\n" in str(err):
                failures.append(f"{name}: a message of several lines: {err}")
        except Exception as err:  # noqa: BLE001 - anything else is the bug this test hunts
            failures.append(f"{name}: {type(err).__name__}: {err}")
        elapsed = time.perf_counter() - start
        if elapsed > SECONDS_PER_LOAD:
            failures.append(f"{name}: took {elapsed:.1f} s")
    assert not failures, "\n".join(failures)
    assert sum(outcomes.values()) >= 250 and outcomes["refused"] > 150 and outcomes["loaded"] > 20, outcomes


# ---------------------------------------------------------------- URIs

def _gltf_beside(folder: Path, buffer_uri: str | None = None, image_uri: str | None = None) -> Path:
    """head.gltf in `folder` with its buffer in head.bin; either URI may be replaced."""
    document, binary = _split(b"".join(_rich_doc().save_to_bytes()))
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "head.bin").write_bytes(binary)
    (folder / "skin.png").write_bytes(_png())
    document["buffers"][0]["uri"] = buffer_uri or "head.bin"
    document["images"][0] = {"uri": image_uri or "skin.png"}
    path = folder / "head.gltf"
    path.write_text(json.dumps(document))
    return path


@pytest.fixture
def outside(tmp_path) -> Path:
    """A real buffer and texture beside the avatar's folder, so refusals are not about
    missing files."""
    _gltf_beside(tmp_path / "elsewhere")
    (tmp_path / "outside.bin").write_bytes((tmp_path / "elsewhere" / "head.bin").read_bytes())
    (tmp_path / "outside.png").write_bytes(_png())
    return tmp_path / "outside.bin"


def test_files_beside_the_avatar_load(tmp_path):
    path = _gltf_beside(tmp_path / "avatar", "head%2Ebin", "./skin.png")
    assert _load(path).parts[0].material.base_color_texture.shape == (4, 4, 4)


@pytest.mark.parametrize("uri", ESCAPING_URIS)
@pytest.mark.parametrize("field", ["buffer", "image"])
def test_uris_leaving_the_folder_are_refused_before_reading(tmp_path, outside, monkeypatch, uri, field):
    uris = {"buffer_uri": uri} if field == "buffer" else {"image_uri": uri.replace(".bin", ".png")}
    path = _gltf_beside(tmp_path / "avatar", **uris)
    reads = []
    real_read = gltf_data._read_capped
    monkeypatch.setattr(gltf_data, "_read_capped", lambda file, avatar: reads.append(file) or real_read(file, avatar))
    with pytest.raises(LivefaceError, match=f"{field} 0 points at") as caught:
        _load(path)
    assert repr(uris.popitem()[1])[1:-1] in str(caught.value)
    assert reads == [path]  # only the .gltf itself


@pytest.mark.parametrize("target", ["file", "folder"])
def test_symlinks_out_of_the_folder_are_refused(tmp_path, outside, target):
    folder = tmp_path / "avatar"
    if target == "file":
        path = _gltf_beside(folder, "link.bin")
        os.symlink(outside, folder / "link.bin")
    else:
        path = _gltf_beside(folder, "sub/head.bin")
        os.symlink(tmp_path / "elsewhere", folder / "sub")
    with pytest.raises(LivefaceError, match="leads outside the avatar's folder"):
        _load(path)


def test_symlinks_within_the_folder_load(tmp_path):
    folder = tmp_path / "avatar"
    path = _gltf_beside(folder, "link.bin")
    os.symlink(folder / "head.bin", folder / "link.bin")
    assert _load(path).vertex_count == 4


@pytest.mark.parametrize("uri, message", [
    ("data:application/octet-stream;base64,AAA*", "base64 cannot be decoded"),
    ("data:application/octet-stream;base64,AAAAA", "base64 cannot be decoded"),
    ("data:application/octet-stream;base64", "no ','"),
])
def test_bad_data_uris_are_refused(tmp_path, uri, message):
    with pytest.raises(LivefaceError, match=message):
        _load(_gltf_beside(tmp_path / "avatar", uri))


# ---------------------------------------------------------------- sizes, numbers and shapes

def _broken(base_glb: bytes, breakage: str) -> bytes:
    document, binary = _split(base_glb)
    accessors, views = document["accessors"], document["bufferViews"]
    if breakage == "nan position":
        return _pack(document, struct.pack("<f", float("nan")) + binary[4:])
    if breakage == "inf morph":
        offset = views[accessors[2]["bufferView"]]["byteOffset"]
        return _pack(document, binary[:offset] + struct.pack("<f", float("inf")) + binary[offset + 4:])
    if breakage == "huge count without data":
        accessors[2] = {"componentType": gl.FLOAT, "count": 2**31, "type": "VEC3"}
    elif breakage == "huge count with data":
        accessors[0]["count"] = 2**24
    elif breakage == "offset past the view":
        accessors[0]["byteOffset"] = 2**40
    elif breakage == "negative stride":
        views[0]["byteStride"] = -12
    elif breakage == "stride shorter than an element":
        views[0]["byteStride"] = 4
    elif breakage == "float indices":
        accessors[1]["componentType"] = gl.FLOAT
    elif breakage == "vec2 positions":
        accessors[0]["type"] = "VEC2"
    elif breakage == "index out of range":
        return _pack(document, binary[:48] + struct.pack("<H", 60000) + binary[50:])
    elif breakage == "missing byteLength":
        del views[0]["byteLength"]
    elif breakage == "missing componentType":
        del accessors[0]["componentType"]
    elif breakage == "node tree explosion":
        document["nodes"] += [{"children": [len(document["nodes"]) + k + 1] * 2} for k in range(60)]
        document["nodes"].append({"mesh": 0})
        document["scenes"][0]["nodes"].append(1)
    elif breakage == "accessors not a list":
        document["accessors"] = {"0": accessors[0]}
    return _pack(document, binary)


BREAKAGES = {
    "nan position": "accessor 0 holds NaN or infinite values",
    "inf morph": "accessor 2 holds NaN or infinite values",
    "huge count without data": "too large to load: accessor 2 holds 2147483648 x 3 numbers",
    "huge count with data": "too large to load: accessor 0 holds 16777216 x 3 numbers",
    "offset past the view": "accessor 0 reads past the end of its bufferView",
    "negative stride": "bufferView 0's byteStride must be a whole number >= 0, not -12",
    "stride shorter than an element": "12-byte elements but its bufferView's byteStride is 4",
    "float indices": "triangle indices must be a SCALAR accessor of unsigned integers",
    "vec2 positions": "attribute POSITION has 2 components per vertex, not 3",
    "index out of range": "triangle indices reach past the 4 vertices",
    "missing byteLength": "bufferView 0's byteLength must be a whole number >= 0, not None",
    "missing componentType": "accessor 0 has an unknown componentType None",
    "node tree explosion": "appears twice in the node tree",
    "accessors not a list": "'accessors' must be an array of objects",
}


@pytest.mark.parametrize("breakage", BREAKAGES)
def test_hostile_numbers_are_refused_quickly(base_glb, tmp_path, breakage):
    path = tmp_path / "broken.glb"
    path.write_bytes(_broken(base_glb, breakage))
    start = time.perf_counter()
    with pytest.raises(LivefaceError, match=re.escape(BREAKAGES[breakage])):
        _load(path)
    assert time.perf_counter() - start < SECONDS_PER_LOAD


def test_avatars_with_too_many_vertices_are_refused(base_glb, tmp_path, monkeypatch):
    monkeypatch.setattr(gltf, "MAX_AVATAR_VERTICES", 3)
    path = tmp_path / "dense.glb"
    path.write_bytes(base_glb)
    with pytest.raises(LivefaceError, match="more than the 3 vertices a VR avatar may have"):
        _load(path)


@pytest.mark.parametrize("text, message", [
    ("[1, 2, 3]", "list, not an object"),
    ('{"asset": {"version": "2.0"}, "nodes": [{"translation": [NaN, 0, 0]}]}', "NaN"),
    ('{"asset": {"version": "2.0"}, "nodes": [{"translation": [1e400, 0, 0]}]}', "infinite"),
    ("[" * 100_000 + "]" * 100_000, "nests too deeply"),
])
def test_json_that_is_no_document_is_refused(tmp_path, text, message):
    path = tmp_path / "odd.gltf"
    path.write_text(text)
    with pytest.raises(LivefaceError, match=message):
        _load(path)


def test_oversized_files_are_refused_before_reading(tmp_path, monkeypatch):
    path = tmp_path / "big.glb"
    with open(path, "wb") as sparse_file:
        sparse_file.truncate(gltf_data.MAX_FILE_BYTES + 1)  # a hole: no disk used
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read an oversized file"))
    with pytest.raises(LivefaceError, match="more than the"):
        _load(path)


def test_huge_textures_are_refused_before_decoding(base_glb, tmp_path):
    png = bytearray(_png(1, 1))
    struct.pack_into(">II", png, 16, 9000, 9000)  # IHDR's width and height
    struct.pack_into(">I", png, 29, zlib.crc32(png[12:29]))
    document, binary = _split(base_glb)
    view = document["bufferViews"][document["images"][0]["bufferView"]]
    view.update(byteOffset=len(binary), byteLength=len(png))
    path = tmp_path / "bomb.glb"
    path.write_bytes(_pack(document, binary + bytes(png)))
    with pytest.raises(LivefaceError, match="9000x9000 pixels"):
        _load(path)


@pytest.mark.parametrize("breakage", ["escaping uri", "truncated", "nan position", "node tree explosion"])
def test_the_command_line_says_one_line_and_exits_2(base_glb, tmp_path, capsys, breakage):
    from app.cli import main

    config = tmp_path / "config.toml"
    config.write_text("")
    if breakage == "escaping uri":
        path, message = _gltf_beside(tmp_path / "avatar", "../outside.bin"), "'../outside.bin'"
    else:
        path, message = tmp_path / "bad.glb", BREAKAGES.get(breakage, "truncated?")
        path.write_bytes(base_glb[:-8] if breakage == "truncated" else _broken(base_glb, breakage))
    assert main(["--config", str(config), "avatar", "info", "--avatar", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("liveface: error: ") and err.count("\n") == 1 and message in err
