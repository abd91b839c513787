"""Attested tensors: read safely from each format, one digest whatever the format, exact JSON."""
from __future__ import annotations

import hashlib
import json
import struct
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import save_file

from trainproof.attestation import tensors
from trainproof.attestation.tensors import (TensorFileError, from_json_list, read_array, row_digests, tensor_digest,
                                            to_json_list)

pytestmark = pytest.mark.unit

VALUES = np.array([[0.1, -2.5, 3.0], [1e-7, 65504.0, -0.0]], dtype=np.float32)


def _write_all(tmp_path, array: np.ndarray) -> dict[str, object]:
    """The same values as .npy, .safetensors and .json (plain and {"inputs": …})."""
    paths = {"npy": tmp_path / "a.npy", "st": tmp_path / "a.safetensors", "json": tmp_path / "a.json",
             "json_obj": tmp_path / "b.json"}
    np.save(paths["npy"], array)
    save_file({"inputs": array}, str(paths["st"]))
    paths["json"].write_text(json.dumps(array.tolist()))
    paths["json_obj"].write_text(json.dumps({"inputs": array.tolist()}))
    return paths


def test_every_format_reads_to_the_same_float32_array_and_digest(tmp_path) -> None:
    paths = _write_all(tmp_path, VALUES)
    arrays = [read_array(p) for p in paths.values()]
    for array in arrays:
        assert array.dtype == np.float32 and array.flags.c_contiguous and array.shape == (2, 3)
        assert array.tobytes() == VALUES.tobytes()
    assert len({tensor_digest(a) for a in arrays}) == 1
    assert read_array(paths["st"], name="inputs").tobytes() == VALUES.tobytes()
    assert read_array(paths["json_obj"], name="inputs").tobytes() == VALUES.tobytes()


def test_other_numeric_types_become_float32(tmp_path) -> None:
    np.save(tmp_path / "i.npy", np.arange(6, dtype=np.int64).reshape(2, 3))
    np.save(tmp_path / "f.npy", np.asfortranarray(np.arange(6, dtype=">f8").reshape(2, 3)))
    save_file({"x": np.arange(6, dtype=np.uint8)}, str(tmp_path / "u.safetensors"))
    (tmp_path / "i.json").write_text("[[0, 1, 2], [3, 4, 5]]")
    expected = np.arange(6, dtype=np.float32).reshape(2, 3)
    for name in ("i.npy", "f.npy", "i.json"):
        got = read_array(tmp_path / name)
        assert got.dtype == np.float32 and got.flags.c_contiguous and np.array_equal(got, expected)
    assert np.array_equal(read_array(tmp_path / "u.safetensors"), expected.reshape(-1))


def test_digest_is_canonical() -> None:
    digest = tensor_digest(VALUES)
    encoding = b"trainproof/tensor/v1\x00float32\x00[2,3]\x00" + VALUES.astype("<f4").tobytes()
    assert digest == hashlib.sha256(encoding).hexdigest() and len(digest) == 64
    # byte order and memory layout do not matter, shape and dtype do
    assert tensor_digest(VALUES.astype(">f4")) == digest
    assert tensor_digest(np.asfortranarray(VALUES)) == digest
    assert tensor_digest(VALUES.reshape(3, 2)) != digest
    assert tensor_digest(VALUES.astype(np.float64)) != digest
    assert tensor_digest(VALUES.view(np.int32)) != digest
    with pytest.raises(TensorFileError, match="not a numeric array"):
        tensor_digest(np.array(["a"]))


def test_row_digests_are_the_digests_of_the_rows() -> None:
    rows = row_digests(VALUES)
    assert rows == [tensor_digest(VALUES[0]), tensor_digest(VALUES[1])]
    assert rows[0] == hashlib.sha256(b"trainproof/tensor/v1\x00float32\x00[3]\x00" + VALUES[0].tobytes()).hexdigest()
    assert row_digests(VALUES[:1]) == rows[:1]
    with pytest.raises(TensorFileError, match="scalar"):
        row_digests(np.float32(1.0))


