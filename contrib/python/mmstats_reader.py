#!/usr/bin/env python3
"""Read mmstats files (formats v2 and v1) and print their fields as JSON.

A reader in a second language, written from docs/FORMAT.md alone, with the
Python standard library only (3.9+)::

    python3 mmstats_reader.py FILE_OR_DIR...

prints a JSON array with one object per file read::

    {"path": ..., "format": 2, "generation": 3,
     "writer": {"pid": ..., "osTid": ..., "threadId": ..., "startToken": ...,
                "createdMs": ..., "alive": true, "state": "ready", "shared": false},
     "fields": [{"label": ..., "type": ..., "kind": ..., "unit": ..., "help": ...,
                 "static": false, "value": ...}, ...]}

A child of a labelled family (format 2.1) is one field named
``family{a="x",b="y"}`` with two more keys, ``"family"`` and ``"labels"``.

64-bit integers are printed with every digit; NaN and the infinities, which
JSON cannot spell, as the strings "NaN", "Infinity" and "-Infinity". A file
that cannot be read is reported on stderr and the others are still printed;
the exit status is then 1.

The file is read with pread(2), never mapped: a file truncated under the reader
gives a short read (reported), never a SIGBUS. Each value is read the way
FORMAT.md section 4 asks: a scalar with one read of its own size (repeated
until two reads agree), a seqlocked value with the sequence protocol.

It can also be imported: ``read_file(path)`` returns the same dict as printed.
"""

from __future__ import annotations

import argparse
import errno
import json
import math
import os
import stat
import struct
import sys
import time
from typing import Any, Dict, List, Optional, Tuple

__all__ = ["read_file", "StatsError", "main"]

# ---------------------------------------------------------------- constants
# Everything below is from docs/FORMAT.md; section numbers refer to it.

MAGIC = b"MMSTATS\x00"  # section 1
HEADER_SIZE = 128  # section 2.2
SUPPORTED_MAJOR = 2
BOM_LE = bytes([0x04, 0x03, 0x02, 0x01])  # u32 0x01020304, little-endian
BOM_BE = bytes([0x01, 0x02, 0x03, 0x04])
MAX_FILE_SIZE = 0xFFFFFFF8
MAX_FIELDS = 1_000_000

# Header offsets (section 2.2).
H_VERSION_MAJOR = 8
H_VERSION_MINOR = 10
H_BYTE_ORDER = 12
H_STATE = 20
H_PID = 24
H_OS_TID = 28
H_THREAD_ID = 32
H_FLAGS = 36
H_START_TOKEN = 40
H_CREATED_MS = 48
H_GENERATION = 56
H_FIELD_COUNT = 60
H_FIRST_RECORD = 64
H_USED_SIZE = 68

STATE_INITIALISING, STATE_READY, STATE_CLOSED = 0, 1, 2
FLAG_SHARED = 1

# Record layout (section 2.2): the fixed part, unpacked in one go.
RECORD_FIXED = struct.Struct("<IIHHHHIIIHHHHI")  # 40 bytes
RECORD_FIXED_SIZE = 40
PART = struct.Struct("<HHI")  # 8 bytes
RECORD_FLAG_SEQLOCK = 1
RECORD_FLAG_STATIC = 2

# Data types (section 3.1): code -> (name, struct format, size) for scalars.
SCALARS: Dict[int, Tuple[str, str, int]] = {
    1: ("int8", "<b", 1),
    2: ("uint8", "<B", 1),
    3: ("int16", "<h", 2),
    4: ("uint16", "<H", 2),
    5: ("int32", "<i", 4),
    6: ("uint32", "<I", 4),
    7: ("int64", "<q", 8),
    8: ("uint64", "<Q", 8),
    9: ("float32", "<f", 4),
    10: ("float64", "<d", 8),
    11: ("bool", "<B", 1),
}
DT_STRING, DT_STRUCT, DT_HISTOGRAM, DT_FAMILY = 12, 13, 14, 15
DATA_TYPE_NAMES = {code: info[0] for code, info in SCALARS.items()}
DATA_TYPE_NAMES.update({DT_STRING: "string", DT_STRUCT: "struct", DT_HISTOGRAM: "histogram"})

# Labelled families (section 13).
FAMILY_EXTRA = struct.Struct("<HHHHIIIIIIII")  # 40 bytes, section 13.1
DIR_FIRST_CHUNK = 0
CHUNK_NEXT, CHUNK_SLOT_COUNT, CHUNK_SLOTS = 0, 4, 16
SLOT_SEQ, SLOT_STATE, SLOT_LENGTHS = 0, 4, 8
SLOT_FREE, SLOT_LIVE, SLOT_OVERFLOW = 0, 1, 2
MAX_LABELS, MAX_CHUNK_SLOTS, MAX_SERIES, MAX_SLOT_SIZE = 16, 256, 1_000_000, 1 << 20
OVERFLOW_LABEL = "otel_metric_overflow"
PART_FORMATS = {7: "<q", 8: "<Q", 10: "<d"}  # part data types (section 2.2)
HISTOGRAM_SCALARS = ("count", "sum", "min", "max", "last")  # section 2.3

