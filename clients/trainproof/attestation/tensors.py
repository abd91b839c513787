"""Tensors an attestation is about: read safely, hashed independently of the file format.

An attested input arrives as a ``.safetensors``, ``.npy`` or ``.json`` file. Whatever the
format, it becomes one float32 C-contiguous numpy array (the registry's models are
float32, so this is the array the model actually sees), and its hash is taken over a
canonical encoding of that array, not over the file: a ``.npy`` and a ``.json`` holding
the same float32 values have the same digest, and a receipt can be checked without the
original file.

Nothing is ever unpickled (``np.load(allow_pickle=False)``, safetensors and JSON only),
and every file is refused before it is parsed if it is too large, so a hostile input
cannot run code or exhaust memory. Only numpy and safetensors.numpy: checking a receipt
offline never needs torch.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import struct
import zipfile
from pathlib import Path
from typing import Any, Sequence

import numpy as np

# Big enough for a realistic batch, small enough that one file cannot exhaust memory.
MAX_FILE_BYTES = 256 * 1024 * 1024
MAX_ELEMENTS = 2**26  # 256 MiB of float32
# json.loads holds each number as a Python object (~30 bytes): large inputs go in .npy or .safetensors.
MAX_JSON_BYTES = 32 * 1024 * 1024
DIGEST_DOMAIN = b"trainproof/tensor/v1\x00"
SUFFIXES = (".safetensors", ".npy", ".json")

# safetensors dtypes that are real numbers numpy can hold (BF16 cannot; BOOL is not numeric).
_SAFETENSORS_NUMERIC = {"F64", "F32", "F16", "I64", "I32", "I16", "I8", "U64", "U32", "U16", "U8"}
_MAX_SAFETENSORS_HEADER = 16 * 1024 * 1024


class TensorFileError(ValueError):
    """A tensor file (or array) that cannot be attested: wrong format, type, shape or values."""


# --- reading --------------------------------------------------------------------------

def read_array(path: str | Path, name: str | None = None) -> np.ndarray:
    """Load a numeric array from ``path`` as float32, C-contiguous, finite and non-empty.

    ``.safetensors``: the file's only tensor, or the tensor called ``name`` (``"inputs"``,
    ``"outputs"``). ``.npy``: the array (``name`` is ignored). ``.json``: a nested list of
    numbers, or an object whose key ``name`` (or whose only key) holds one, such as
    ``{"inputs": [[…], …]}``. Integer and float64 values are converted to float32, the
    type the registry's models compute in; a value float32 cannot hold is refused.
    Raises TensorFileError saying what is wrong.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise TensorFileError(f"{path}: unknown extension {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    try:
        size = path.stat().st_size
        if size > MAX_FILE_BYTES:
            raise TensorFileError(f"{path}: {size} bytes, more than the {MAX_FILE_BYTES} allowed")
        if suffix == ".json" and size > MAX_JSON_BYTES:
            raise TensorFileError(f"{path}: {size} bytes, more than the {MAX_JSON_BYTES} allowed for JSON "
                                  "(use .npy or .safetensors for large inputs)")
        blob = path.read_bytes()
    except OSError as exc:
        raise TensorFileError(f"{path}: cannot read ({exc.strerror})") from None
    if suffix == ".safetensors":
        array = _from_safetensors(blob, name, str(path))
    elif suffix == ".npy":
        array = _from_npy(blob, str(path))
    else:
        array = _from_json_bytes(blob, name, str(path))
    return _canonical(array, str(path))


def _from_safetensors(blob: bytes, name: str | None, label: str) -> np.ndarray:
    """Check the header (names, dtypes, sizes) first, then let safetensors decode the body."""
    from safetensors import SafetensorError
    from safetensors.numpy import load

    if len(blob) < 8:
        raise TensorFileError(f"{label}: bad safetensors header: file of {len(blob)} bytes is truncated")
    (length,) = struct.unpack("<Q", blob[:8])
    if length > min(_MAX_SAFETENSORS_HEADER, len(blob) - 8):
        raise TensorFileError(f"{label}: bad safetensors header: declared length {length} does not fit the file")
    try:
        header = json.loads(blob[8 : 8 + length].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TensorFileError(f"{label}: bad safetensors header: not valid JSON ({exc})") from None
    if not isinstance(header, dict):
        raise TensorFileError(f"{label}: bad safetensors header: not a JSON object")
    header.pop("__metadata__", None)
    names = sorted(header)
    if name is None:
        if len(names) != 1:
            raise TensorFileError(f"{label}: holds {len(names)} tensors {names}; expected exactly one")
        name = names[0]
    elif name not in header:
        raise TensorFileError(f"{label}: no tensor named {name!r}; it holds {names}")
    entry = header[name]
    shape = entry.get("shape") if isinstance(entry, dict) else None
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise TensorFileError(f"{label}: bad safetensors header: entry for {name!r} is malformed")
    dtype = entry.get("dtype")
    if dtype not in _SAFETENSORS_NUMERIC:
        raise TensorFileError(f"{label}: tensor {name!r} has dtype {dtype!r}; expected a real number type "
                              f"({', '.join(sorted(_SAFETENSORS_NUMERIC))})")
    _check_count(shape, label)
    try:
        return load(blob)[name]
    except (SafetensorError, ValueError, TypeError) as exc:
        raise TensorFileError(f"{label}: bad safetensors file ({exc})") from None


def _from_npy(blob: bytes, label: str) -> np.ndarray:
    try:
        array = np.load(io.BytesIO(blob), allow_pickle=False)
    except ValueError as exc:  # object arrays need pickle; a broken header is a ValueError too
        raise TensorFileError(f"{label}: not a numeric .npy array ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise TensorFileError(f"{label}: bad .npy file ({exc})") from None
    if not isinstance(array, np.ndarray):  # np.load returns an NpzFile for a zip archive
        array.close()
        raise TensorFileError(f"{label}: an .npz archive, not a .npy array")
    return array


def _reject_constant(token: str) -> Any:
    raise TensorFileError(f"{token} is not a finite number")


def _from_json_bytes(blob: bytes, name: str | None, label: str) -> np.ndarray:
    try:
        value = json.loads(blob.decode("utf-8"), parse_constant=_reject_constant)
    except TensorFileError as exc:
        raise TensorFileError(f"{label}: {exc} (NaN and infinities are refused)") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise TensorFileError(f"{label}: not valid JSON ({exc})") from None
    except RecursionError:
        raise TensorFileError(f"{label}: JSON nested too deeply") from None
    if isinstance(value, dict):
        keys = sorted(value)
        if name is None:
            if len(keys) != 1:
                raise TensorFileError(f"{label}: a JSON object with keys {keys}; expected one key such as 'inputs'")
            name = keys[0]
        elif name not in value:
            raise TensorFileError(f"{label}: no key {name!r} in the JSON object; it has {keys}")
        value = value[name]
    return _nested_to_array(value, label)


def _nested_to_array(value: Any, label: str) -> np.ndarray:
    """A rectangular nested list of JSON numbers → float64 array, walked level by level."""
    if not isinstance(value, list):
        raise TensorFileError(f"{label}: expected a nested list of numbers, got a JSON {type(value).__name__}")
    shape: list[int] = []
    level: list[Any] = [value]
    while level and all(type(x) is list for x in level):
        lengths = {len(x) for x in level}
        if len(lengths) > 1:
            raise TensorFileError(f"{label}: ragged nested list: lists of lengths {sorted(lengths)[:5]} at depth {len(shape)}")
        shape.append(lengths.pop())
        if math.prod(shape) > MAX_ELEMENTS:
            raise TensorFileError(f"{label}: more than the {MAX_ELEMENTS} elements allowed")
        level = [y for x in level for y in x]
    if math.prod(shape) == 0:
        raise TensorFileError(f"{label}: empty array (shape {shape})")
    for x in level:
        if type(x) is list:
            raise TensorFileError(f"{label}: ragged nested list: numbers and lists mixed at depth {len(shape)}")
        if type(x) not in (int, float):  # bool is a subclass of int: excluded on purpose
            raise TensorFileError(f"{label}: non-numeric value {x!r} in the nested list")
    try:
        return np.array(level, dtype=np.float64).reshape(shape)
    except OverflowError:
        raise TensorFileError(f"{label}: a number is too large for float32") from None


def _check_count(shape: Sequence[int], label: str) -> None:
    count = math.prod(shape)
    if count > MAX_ELEMENTS:
        raise TensorFileError(f"{label}: shape {list(shape)} has {count} elements, more than the {MAX_ELEMENTS} allowed")
    if count == 0:
        raise TensorFileError(f"{label}: empty array (shape {list(shape)})")


def _canonical(array: np.ndarray, label: str) -> np.ndarray:
    """Numeric, non-empty, at least 1-D, finite once in float32; returned float32 C-contiguous."""
    if array.dtype.kind not in "fiu":
        raise TensorFileError(f"{label}: dtype {array.dtype} is not a real number type")
    if array.ndim == 0:
        raise TensorFileError(f"{label}: a scalar, expected an array with a batch dimension")
    _check_count(array.shape, label)
    with np.errstate(over="ignore"):
        out = np.ascontiguousarray(array, dtype=np.float32)
    if not np.isfinite(out).all():
        what = "NaN or infinite values" if not np.isfinite(array).all() else "values too large for float32"
        raise TensorFileError(f"{label}: {what}")
    return out


# --- hashing --------------------------------------------------------------------------

def tensor_digest(array: np.ndarray) -> str:
    """SHA-256 (hex) of a canonical encoding of the array's dtype, shape and values.

    ``DIGEST_DOMAIN ‖ dtype name ‖ 0x00 ‖ JSON shape ‖ 0x00 ‖ little-endian C-order bytes``.
    The domain tag keeps these digests apart from any other SHA-256 in the system; the
    dtype and shape are in the hash so that the same bytes read as another shape (a
    (2, 3) vs a (3, 2) batch) do not collide.
    """
    array = np.asarray(array)
    if array.dtype.kind not in "fiub":
        raise TensorFileError(f"cannot hash dtype {array.dtype}: not a numeric array")
    little = np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<"))
    digest = hashlib.sha256(DIGEST_DOMAIN)
    digest.update(array.dtype.name.encode("ascii") + b"\x00")
    digest.update(json.dumps(list(array.shape), separators=(",", ":")).encode("ascii") + b"\x00")
    digest.update(little.reshape(-1).view(np.uint8))
    return digest.hexdigest()


def row_digests(array: np.ndarray) -> list[str]:
    """``tensor_digest`` of each row along axis 0 (one per sample of a batch)."""
    array = np.asarray(array)
    if array.ndim == 0:
        raise TensorFileError("cannot split a scalar into rows: expected a batch dimension")
    return [tensor_digest(row) for row in array]


# --- JSON for the ledger -------------------------------------------------------------

def to_json_list(array: np.ndarray) -> list:
    """A float32 array as nested lists of Python floats that convert back exactly.

    Every float32 is exactly a float64, and JSON writes a float64 as its shortest repr,
    which parses back to the same float64 and so to the same float32: no precision is
    lost on the ledger. Only float32 is accepted, so nothing is rounded silently.
    """
    array = np.asarray(array)
    if array.dtype != np.float32:
        raise TensorFileError(f"expected a float32 array, got {array.dtype}")
    if not np.isfinite(array).all():
        raise TensorFileError("NaN or infinite values cannot go into JSON")
    return array.tolist()


def from_json_list(values: Any, shape: Sequence[int]) -> np.ndarray:
    """The float32 array ``to_json_list`` wrote, checked against the recorded ``shape``.

    Refuses a value that is not exactly a float32 (a rounded or edited ledger entry
    would otherwise be accepted as a nearby float32).
    """
    array = _nested_to_array(values, "JSON values")
    if array.shape != tuple(shape):
        raise TensorFileError(f"JSON values have shape {list(array.shape)}, the record says {list(shape)}")
    with np.errstate(over="ignore"):
        out = array.astype(np.float32)
        inexact = out.astype(np.float64) != array
    if inexact.any():
        index = tuple(int(i) for i in np.argwhere(inexact)[0])
        raise TensorFileError(f"JSON value {float(array[index])!r} at {list(index)} is not exactly a float32")
    return np.ascontiguousarray(out)