def test_json_round_trip_is_exact() -> None:
    rng = np.random.default_rng(0)
    values = np.concatenate([rng.standard_normal(1000), rng.standard_normal(1000) * 1e30, rng.standard_normal(1000) * 1e-38,
                             [np.finfo(np.float32).max, np.finfo(np.float32).tiny, 1e-45, -0.0]]).astype(np.float32)
    values = values.reshape(-1, 1)
    carried = json.loads(json.dumps(to_json_list(values)))
    back = from_json_list(carried, values.shape)
    assert back.dtype == np.float32 and back.tobytes() == values.tobytes()
    assert tensor_digest(back) == tensor_digest(values)
    assert all(type(v[0]) is float for v in to_json_list(values))


def test_json_conversion_refuses_what_it_cannot_carry_exactly() -> None:
    with pytest.raises(TensorFileError, match="expected a float32 array, got float64"):
        to_json_list(np.zeros(3))
    with pytest.raises(TensorFileError, match="NaN or infinite"):
        to_json_list(np.array([np.nan], dtype=np.float32))
    with pytest.raises(TensorFileError, match="shape \\[2\\], the record says \\[1, 2\\]"):
        from_json_list([1.0, 2.0], (1, 2))
    with pytest.raises(TensorFileError, match="0.1 at \\[1\\] is not exactly a float32"):
        from_json_list([1.0, 0.1], (2,))
    with pytest.raises(TensorFileError, match="not exactly a float32"):
        from_json_list([1e300], (1,))
    with pytest.raises(TensorFileError, match="non-numeric"):
        from_json_list([True], (1,))


def _safetensors_blob(header: dict, body: bytes) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + body