# Kinds (section 3.2); anything else is shown as untyped.
KIND_NAMES = {
    0: "untyped",
    1: "gauge",
    2: "counter",
    3: "info",
    4: "histogram",
    5: "timer",
    6: "average",
    7: "compound",
}

# Seqlocked value block (section 2.3).
SEQ_SEQUENCE, SEQ_LENGTH, SEQ_PAYLOAD = 0, 4, 8
READ_RETRIES = 10_000

# Format v1 (section 9).
V1_VERSION = 0x01
V1_UNBUFFERED = 0xFF
V1_CODES: Dict[str, Tuple[str, int]] = {
    "b": ("<b", 1),
    "B": ("<B", 1),
    "?": ("<?", 1),
    "h": ("<h", 2),
    "H": ("<H", 2),
    "i": ("<i", 4),
    "I": ("<I", 4),
    "l": ("<q", 8),
    "q": ("<q", 8),
    "L": ("<Q", 8),
    "Q": ("<Q", 8),
    "f": ("<f", 4),
    "d": ("<d", 8),
}


class StatsError(Exception):
    """A file that cannot be read; ``code`` is one of: not-stats, version,
    unsupported, initialising, abandoned, malformed, truncated, io."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code


def _u32(buf: bytes, off: int) -> int:
    return struct.unpack_from("<I", buf, off)[0]


def _text(buf: bytes, start: int, length: int, what: str, at: int) -> str:
    try:
        return buf[start : start + length].decode("utf-8")
    except UnicodeDecodeError:
        raise StatsError("malformed", f"record at {at}: its {what} is not valid UTF-8") from None


# ---------------------------------------------------------------- file access


class _File:
    """A read-only file read with pread: short reads mean it shrank."""

    def __init__(self, path: str) -> None:
        self.path = path
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        try:
            # O_NOFOLLOW: a symlink planted under a stats name is not followed.
            # O_NONBLOCK: a FIFO planted there cannot hang the reader.
            self.fd = os.open(path, flags)
        except OSError as e:
            if e.errno == errno.ELOOP:
                raise StatsError("io", "is a symbolic link; not followed") from None
            raise StatsError("io", f"cannot open: {e.strerror}") from None
        try:
            st = os.fstat(self.fd)
        except OSError as e:
            self.close()
            raise StatsError("io", f"cannot stat: {e.strerror}") from None
        if not stat.S_ISREG(st.st_mode):
            self.close()
            raise StatsError("io", "is not a regular file")

    def size(self) -> int:
        try:
            return os.fstat(self.fd).st_size
        except OSError as e:
            raise StatsError("io", f"cannot stat: {e.strerror}") from None

    def read(self, offset: int, length: int) -> bytes:
        try:
            data = os.pread(self.fd, length, offset)
        except OSError as e:
            raise StatsError("io", f"cannot read: {e.strerror}") from None
        if len(data) != length:
            raise StatsError("truncated", f"the file shrank while it was being read (offset {offset})")
        return data

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _read_settled(f: _File, offset: int, length: int) -> bytes:
    """Read a value of up to 8 bytes until two reads agree.

    The writer stores it with one aligned store; the kernel's copy for pread
    is not promised to be one load, so a single read could in theory catch a
    half-copied value. Two equal reads in a row cannot both be torn the same
    way by one store.
    """
    prev = f.read(offset, length)
    for _ in range(100):
        cur = f.read(offset, length)
        if cur == prev:
            return cur
        prev = cur
    return prev


# ---------------------------------------------------------------- liveness (section 6)


def _lock_held(fd: int) -> Optional[bool]:
    """Whether another open file description holds a lock on the whole file;
    None if this platform cannot tell."""
    try:
        import fcntl
    except ImportError:
        return None
    if sys.platform.startswith("linux"):
        cmd = getattr(fcntl, "F_OFD_GETLK", None)
        if cmd is None:
            cmd = 36  # F_OFD_GETLK on Linux; Python < 3.9 on some builds lacks the name
        # struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start,
        # off_t l_len, pid_t l_pid (+ padding). l_start = l_len = 0: the whole file.
        layout = "@hhqqi4x"
        request = struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
        for c in (cmd, fcntl.F_GETLK):
            try:
                reply = fcntl.fcntl(fd, c, request)
            except OSError:
                continue
            return struct.unpack(layout, reply)[0] != fcntl.F_UNLCK
        return None
    # macOS and the BSDs: the writer holds flock(LOCK_EX); probe with a shared lock.
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError as e:
        if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return True
        return None
    fcntl.flock(fd, fcntl.LOCK_UN)
    return False


def _pid_exists(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except OSError as e:
        return e.errno == errno.EPERM
    return True


def _start_token(pid: int) -> Optional[float]:
    """Linux: the process start time in clock ticks since boot (field 22 of /proc/PID/stat)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            raw = fh.read().decode("latin-1")
    except OSError:
        return None
    # The command name (field 2) may hold spaces and parentheses: split after the last ')'.
    rest = raw[raw.rfind(")") + 2 :].split(" ")
    try:
        return float(rest[19])
    except (IndexError, ValueError):
        return None


