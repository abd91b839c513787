"""Snapshot files: one safetensors file per snapshot, JSON state in its header.

Tensors go in the safetensors body; everything else (step, epoch, position, RNG states
that are not tensors, optimizer hyper-parameters, execution fingerprint) goes as one
canonical JSON string under ``__metadata__["trainproof"]``. One file means one SHA-256
covers the whole snapshot, and nothing is ever pickled.

The header is parsed and checked here (offsets, sizes, dtypes) before any tensor is
touched, so a truncated or corrupted file is refused with a message that says what is
wrong instead of failing somewhere inside a training step.
"""
from __future__ import annotations

import hashlib
import json
import math
import mmap
import os
import struct
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

FORMAT = "trainproof-snapshot/1"
META_KEY = "trainproof"
MAX_HEADER_BYTES = 100 * 1024 * 1024
HASH_CHUNK = 8 * 1024 * 1024

# safetensors dtype → (numpy dtype used to map the bytes, item size)
DTYPES: dict[str, tuple[str, int]] = {
    "F64": ("<f8", 8), "F32": ("<f4", 4), "F16": ("<f2", 2), "BF16": ("<u2", 2),
    "I64": ("<i8", 8), "I32": ("<i4", 4), "I16": ("<i2", 2), "I8": ("i1", 1),
    "U64": ("<u8", 8), "U32": ("<u4", 4), "U16": ("<u2", 2), "U8": ("u1", 1), "BOOL": ("?", 1),
}
FLOAT_DTYPES = ("F64", "F32", "F16", "BF16")


class SnapshotError(ValueError):
    """A snapshot (or dataset) file that must not be used: wrong hash, truncated, corrupt."""


@dataclass(frozen=True)
class TensorInfo:
    """Where one tensor lives in the file."""

    name: str
    dtype: str
    shape: tuple[int, ...]
    start: int  # absolute byte offset in the file
    end: int

    @property
    def numel(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class Header:
    """A parsed, validated safetensors header."""

    tensors: dict[str, TensorInfo]
    metadata: dict[str, str]
    size: int

    @property
    def meta(self) -> dict[str, Any] | None:
        """The trainproof JSON state, or None for a plain safetensors file."""
        raw = self.metadata.get(META_KEY)
        return None if raw is None else json.loads(raw)


def dumps_canonical(obj: Any) -> str:
    """JSON with sorted keys and no spaces: equal objects give equal bytes (and hashes)."""
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), allow_nan=False)


def parse_header(raw: bytes, size: int, label: str) -> Header:
    """Validate a safetensors header given its first bytes and the total file size."""
    if size < 8:
        raise SnapshotError(f"{label}: truncated ({size} bytes), not a safetensors file")
    (length,) = struct.unpack("<Q", raw[:8])
    if length > MAX_HEADER_BYTES or 8 + length > size:
        raise SnapshotError(f"{label}: header length {length} does not fit a {size}-byte file (truncated or not safetensors)")
    if len(raw) < 8 + length:
        raise SnapshotError(f"{label}: truncated inside the header")
    try:
        header = json.loads(raw[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise SnapshotError(f"{label}: corrupt header, not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise SnapshotError(f"{label}: corrupt header, not a JSON object")
    metadata = header.pop("__metadata__", None) or {}
    if not isinstance(metadata, dict) or not all(isinstance(v, str) for v in metadata.values()):
        raise SnapshotError(f"{label}: corrupt header, __metadata__ must map strings to strings")
    data_start = 8 + length
    tensors: dict[str, TensorInfo] = {}
    for name, entry in header.items():
        tensors[name] = _tensor_info(name, entry, data_start, label)
    expected = 0
    for info in sorted(tensors.values(), key=lambda t: t.start):
        if info.start - data_start != expected:
            raise SnapshotError(f"{label}: corrupt header, tensor {info.name!r} does not start where the previous one ends")
        expected = info.end - data_start
    if data_start + expected != size:
        have = size - data_start
        what = "truncated" if have < expected else "has trailing bytes"
        raise SnapshotError(f"{label}: {what}: header declares {expected} bytes of tensor data, file holds {have}")
    return Header(tensors=tensors, metadata=metadata, size=size)


def _tensor_info(name: str, entry: Any, data_start: int, label: str) -> TensorInfo:
    try:
        dtype, shape, (start, end) = entry["dtype"], entry["shape"], entry["data_offsets"]
    except (TypeError, KeyError, ValueError):
        raise SnapshotError(f"{label}: corrupt header entry for tensor {name!r}") from None
    if dtype not in DTYPES:
        raise SnapshotError(f"{label}: tensor {name!r} has unsupported dtype {dtype!r}")
    if not isinstance(shape, list) or not all(isinstance(d, int) and d >= 0 for d in shape):
        raise SnapshotError(f"{label}: tensor {name!r} has an invalid shape {shape!r}")
    if not (isinstance(start, int) and isinstance(end, int) and 0 <= start <= end):
        raise SnapshotError(f"{label}: tensor {name!r} has invalid offsets")
    if end - start != math.prod(shape) * DTYPES[dtype][1]:
        raise SnapshotError(f"{label}: tensor {name!r}: {end - start} bytes do not match shape {shape} of {dtype}")
    return TensorInfo(name, dtype, tuple(shape), data_start + start, data_start + end)


def read_header(path: str | os.PathLike) -> Header:
    """Parse and validate the header of a safetensors file on disk."""
    path = Path(path)
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            if len(head) == 8:
                (length,) = struct.unpack("<Q", head)
                head += f.read(min(length, MAX_HEADER_BYTES + 1))
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror})") from None
    return parse_header(head, size, str(path))


def open_arrays(path: str | os.PathLike, header: Header | None = None) -> dict[str, np.ndarray]:
    """Memory-map every tensor as a read-only numpy array (BF16 comes back as raw uint16)."""
    header = header or read_header(path)
    if not header.tensors:
        return {}
    with open(path, "rb") as f:
        mapped = np.frombuffer(mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ), dtype=np.uint8)
    arrays = {}
    for name, info in header.tensors.items():
        dtype = np.dtype(DTYPES[info.dtype][0])
        arrays[name] = mapped[info.start : info.end].view(dtype).reshape(info.shape)
    return arrays