@pytest.mark.parametrize("name, content, message", [
    ("a.txt", b"[1]", "unknown extension '.txt'"),
    ("a.pt", b"", "unknown extension"),
    ("a.json", b"[1, NaN]", "NaN is not a finite number"),
    ("a.json", b"[Infinity]", "Infinity is not a finite number"),
    ("a.json", b"[[1, 2], [3]]", "ragged nested list: lists of lengths \\[1, 2\\]"),
    ("a.json", b"[[1, 2], 3]", "ragged nested list: numbers and lists mixed"),
    ("a.json", b'[1, "2"]', "non-numeric value '2'"),
    ("a.json", b"[1, true]", "non-numeric value True"),
    ("a.json", b"[1, null]", "non-numeric value None"),
    ("a.json", b"[]", "empty array"),
    ("a.json", b"[[], []]", "empty array"),
    ("a.json", b"3.5", "expected a nested list of numbers, got a JSON float"),
    ("a.json", b'{"inputs": [1], "outputs": [2]}', "keys \\['inputs', 'outputs'\\]; expected one key"),
    ("a.json", b"[1e39]", "values too large for float32"),
    ("a.json", b"[1" + b"0" * 400 + b"]", "too large for float32"),
    ("a.json", b"[1,", "not valid JSON"),
    ("a.json", b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
    ("a.json", b"\xff\xfe", "not valid JSON"),
    ("a.safetensors", b"\x01\x02", "bad safetensors header: file of 2 bytes is truncated"),
    ("a.safetensors", struct.pack("<Q", 1000) + b"{}", "bad safetensors header: declared length 1000"),
    ("a.safetensors", struct.pack("<Q", 3) + b"{{{", "bad safetensors header: not valid JSON"),
    ("a.safetensors", struct.pack("<Q", 2) + b"[]", "bad safetensors header: not a JSON object"),
    ("a.safetensors", _safetensors_blob({"x": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}, b"\0" * 4),
     "bad safetensors file"),
    ("a.safetensors", _safetensors_blob({"x": {"dtype": "F32", "shape": [-1], "data_offsets": [0, 4]}}, b"\0" * 4),
     "entry for 'x' is malformed"),
    ("a.safetensors", _safetensors_blob({"x": {"dtype": "BF16", "shape": [2], "data_offsets": [0, 4]}}, b"\0" * 4),
     "dtype 'BF16'; expected a real number type"),
    ("a.safetensors", _safetensors_blob({"x": {"dtype": "BOOL", "shape": [1], "data_offsets": [0, 1]}}, b"\0"),
     "dtype 'BOOL'"),
    ("a.safetensors", _safetensors_blob({"x": {"dtype": "F32", "shape": [0], "data_offsets": [0, 0]}}, b""), "empty array"),
    ("a.safetensors", _safetensors_blob({"x": {"dtype": "U8", "shape": [2**27], "data_offsets": [0, 2**27]}}, b""),
     "more than the 67108864 allowed"),
    ("a.safetensors", _safetensors_blob({}, b""), "holds 0 tensors \\[\\]; expected exactly one"),
    ("a.npy", b"\x93NUMPY garbage", "not a numeric .npy array|bad .npy file"),
    ("a.npy", b"PK\x03\x04", "npy"),
])
def test_bad_files_are_refused_with_the_reason(tmp_path, name, content, message) -> None:
    path = tmp_path / name
    path.write_bytes(content)
    with pytest.raises(TensorFileError, match=message):
        read_array(path)


def test_bad_arrays_are_refused_with_the_reason(tmp_path) -> None:
    cases = {
        "object.npy": (np.array([1, "a"], dtype=object), "not a numeric .npy array"),
        "complex.npy": (np.array([1 + 2j]), "dtype complex128 is not a real number type"),
        "str.npy": (np.array(["ab"]), "dtype <U2 is not a real number type"),
        "bool.npy": (np.array([True]), "dtype bool is not a real number type"),
        "nan.npy": (np.array([[1.0, np.nan]], dtype=np.float32), "NaN or infinite values"),
        "inf.npy": (np.array([np.inf]), "NaN or infinite values"),
        "big.npy": (np.array([1e300]), "values too large for float32"),
        "empty.npy": (np.zeros((0, 3), dtype=np.float32), "empty array"),
        "scalar.npy": (np.float32(2.0), "a scalar"),
    }
    for name, (array, message) in cases.items():
        np.save(tmp_path / name, array, allow_pickle=True)
        with pytest.raises(TensorFileError, match=message):
            read_array(tmp_path / name)


def test_tensor_selection_by_name(tmp_path) -> None:
    path = tmp_path / "two.safetensors"
    save_file({"inputs": VALUES, "outputs": VALUES[:, :1]}, str(path))
    assert read_array(path, name="outputs").shape == (2, 1)
    with pytest.raises(TensorFileError, match="holds 2 tensors \\['inputs', 'outputs'\\]; expected exactly one"):
        read_array(path)
    with pytest.raises(TensorFileError, match="no tensor named 'x'"):
        read_array(path, name="x")
    (tmp_path / "o.json").write_text(json.dumps({"outputs": [1.0]}))
    with pytest.raises(TensorFileError, match="no key 'inputs'"):
        read_array(tmp_path / "o.json", name="inputs")


def test_size_limits(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(tensors, "MAX_FILE_BYTES", 100)
    np.save(tmp_path / "a.npy", np.zeros(100, dtype=np.float32))
    with pytest.raises(TensorFileError, match="bytes, more than the 100 allowed"):
        read_array(tmp_path / "a.npy")
    monkeypatch.setattr(tensors, "MAX_FILE_BYTES", 1 << 20)
    monkeypatch.setattr(tensors, "MAX_ELEMENTS", 10)
    with pytest.raises(TensorFileError, match="100 elements, more than the 10 allowed"):
        read_array(tmp_path / "a.npy")
    (tmp_path / "a.json").write_text(json.dumps([[0.0] * 4] * 3))
    with pytest.raises(TensorFileError, match="more than the 10 elements allowed"):
        read_array(tmp_path / "a.json")
    monkeypatch.setattr(tensors, "MAX_JSON_BYTES", 10)
    with pytest.raises(TensorFileError, match="more than the 10 allowed for JSON"):
        read_array(tmp_path / "a.json")


def test_missing_file(tmp_path) -> None:
    with pytest.raises(TensorFileError, match="cannot read"):
        read_array(tmp_path / "absent.npy")


def test_npz_archive_named_npy_is_refused(tmp_path) -> None:
    np.savez(tmp_path / "z.npz", inputs=VALUES)
    (tmp_path / "z.npy").write_bytes((tmp_path / "z.npz").read_bytes())
    with pytest.raises(TensorFileError, match="an .npz archive, not a .npy array"):
        read_array(tmp_path / "z.npy")


def test_reading_and_hashing_never_load_torch(tmp_path) -> None:
    """Checking a receipt offline needs numpy and safetensors only."""
    save_file({"inputs": VALUES}, str(tmp_path / "a.safetensors"))
    code = ("import sys\nfrom trainproof.attestation import merkle, tensors\n"
            f"a = tensors.read_array({str(tmp_path / 'a.safetensors')!r})\n"
            "merkle.root([merkle.item_leaf(tensors.tensor_digest(a), d) for d in tensors.row_digests(a)])\n"
            "print('torch' in sys.modules)")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
