"""Snapshot files: damaged or substituted files are refused with a clear error."""
from __future__ import annotations

import hashlib

import pytest
import torch

from trainproof.ml.snapshot import (SnapshotError, load_verified, read_header, read_snapshot, sha256_file, sha256_files,
                                    write_snapshot)

pytestmark = pytest.mark.ml


@pytest.fixture()
def snap(tmp_path):
    path = tmp_path / "s.safetensors"
    sha, size = write_snapshot(path, {"param/w": torch.arange(12.0).reshape(3, 4), "rng/torch": torch.zeros(5, dtype=torch.uint8)},
                               {"kind": "snapshot", "step": 7})
    return path, sha, size


def test_round_trip_and_hash(snap):
    path, sha, size = snap
    assert sha == sha256_file(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    assert path.stat().st_size == size
    loaded = load_verified(path, sha, size)
    assert loaded.meta["step"] == 7 and torch.equal(loaded.tensors["param/w"], torch.arange(12.0).reshape(3, 4))
    assert sha256_files([path, path]) == [sha, sha]


def test_writing_is_deterministic(tmp_path):
    tensors = {"b": torch.ones(3), "a": torch.zeros(2, dtype=torch.int64)}
    first = write_snapshot(tmp_path / "1.safetensors", tensors, {"z": 1, "a": [1.5, None]})
    second = write_snapshot(tmp_path / "2.safetensors", dict(reversed(tensors.items())), {"a": [1.5, None], "z": 1})
    assert first == second


def test_hash_mismatch_is_refused(snap):
    path, sha, _ = snap
    with pytest.raises(SnapshotError, match="does not match the expected"):
        load_verified(path, "0" * 64)


@pytest.mark.parametrize("cut", [3, 20, 100, -1])
def test_truncated_file_is_refused(snap, cut):
    path, sha, _ = snap
    data = path.read_bytes()
    path.write_bytes(data[:cut])
    with pytest.raises(SnapshotError, match="truncated|does not fit"):
        read_header(path)
    with pytest.raises(SnapshotError, match="truncated|does not fit|does not match"):
        load_verified(path, hashlib.sha256(path.read_bytes()).hexdigest())


def test_corrupted_header_is_refused(snap):
    path, _, _ = snap
    data = bytearray(path.read_bytes())
    data[10] = ord("!")
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="corrupt header"):
        load_verified(path, hashlib.sha256(bytes(data)).hexdigest())


def test_inconsistent_offsets_are_refused(tmp_path):
    header = b'{"w":{"dtype":"F32","shape":[4],"data_offsets":[0,12]}}'
    path = tmp_path / "bad.safetensors"
    path.write_bytes(len(header).to_bytes(8, "little") + header + bytes(12))
    with pytest.raises(SnapshotError, match="do not match shape"):
        read_header(path)


def test_plain_safetensors_is_not_a_snapshot(tmp_path):
    from safetensors.torch import save_file

    save_file({"w": torch.ones(2)}, tmp_path / "plain.safetensors")
    with pytest.raises(SnapshotError, match="not a trainproof snapshot"):
        read_snapshot(tmp_path / "plain.safetensors")


def test_tensors_are_read_as_views_of_one_buffer_equal_to_what_safetensors_reads(tmp_path):
    """`parse_snapshot` views the file's bytes instead of copying them (a snapshot was held twice
    while it was read); every dtype, an empty tensor and odd offsets read as safetensors reads them."""
    from safetensors.torch import load_file

    tensors = {"param/f32": torch.randn(7, 3), "param/f64": torch.randn(5, dtype=torch.float64),
               "param/bf16": torch.randn(3).to(torch.bfloat16), "param/f16": torch.randn(3).half(),
               "buffer/i64": torch.arange(4), "buffer/u8": torch.arange(3, dtype=torch.uint8),
               "buffer/i8": torch.tensor([-1, 2], dtype=torch.int8), "buffer/bool": torch.tensor([True, False, True]),
               "buffer/empty": torch.zeros(0, 4)}
    path = tmp_path / "all.safetensors"
    write_snapshot(path, tensors, {"kind": "snapshot", "step": 1})
    loaded = read_snapshot(path)
    reference = load_file(path)
    assert set(loaded.tensors) == set(reference) == set(tensors)
    for name, tensor in reference.items():
        assert loaded.tensors[name].dtype == tensor.dtype and torch.equal(loaded.tensors[name], tensor), name
    # views of one buffer: the tensors lie as far apart in memory as in the file
    offsets = {info.name: info.start for info in read_header(path).tensors.values()}
    for name in ("param/f64", "buffer/i64", "buffer/bool"):
        assert (loaded.tensors[name].data_ptr() - loaded.tensors["param/f32"].data_ptr()
                == offsets[name] - offsets["param/f32"])


def test_a_bool_tensor_holding_other_bytes_than_0_and_1_is_refused(tmp_path):
    path = tmp_path / "b.safetensors"
    write_snapshot(path, {"buffer/flag": torch.tensor([True, False])}, {"kind": "snapshot", "step": 1})
    raw = bytearray(path.read_bytes())
    raw[-2] = 2  # the first element of the only tensor, which ends the file
    path.write_bytes(bytes(raw))
    with pytest.raises(SnapshotError, match="BOOL tensor 'buffer/flag' holds bytes other than 0 and 1"):
        read_snapshot(path)