def sha256_file(path: str | os.PathLike) -> str:
    """SHA-256 of a file, read in large chunks (hashlib releases the GIL while hashing)."""
    digest = hashlib.sha256()
    with open(path, "rb", buffering=0) as f:
        buf = bytearray(HASH_CHUNK)
        view = memoryview(buf)
        while n := f.readinto(buf):
            digest.update(view[:n])
    return digest.hexdigest()


def sha256_files(paths: list[str | os.PathLike], workers: int | None = None) -> list[str]:
    """SHA-256 of several files in parallel, one file per core (each hash is sequential)."""
    workers = workers or os.cpu_count() or 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(sha256_file, paths))


def write_snapshot(path: str | os.PathLike, tensors: dict, meta: dict) -> tuple[str, int]:
    """Write tensors + JSON state atomically; return (sha256, size) of the file.

    Streamed to disk (`save_file`), then hashed from the file: `save` would build the whole file
    in memory, twice (its buffer and the bytes made of it), two snapshots' worth on top of the
    tensors themselves.
    """
    from safetensors.torch import save_file

    meta = {"format": FORMAT, **meta}
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, tmp,
              metadata={META_KEY: dumps_canonical(meta)})
    with tmp.open("rb+") as f:
        os.fsync(f.fileno())
    sha, size = sha256_file(tmp), tmp.stat().st_size
    tmp.replace(path)
    return sha, size


@dataclass
class Snapshot:
    """A loaded snapshot: CPU tensors, its JSON state, and the hash of the exact bytes read."""

    tensors: dict
    meta: dict[str, Any]
    sha256: str
    size: int


def read_bytes(path: str | os.PathLike) -> bytearray:
    """A file's bytes, read once into a buffer that `parse_snapshot` can view without copying."""
    try:
        with open(path, "rb") as f:
            blob = bytearray(os.fstat(f.fileno()).st_size)
            got = f.readinto(blob)
            if got != len(blob) or f.read(1):
                raise SnapshotError(f"{path}: changed size while being read")
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror})") from None
    return blob


def _views(blob: bytearray, header: Header, label: str) -> dict:
    """One tensor per header entry, viewing ``blob`` (the header has been checked: every tensor's
    bytes lie in the file, back to back, sized for its shape and dtype). Copying them, as
    safetensors' `load` does, held each snapshot twice while it was read."""
    import torch

    dtypes = {"F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
              "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8, "U64": torch.uint64,
              "U32": torch.uint32, "U16": torch.uint16, "U8": torch.uint8, "BOOL": torch.bool}
    tensors = {}
    for info in header.tensors.values():
        dtype, count = dtypes[info.dtype], math.prod(info.shape)
        flat = (torch.frombuffer(blob, dtype=dtype, count=count, offset=info.start) if count
                else torch.empty(0, dtype=dtype))
        if dtype == torch.bool and bool((flat.view(torch.uint8) > 1).any()):
            raise SnapshotError(f"{label}: corrupt safetensors data (BOOL tensor {info.name!r} holds bytes other than 0 and 1)")
        tensors[info.name] = flat.reshape(info.shape)
    return tensors


def parse_snapshot(blob: bytes | bytearray, label: str, require_meta: bool = True) -> Snapshot:
    """Validate and decode snapshot bytes (already hashed by the caller or not).

    The tensors view a bytearray ``blob`` (`read_bytes`'s) and so keep it alive; other bytes are copied once.
    """
    header = parse_header(blob, len(blob), label)
    meta = header.meta
    if require_meta and (meta is None or meta.get("format") != FORMAT):
        raise SnapshotError(f"{label}: not a trainproof snapshot (no {FORMAT!r} state in the header)")
    tensors = _views(blob if isinstance(blob, bytearray) else bytearray(blob), header, label)
    return Snapshot(tensors, meta or {}, hashlib.sha256(blob).hexdigest(), len(blob))


def read_snapshot(path: str | os.PathLike) -> Snapshot:
    """Load a snapshot without a hash to check against (the caller's own files)."""
    return parse_snapshot(read_bytes(path), str(path))


def load_verified(path: str | os.PathLike, expected_sha256: str, expected_size: int | None = None) -> Snapshot:
    """Load a snapshot only if its bytes hash to ``expected_sha256``.

    The bytes are read once, hashed, and parsed from that same buffer, so the file cannot
    change between the check and the use. Raises SnapshotError on any mismatch.
    """
    blob = read_bytes(path)
    if expected_size is not None and len(blob) != expected_size:
        raise SnapshotError(f"{path}: size {len(blob)} bytes, the ledger says {expected_size} (truncated or replaced)")
    actual = hashlib.sha256(blob).hexdigest()
    if actual != expected_sha256.lower():
        raise SnapshotError(f"{path}: SHA-256 {actual} does not match the expected {expected_sha256}")
    return parse_snapshot(blob, str(path))