def _pid_alive(pid: int, token: float) -> bool:
    if not _pid_exists(pid):
        return False
    now = _start_token(pid) if sys.platform.startswith("linux") else None
    return now is None or token == 0 or now == token


# ---------------------------------------------------------------- format v2


def _check_header(head: bytes) -> None:
    major = struct.unpack_from("<H", head, H_VERSION_MAJOR)[0]
    minor = struct.unpack_from("<H", head, H_VERSION_MINOR)[0]
    if major > SUPPORTED_MAJOR:
        raise StatsError(
            "version",
            f"uses format {major}.{minor}, newer than this reader reads ({SUPPORTED_MAJOR}.x); upgrade the reader",
        )
    if major < SUPPORTED_MAJOR:
        raise StatsError("malformed", f"has the v2 magic but format version {major}")
    bom = head[H_BYTE_ORDER : H_BYTE_ORDER + 4]
    if bom == BOM_BE:
        raise StatsError("unsupported", "was written on a big-endian machine; format 2.0 defines little-endian files only")
    if bom != BOM_LE:
        raise StatsError("malformed", f"has a bad byte-order mark {bom.hex()}")


def _decode_record(heap: bytes, at: int, limit: int) -> Dict[str, Any]:
    """Check and decode the record at ``at`` (section 7.2); ``heap`` holds bytes [0, limit)."""
    if at % 8 != 0 or at < HEADER_SIZE or at + RECORD_FIXED_SIZE > limit:
        raise StatsError("malformed", f"record offset {at} is out of bounds (the heap ends at {limit})")
    (
        size,
        nxt,
        data_type,
        kind,
        flags,
        part_count,
        value_offset,
        value_size,
        param,
        label_len,
        unit_len,
        help_len,
        extra_len,
        _reserved,
    ) = RECORD_FIXED.unpack_from(heap, at)
    if size < RECORD_FIXED_SIZE or at + size > limit:
        raise StatsError("malformed", f"record at {at} claims {size} bytes, past the end of the heap ({limit})")
    parts_end = at + RECORD_FIXED_SIZE + part_count * PART.size
    if parts_end > at + size:
        raise StatsError("malformed", f"record at {at}: {part_count} parts overflow the record")
    raw_parts = [PART.unpack_from(heap, at + RECORD_FIXED_SIZE + i * PART.size) for i in range(part_count)]
    names_len = sum(p[1] for p in raw_parts)
    if parts_end + extra_len + label_len + unit_len + help_len + names_len > at + size:
        raise StatsError("malformed", f"record at {at}: its texts overflow the record")
    if label_len == 0:
        raise StatsError("malformed", f"record at {at} has an empty label")
    if extra_len % 8 != 0:
        raise StatsError("malformed", f"record at {at}: extra length {extra_len} is not a multiple of 8")
    if value_offset < HEADER_SIZE or value_offset + value_size > limit:
        raise StatsError("malformed", f"record at {at}: value [{value_offset}, +{value_size}) is out of bounds")
    p = parts_end
    extra = heap[p : p + extra_len]
    p += extra_len
    label = _text(heap, p, label_len, "label", at)
    p += label_len
    unit = _text(heap, p, unit_len, "unit", at)
    p += unit_len
    help_text = _text(heap, p, help_len, "help", at)
    p += help_len
    parts = []
    for i, (part_type, name_len, part_offset) in enumerate(raw_parts):
        if part_offset + 8 > value_size:
            raise StatsError("malformed", f"record at {at}: part {i} lies outside its value")
        parts.append((_text(heap, p, name_len, "part name", at), part_type, part_offset))
        p += name_len
    return {
        "at": at,
        "next": nxt,
        "data_type": data_type,
        "kind": kind,
        "flags": flags,
        "value_offset": value_offset,
        "value_size": value_size,
        "param": param,
        "label": label,
        "unit": unit,
        "help": help_text,
        "parts": parts,
        "bounds": list(struct.unpack_from(f"<{extra_len // 8}d", extra)) if extra_len and data_type != DT_FAMILY else [],
        "extra": extra,
    }


