"""Checkpoints: matrix, offset and recent ids in one file, replaced atomically.

The file is written next to the old one and renamed over it, so a crash at any moment leaves
either the old checkpoint or the new one. A checkpoint is taken in an instant (snapshot_take,
in the thread that applies) and written later, from any thread, while batches go on: rows come
from the matrix's snapshot (analytics/matrix_snapshot.py), which copies only the rows that
change before they are written.
"""
from __future__ import annotations

import json
import logging
import os
import struct
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from analytics.matrix import Matrix
from analytics.matrix_snapshot import MatrixSnapshot
from analytics.state import RecentIds, State

log = logging.getLogger(__name__)
MAGIC = b"TIGLE-ANALYTICS-CHECKPOINT 1\n"
FILE_NAME = "matrix.ckpt"
_LENGTH = struct.Struct("<Q")
ID_BYTES = 16


class CheckpointError(Exception):
    """The checkpoint file is not one this code wrote whole."""


def checkpoint_path(state_dir: Path) -> Path:
    return state_dir / FILE_NAME


@dataclass(frozen=True)
class Snapshot:
    """What a checkpoint holds, as of one offset."""

    matrix: MatrixSnapshot
    last_offset: int
    last_key: bytes | None
    recent: list[bytes]  # the window's ids, oldest first


def snapshot_take(state: State) -> Snapshot:
    """Call from the thread that applies, between batches; write it, or close its matrix."""
    return Snapshot(matrix=state.matrix.snapshot(), last_offset=state.last_offset,
                    last_key=state.last_key, recent=list(state.recent))


def checkpoint_save(state: State, state_dir: Path) -> Path:
    """Write the state now and return the file's path; durable once this returns."""
    return checkpoint_write(snapshot_take(state), state_dir)


def checkpoint_write(snapshot: Snapshot, state_dir: Path) -> Path:
    """Write a snapshot (and close it) and return the file's path; durable once this returns."""
    with snapshot.matrix as matrix:
        header = {
            "last_offset": snapshot.last_offset,
            "last_key": None if snapshot.last_key is None else snapshot.last_key.hex(),
            "purchases": matrix.purchases,
            "units": matrix.units,
            "stores": matrix.store_ids,
            "items": int(matrix.item_ids.size),
            # Little-endian whatever the machine, so a state folder can move between hosts.
            "rows": [[width, dtype.newbyteorder("<").str] for width, dtype in matrix.shapes],
            "recent": len(snapshot.recent),
            "written_at": time.time(),
        }
        encoded = json.dumps(header, separators=(",", ":")).encode()
        state_dir.mkdir(parents=True, exist_ok=True)
        path = checkpoint_path(state_dir)
        temp = path.with_name(f".{FILE_NAME}.{os.getpid()}.tmp")
        try:
            with temp.open("wb") as out:
                out.write(MAGIC)
                out.write(_LENGTH.pack(len(encoded)))
                out.write(encoded)
                out.write(memoryview(np.ascontiguousarray(matrix.item_ids, dtype="<i8")))
                for index in range(len(matrix.shapes)):
                    out.write(memoryview(_little(matrix.row(index))))
                out.write(b"".join(snapshot.recent))
                out.flush()
                os.fsync(out.fileno())
            os.replace(temp, path)
        except BaseException:
            temp.unlink(missing_ok=True)  # a full disk must not keep a half file of 400 MiB
            raise
    directory = os.open(state_dir, os.O_RDONLY)
    try:
        os.fsync(directory)  # the rename itself survives a power cut
    finally:
        os.close(directory)
    return path


def _little(row: np.ndarray) -> np.ndarray:
    # No copy on a little-endian machine, which is every machine Tigle runs on.
    return row.astype(row.dtype.newbyteorder("<"), copy=False)


def _read_exactly(source, size: int) -> bytearray:
    buffer = bytearray(size)
    if source.readinto(buffer) != size:
        raise CheckpointError("file ends early")
    return buffer


def checkpoint_load(state_dir: Path, recent_capacity: int | None = None) -> State | None:
    """The saved state, or None when there is no checkpoint yet."""
    path = checkpoint_path(state_dir)
    if not path.exists():
        return None
    with path.open("rb") as source:
        if source.read(len(MAGIC)) != MAGIC:
            raise CheckpointError(f"{path} is not a checkpoint")
        try:
            (length,) = _LENGTH.unpack(_read_exactly(source, _LENGTH.size))
            header = json.loads(_read_exactly(source, length))
            # Buffers read in place: each array is the only copy of its data.
            item_ids = np.frombuffer(_read_exactly(source, 8 * header["items"]), dtype="<i8")
            rows = []
            for size, dtype in header["rows"]:
                kind = np.dtype(dtype)
                row = np.frombuffer(_read_exactly(source, size * kind.itemsize), dtype=kind)
                rows.append(row.astype(kind.newbyteorder("="), copy=False))
            recent = _read_exactly(source, ID_BYTES * header["recent"])
        except (KeyError, TypeError, ValueError, struct.error) as exc:
            raise CheckpointError(f"{path}: {exc!r}") from None
        if source.read(1):
            raise CheckpointError(f"{path} has trailing bytes")
    matrix = Matrix.restore(header["stores"], item_ids, rows, header["purchases"], header["units"])
    ids = (bytes(recent[i:i + ID_BYTES]) for i in range(0, len(recent), ID_BYTES))
    window = RecentIds(ids=ids) if recent_capacity is None else RecentIds(recent_capacity, ids)
    last_key = header.get("last_key")
    return State(matrix=matrix, last_offset=header["last_offset"], recent=window,
                 last_key=None if last_key is None else bytes.fromhex(last_key))


def checkpoint_set_aside(state_dir: Path) -> Path:
    """Move an unreadable checkpoint out of the way, kept for a post-mortem."""
    path = checkpoint_path(state_dir)
    aside = path.with_name(f"{FILE_NAME}.unreadable-{int(time.time())}")
    os.replace(path, aside)
    return aside