def _read_seqlocked(f: _File, rec: Dict[str, Any]) -> Tuple[Optional[bytes], Optional[str]]:
    """Copy a seqlocked value block with the sequence protocol (section 4.2)."""
    off, size = rec["value_offset"], rec["value_size"]
    if off % 4 != 0 or size < SEQ_PAYLOAD:
        return None, f"seqlocked value at {off} (+{size}) is misaligned or too small"
    for _ in range(READ_RETRIES):
        s1 = _u32(f.read(off + SEQ_SEQUENCE, 4), 0)
        if s1 & 1:
            continue  # a write is in progress
        block = f.read(off, size)  # the private copy, decoded only after the check
        s2 = _u32(f.read(off + SEQ_SEQUENCE, 4), 0)
        if s1 == s2:
            return block, None
    return None, "value kept changing while read"


def _decode_seqlocked(rec: Dict[str, Any], block: bytes) -> Any:
    dt, size = rec["data_type"], rec["value_size"]
    if dt == DT_STRING:
        length = min(_u32(block, SEQ_LENGTH), rec["param"], size - SEQ_PAYLOAD)
        return block[SEQ_PAYLOAD : SEQ_PAYLOAD + length].decode("utf-8", "replace")
    if dt == DT_STRUCT:
        out: Dict[str, Any] = {}
        for name, part_type, part_offset in rec["parts"]:
            fmt = PART_FORMATS.get(part_type)
            out[name] = struct.unpack_from(fmt, block, part_offset)[0] if fmt else None
        return out
    if dt == DT_HISTOGRAM:
        scalars = len(HISTOGRAM_SCALARS)
        n = max(0, min(rec["param"], len(rec["bounds"]), (size - SEQ_PAYLOAD) // 8 - scalars))
        values = struct.unpack_from(f"<{scalars + n}d", block, SEQ_PAYLOAD)
        hist: Dict[str, Any] = dict(zip(HISTOGRAM_SCALARS, values[:scalars]))
        hist["buckets"] = [{"le": rec["bounds"][i], "count": values[scalars + i]} for i in range(n)]
        # Parts of a histogram name extra values stored after the buckets (section 2.3).
        extra: Dict[str, Any] = {}
        for name, part_type, part_offset in rec["parts"]:
            fmt = PART_FORMATS.get(part_type)
            if fmt:
                extra[name] = struct.unpack_from(fmt, block, part_offset)[0]
        hist["extra"] = extra
        return hist
    return None


def _read_value(f: _File, rec: Dict[str, Any]) -> Tuple[Any, Optional[str]]:
    dt = rec["data_type"]
    scalar = SCALARS.get(dt)
    if scalar is not None:
        _name, fmt, size = scalar
        off = rec["value_offset"]
        if off % size != 0 or rec["value_size"] < size:
            return None, f"value at {off} is not an aligned {size}-byte value"
        v = struct.unpack(fmt, _read_settled(f, off, size))[0]
        return (v != 0 if dt == 11 else v), None
    if dt in (DT_STRING, DT_STRUCT, DT_HISTOGRAM):
        block, err = _read_seqlocked(f, rec)
        if block is None:
            return None, err
        try:
            return _decode_seqlocked(rec, block), None
        except struct.error:
            # A damaged record: this value cannot be decoded, the rest of the file can.
            return None, f"value block of {rec['value_size']} bytes is too small for its type"
    return None, None  # an unknown data type: skipped, never guessed at (section 3.1)


def _decode_family(extra: bytes) -> Dict[str, Any]:
    """Check and decode a family record's extra (sections 13.1 and 13.5)."""
    if len(extra) < FAMILY_EXTRA.size:
        raise ValueError(f"family description of {len(extra)} bytes is too short")
    (
        child_type,
        child_flags,
        part_count,
        label_count,
        child_param,
        child_size,
        slot_size,
        slot_value,
        capacity,
        max_series,
        bounds_count,
        _reserved,
    ) = FAMILY_EXTRA.unpack_from(extra, 0)
    if not 1 <= label_count <= MAX_LABELS:
        raise ValueError(f"family has {label_count} label names")
    if capacity > 1024 or not 1 <= max_series <= MAX_SERIES:
        raise ValueError("family label capacity or maxSeries is out of range")
    if (
        slot_size % 8
        or slot_value % 8
        or slot_value < SLOT_LENGTHS + label_count * (2 + capacity)
        or slot_value + child_size > slot_size
        or slot_size > MAX_SLOT_SIZE
    ):
        raise ValueError(f"family slot layout (size {slot_size}, value at {slot_value}) is inconsistent")
    p = FAMILY_EXTRA.size
    if p + bounds_count * 8 + part_count * PART.size + label_count * 2 > len(extra):
        raise ValueError("family description overflows its record")
    bounds = list(struct.unpack_from(f"<{bounds_count}d", extra, p))
    p += bounds_count * 8
    raw_parts = [PART.unpack_from(extra, p + i * PART.size) for i in range(part_count)]
    p += part_count * PART.size
    name_lens = list(struct.unpack_from(f"<{label_count}H", extra, p))
    p += label_count * 2
    if p + sum(r[1] for r in raw_parts) + sum(name_lens) > len(extra):
        raise ValueError("family names overflow the record")
    parts = []
    for part_type, name_len, part_offset in raw_parts:
        if part_offset + 8 > child_size:
            raise ValueError("family child part lies outside the child value")
        parts.append((extra[p : p + name_len].decode("utf-8"), part_type, part_offset))
        p += name_len
    names = []
    for n in name_lens:
        if n == 0 or n > 128:
            raise ValueError(f"family label name of {n} bytes")
        names.append(extra[p : p + n].decode("utf-8"))
        p += n
    if len(set(names)) != len(names):
        raise ValueError("family label names repeat")
    return {
        "data_type": child_type,
        "flags": child_flags,
        "param": child_param,
        "value_size": child_size,
        "parts": parts,
        "bounds": bounds,
        "names": names,
        "capacity": capacity,
        "slot_size": slot_size,
        "slot_value": slot_value,
        "max_series": max_series,
    }


def _escape_label_value(v: str) -> str:
    return v.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _read_slot(f: _File, fam: Dict[str, Any], slot: int) -> Tuple[Optional[int], Optional[bytes], Optional[bytes]]:
    """One slot with the slot protocol (section 13.3): (state, label bytes, value bytes), or Nones if it never settled."""
    v = slot + fam["slot_value"]
    size = fam["value_size"]
    seqlocked = bool(fam["flags"] & RECORD_FLAG_SEQLOCK)
    for _ in range(READ_RETRIES):
        s1 = _u32(f.read(slot + SLOT_SEQ, 4), 0)
        if s1 & 1:
            continue  # the slot is changing owner
        head = f.read(slot, fam["slot_value"])
        inner = _u32(f.read(v, 4), 0) if seqlocked else 0
        if inner & 1:
            continue
        value = f.read(v, size) if seqlocked or size > 8 else _read_settled(f, v, size)
        if seqlocked and _u32(f.read(v, 4), 0) != inner:
            continue
        if _u32(f.read(slot + SLOT_SEQ, 4), 0) == s1:
            return _u32(head, SLOT_STATE), head, value
    return None, None, None


def _read_family(f: _File, rec: Dict[str, Any], base: Dict[str, Any]) -> List[Dict[str, Any]]:
    """Every child of a family, each named ``name{a="x"}``; a malformed part is one error entry."""
    name = rec["label"]

    def error(reason: str, busy: bool = False) -> Dict[str, Any]:
        prefix = "" if busy else "ERR_MMSTATS_MALFORMED: "
        return {**base, "value": None, "error": f"{prefix}family {name}: {reason}", "family": name}

    try:
        fam = _decode_family(rec["extra"])
        if rec["value_size"] < 16 or rec["value_offset"] % 8:
            raise ValueError(f"directory at {rec['value_offset']} is too small or unaligned")
    except (ValueError, struct.error, UnicodeDecodeError) as e:
        return [error(str(e))]
    child_rec = {**rec, "data_type": fam["data_type"], "flags": fam["flags"], "param": fam["param"]}
    child_rec.update(value_size=fam["value_size"], parts=fam["parts"], bounds=fam["bounds"], value_offset=0)
    child_type = DATA_TYPE_NAMES.get(fam["data_type"], f"unknown({fam['data_type']})")
    out: List[Dict[str, Any]] = []
    names = fam["names"]
    link, last, slots = rec["value_offset"] + DIR_FIRST_CHUNK, rec["value_offset"], 0
    while True:
        chunk = _u32(f.read(link, 4), 0)
        if chunk == 0:
            break
        limit = min(_u32(f.read(H_USED_SIZE, 4), 0), f.size())  # loaded after the link: it covers the chunk
        if chunk % 8 or chunk <= last or chunk + CHUNK_SLOTS > limit:
            out.append(error(f"chunk offset {chunk} is out of order or out of bounds"))
            break
        count = _u32(f.read(chunk + CHUNK_SLOT_COUNT, 4), 0)
        if count == 0 or count > MAX_CHUNK_SLOTS or chunk + CHUNK_SLOTS + count * fam["slot_size"] > limit:
            out.append(error(f"chunk at {chunk} claims {count} slots, past the end of the file"))
            break
        slots += count
        if slots > fam["max_series"] + 1:
            out.append(error(f"chunks hold more slots than maxSeries {fam['max_series']} allows"))
            break
        for i in range(count):
            slot = chunk + CHUNK_SLOTS + i * fam["slot_size"]
            state, head, value = _read_slot(f, fam, slot)
            if state is None:
                out.append(error(f"slot at {slot} kept changing while read", busy=True))
                continue
            if state == SLOT_FREE:
                continue
            if state == SLOT_OVERFLOW:
                labels = {OVERFLOW_LABEL: "true"}
            elif state == SLOT_LIVE:
                labels = {}
                p = SLOT_LENGTHS + 2 * len(names)
                try:
                    for j, label_name in enumerate(names):
                        n = struct.unpack_from("<H", head, SLOT_LENGTHS + 2 * j)[0]
                        if n > fam["capacity"] or p + n > fam["slot_value"]:
                            raise ValueError(f"slot at {slot}: label value {j} of {n} bytes overflows its room")
                        labels[label_name] = head[p : p + n].decode("utf-8")
                        p += n
                except UnicodeDecodeError:
                    out.append(error(f"slot at {slot}: a label value is not valid UTF-8"))
                    continue
                except ValueError as e:
                    out.append(error(str(e)))
                    continue
            else:
                out.append(error(f"slot at {slot} has an unknown state {state}"))
                continue
            rendered = ",".join(f'{k}="{_escape_label_value(v)}"' for k, v in labels.items())
            entry = {**base, "label": f"{name}{{{rendered}}}", "type": child_type}
            scalar = SCALARS.get(fam["data_type"])
            try:
                if scalar is not None:
                    val: Any = struct.unpack_from(scalar[1], value, 0)[0]
                    entry["value"] = val != 0 if fam["data_type"] == 11 else val
                else:
                    entry["value"] = _decode_seqlocked(child_rec, value)
            except struct.error:
                entry["value"] = None
                entry["error"] = "value block is too small for its type"
            entry["family"] = name
            entry["labels"] = labels
            out.append(entry)
        last = chunk
        link = chunk + CHUNK_NEXT
    return out


def _read_v2(f: _File, path: str, head: bytes) -> Dict[str, Any]:
    _check_header(head)
    state = _u32(head, H_STATE)
    if state == STATE_INITIALISING:
        raise StatsError("initialising", "is still being created by its writer (not yet marked ready); try again")
    # Acquire the field count first: every record it counts is complete (section 4.1).
    count = _u32(f.read(H_FIELD_COUNT, 4), 0)
    used = _u32(f.read(H_USED_SIZE, 4), 0)
    generation = _u32(f.read(H_GENERATION, 4), 0)
    if count > MAX_FIELDS:
        raise StatsError("malformed", f"field count {count} is beyond any real file")
    limit = min(used, f.size())
    heap = f.read(0, limit) if limit > 0 else b""
    fields = []
    at = _u32(head, H_FIRST_RECORD)
    for i in range(count):
        rec = _decode_record(heap, at, limit)
        value, err = (None, None) if rec["data_type"] == DT_FAMILY else _read_value(f, rec)
        entry: Dict[str, Any] = {
            "label": rec["label"],
            "type": DATA_TYPE_NAMES.get(rec["data_type"], f"unknown({rec['data_type']})"),
            "kind": KIND_NAMES.get(rec["kind"], "untyped"),
            "unit": rec["unit"],
            "help": rec["help"],
            "static": bool(rec["flags"] & RECORD_FLAG_STATIC),
            "value": value,
        }
        if err is not None:
            entry["error"] = err
        if rec["data_type"] == DT_FAMILY:
            fields.extend(_read_family(f, rec, entry))
        else:
            fields.append(entry)
        if i + 1 < count:
            nxt = rec["next"]
            # Offsets only grow: this rules out cycles and overlapping records.
            if nxt <= at:
                raise StatsError("malformed", f"record at {at} links backwards to {nxt}")
            at = nxt
    state = _u32(f.read(H_STATE, 4), 0)
    pid = _u32(head, H_PID)
    start_token = struct.unpack_from("<d", head, H_START_TOKEN)[0]
    lock = _lock_held(f.fd)
    alive = state != STATE_CLOSED and (lock if lock is not None else _pid_alive(pid, start_token))
    writer = {
        "pid": pid,
        "osTid": _u32(head, H_OS_TID),
        "threadId": _u32(head, H_THREAD_ID),
        "startToken": start_token,
        "createdMs": struct.unpack_from("<d", head, H_CREATED_MS)[0],
        "alive": alive,
        "state": "closed" if state == STATE_CLOSED else "ready",
        "shared": bool(_u32(head, H_FLAGS) & FLAG_SHARED),
    }
    return {"path": path, "format": 2, "writer": writer, "generation": generation, "fields": fields}


# ---------------------------------------------------------------- format v1 (section 9)


def _v1_value(data: bytes, code: str, off: int, size: int) -> Any:
    known = V1_CODES.get(code)
    if known is not None:
        return struct.unpack_from(known[0], data, off)[0]
    raw = data[off : off + size]
    nul = raw.find(b"\x00")
    return (raw if nul < 0 else raw[:nul]).decode("utf-8", "ignore")


def _v1_size(code: str) -> Optional[int]:
    if code in V1_CODES:
        return V1_CODES[code][1]
    if code.endswith("s") and (code[:-1] == "" or code[:-1].isdigit()):
        return int(code[:-1] or "1")
    return None


def _read_v1(f: _File, path: str) -> Dict[str, Any]:
    limit = f.size()
    if limit > MAX_FILE_SIZE:
        raise StatsError("malformed", f"is {limit} bytes, larger than any stats file")
    data = f.read(0, limit)
    fields = []
    p = 1
    while p + 2 <= limit:
        label_len = struct.unpack_from("<H", data, p)[0]
        if label_len == 0:
            break  # the zero fill ends the list
        if len(fields) >= MAX_FIELDS:
            raise StatsError("malformed", f"more than {MAX_FIELDS} fields: not a real stats file")
        if p + 2 + label_len + 2 > limit:
            raise StatsError("malformed", f"field at {p}: its label runs past the end of the file")
        label = data[p + 2 : p + 2 + label_len].decode("utf-8", "replace")
        q = p + 2 + label_len
        type_len = struct.unpack_from("<H", data, q)[0]
        if type_len == 0 or q + 2 + type_len + 1 > limit:
            raise StatsError("malformed", f"field {label}: its type runs past the end of the file")
        code = data[q + 2 : q + 2 + type_len].decode("latin-1")
        q += 2 + type_len
        size = _v1_size(code)
        if size is None:
            # Its size is unknown, so nothing after it can be located.
            raise StatsError("malformed", f"field {label}: unknown type {code!r}")
        write_buffer = data[q]
        buffered = write_buffer != V1_UNBUFFERED
        if buffered and write_buffer > 1:
            raise StatsError("malformed", f"field {label}: write buffer byte {write_buffer} is neither 0, 1 nor 0xFF")
        end = q + 1 + size * (2 if buffered else 1)
        if end > limit:
            raise StatsError("malformed", f"field {label}: its value runs past the end of the file")
        # A buffered field: read the copy last completed, writeBuffer XOR 1.
        off = q + 1 + ((write_buffer ^ 1) * size if buffered else 0)
        value = _v1_value(data, code, off, size)
        fields.append(
            {
                "label": label,
                "type": code,
                "kind": "untyped",
                "unit": "",
                "help": "",
                "static": False,
                "value": value,
            }
        )
        p = end

    def num(label: str) -> float:
        for fld in fields:
            if fld["label"] == label and isinstance(fld["value"], (int, float)) and not isinstance(fld["value"], bool):
                return fld["value"]
        return 0

    pid = int(num("sys.pid"))
    tid = int(num("sys.tid"))
    writer = {
        "pid": pid,
        "osTid": tid,
        "threadId": tid,
        "startToken": 0,
        "createdMs": num("sys.created") * 1000,
        "alive": _pid_alive(pid, 0),
        "state": "ready",
        "shared": False,
    }
    return {"path": path, "format": 1, "writer": writer, "generation": len(fields), "fields": fields}


# ---------------------------------------------------------------- entry points


def read_file(path: str) -> Dict[str, Any]:
    """Read one stats file of either format; raises StatsError if it cannot."""
    f = _File(path)
    try:
        size = f.size()
        if size == 0:
            raise StatsError("initialising", "is empty: its writer is still creating it")
        if size > MAX_FILE_SIZE:
            raise StatsError("malformed", f"is {size} bytes, larger than any stats file")
        head = f.read(0, min(size, HEADER_SIZE))
        # Sniff (section 1): the v2 magic, the v1 version byte, or a file being made.
        if head[:8] == MAGIC:
            if len(head) < HEADER_SIZE:
                raise StatsError("malformed", "is shorter than a v2 header")
            return _read_v2(f, path, head)
        if head[0] == V1_VERSION:
            return _read_v1(f, path)
        if head.count(0) == len(head):
            raise StatsError("initialising", "has no header yet: its writer is still creating it")
        raise StatsError("not-stats", "is not an mmstats file (unknown magic)")
    except StatsError as e:
        if e.code == "initialising":
            why = _abandonment(f)
            if why:
                raise StatsError("abandoned", why) from None
        raise
    except (struct.error, IndexError, ValueError, OverflowError, MemoryError) as e:
        # Every offset is checked before use; this is the net under those checks.
        raise StatsError("malformed", f"unreadable: {e}") from None
    finally:
        f.close()


# A file with no header and no lock, unchanged this long, was abandoned (section 5).
ABANDONED_AFTER_S = 10.0


def _abandonment(f: "_File") -> Optional[str]:
    """Why a file still initialising will never be ready (section 5), or None
    while a writer may still be making it: no process holds its lock, and the
    header's pid does not run with its start token (no header: unchanged for
    ABANDONED_AFTER_S)."""
    if _lock_held(f.fd) is not False:
        return None
    try:
        st = os.fstat(f.fd)
        head = f.read(0, min(st.st_size, HEADER_SIZE))
    except (OSError, StatsError):
        return None
    if len(head) == HEADER_SIZE and head[:8] == MAGIC:
        pid = _u32(head, H_PID)
        if pid > 0 and _pid_alive(pid, struct.unpack_from("<d", head, H_START_TOKEN)[0]):
            return None
        return f"was never finished: its writer (pid {pid}) died while creating it"
    idle = time.time() - st.st_mtime
    if idle < ABANDONED_AFTER_S:
        return None
    return f"has had no header for {idle:.0f} s and no writer holds it: its writer died creating it"


def percentile(hist: Dict[str, Any], q: float) -> float:
    """The q-th percentile (0 to 100) of a histogram value, derived from its buckets
    exactly as FORMAT.md section 2.4 says (and as the mmstats tools do); NaN when empty."""
    if not 0 <= q <= 100:
        raise ValueError(f"a percentile must be from 0 to 100, not {q}")
    buckets = hist["buckets"]
    total = 0.0
    for b in buckets:
        if b["count"] > 0:
            total += b["count"]
    if not total > 0:
        return math.nan
    if q == 0:
        return hist["min"]
    if q == 100:
        return hist["max"]
    rank = (q / 100) * total
    cum = 0.0
    for i, b in enumerate(buckets):
        c = b["count"]
        if not c > 0:
            continue
        if rank <= cum + c:
            lo = hist["min"] if i == 0 else max(buckets[i - 1]["le"], hist["min"])
            hi = min(b["le"], hist["max"])
            return lo + ((hi - lo) * (rank - cum)) / c if hi > lo else hi
        cum += c
    return hist["max"]  # only rounding can leave the rank past the last bucket


def _add_percentiles(result: Dict[str, Any], qs: List[Tuple[str, float]]) -> None:
    """Add "percentiles": {"p50": ...} to every histogram value of a read file."""
    for f in result.get("fields", []):
        v = f.get("value")
        if isinstance(v, dict) and "buckets" in v:
            v["percentiles"] = {name: percentile(v, q) for name, q in qs}


def _json_safe(v: Any) -> Any:
    """NaN and the infinities as strings: JSON has no literal for them."""
    if isinstance(v, float) and not math.isfinite(v):
        return "NaN" if math.isnan(v) else ("Infinity" if v > 0 else "-Infinity")
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    return v


def _expand(args: List[str]) -> Tuple[List[str], List[Tuple[str, str]]]:
    """Files to read (a directory stands for its *.mmstats files), and directories that failed."""
    out: List[str] = []
    failed: List[Tuple[str, str]] = []
    for a in args:
        if os.path.isdir(a) and not os.path.islink(a):
            try:
                names = os.listdir(a)
            except OSError as e:
                failed.append((a, f"cannot list the directory: {e.strerror} [io]"))
                continue
            out.extend(sorted(os.path.join(a, n) for n in names if n.endswith(".mmstats")))
        else:
            out.append(a)
    return out, failed


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(
        prog="mmstats_reader.py",
        description="Print the fields of mmstats files (v2 and v1) as JSON. A directory means its *.mmstats files.",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="stats file or directory")
    parser.add_argument("--compact", action="store_true", help="print the JSON on one line")
    parser.add_argument(
        "--percentiles",
        metavar="LIST",
        help="add these percentiles (e.g. 50,90,99,99.9) to every histogram, as FORMAT.md section 2.4 derives them",
    )
    opts = parser.parse_args(argv)
    qs: List[Tuple[str, float]] = []
    if opts.percentiles:
        for token in opts.percentiles.split(","):
            try:
                q = float(token.strip().lstrip("pP"))
            except ValueError:
                parser.error(f"--percentiles takes numbers from 0 to 100 separated by commas; {token!r} is not one")
            if not 0 <= q <= 100:
                parser.error(f"--percentiles takes numbers from 0 to 100; {token!r} is not one")
            qs.append((f"p{q:g}", q))
    results = []
    files, bad_dirs = _expand(opts.files)
    for path, why in bad_dirs:
        print(f"mmstats_reader: {path}: {why}", file=sys.stderr)
    failed = len(bad_dirs)
    for path in files:
        try:
            result = read_file(path)
            if qs:
                _add_percentiles(result, qs)
            results.append(result)
        except StatsError as e:
            # A file not finished (being made, or abandoned by a writer that died making it) is reported, not a failure.
            if e.code not in ("initialising", "abandoned"):
                failed += 1
            print(f"mmstats_reader: {path}: {e} [{e.code}]", file=sys.stderr)
    text = json.dumps(_json_safe(results), ensure_ascii=False, allow_nan=False, indent=None if opts.compact else 2)
    try:
        # UTF-8 whatever the locale: labels and strings are UTF-8 in the file.
        sys.stdout.buffer.write((text + "\n").encode("utf-8"))
        sys.stdout.flush()
    except BrokenPipeError:
        # Output piped into `head`: end quietly, as the original's tools did.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
