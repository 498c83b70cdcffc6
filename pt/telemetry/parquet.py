"""A small Parquet writer for the lake's tables, without pyarrow.

``import pyarrow`` alone costs a scan's telemetry child ~80 MB of resident
memory and ~0.2 s of CPU; the lake's tables need only a sliver of Parquet, so
pt writes them itself: numpy columns in, one file out.

What it writes (the Parquet format, ``parquet.thrift``): format version 2,
one row group (none for an empty table), one page per column (DATA_PAGE v1,
with a CRC), a flat schema of OPTIONAL columns plus the 3-level LIST for
``list<string>``; booleans, INT32 (int8/16/32 with their INTEGER logical
type), INT64 (int64, uint64 as INTEGER(64, unsigned)), DOUBLE and UTF-8
BYTE_ARRAY; strings (and list elements) dictionary-encoded (a PLAIN
dictionary page, RLE_DICTIONARY indices), everything else PLAIN; levels as
the RLE/bit-packed hybrid; GZIP (zlib, level 1) pages; min/max statistics on
the columns named in ``statistics``; schema key-value metadata. Thrift
structures are written in the compact protocol by :class:`_Thrift`.

Not written: the ``ARROW:schema`` key, so a pyarrow reader sees the same
column types and nullability but not the per-field metadata (unit,
description, redaction), which stays in :mod:`pt.telemetry.schemas`.
"""
from __future__ import annotations

import functools
import zlib
from dataclasses import dataclass

import numpy as np

#: Page codec: GZIP level 1 (zstd is not in the standard library).
GZIP, UNCOMPRESSED = 2, 0
LEVEL = 1

# parquet.thrift enums
_BOOLEAN, _INT32, _INT64, _DOUBLE, _BYTE_ARRAY = 0, 1, 2, 5, 6
_OPTIONAL, _REPEATED = 1, 2
_PLAIN, _RLE, _RLE_DICTIONARY = 0, 3, 8
_DATA_PAGE, _DICTIONARY_PAGE = 0, 2
_UTF8, _LIST = 0, 3
_CONVERTED_INT = {(8, True): 15, (16, True): 16, (32, True): 17, (64, True): 18, (64, False): 14}

#: dtype -> (physical type, numpy storage dtype, (bit width, signed) or None)
_PHYSICAL = {
    "bool": (_BOOLEAN, np.bool_, None), "int8": (_INT32, np.dtype("<i4"), (8, True)),
    "int16": (_INT32, np.dtype("<i4"), (16, True)), "int32": (_INT32, np.dtype("<i4"), (32, True)),
    "int64": (_INT64, np.dtype("<i8"), None), "uint64": (_INT64, np.dtype("<u8"), (64, False)),
    "float64": (_DOUBLE, np.dtype("<f8"), None),
}
_NUMPY = {"bool": np.bool_, "int8": np.int8, "int16": np.int16, "int32": np.int32, "int64": np.int64,
          "uint64": np.uint64, "float64": np.float64}


# --- columns ------------------------------------------------------------------------------

@dataclass
class Numbers:
    """A numeric or boolean column: ``values`` (numpy), ``null`` (bool mask, or None)."""

    values: np.ndarray
    null: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.values)


@dataclass
class Strings:
    """A string column as distinct values and, per row, an index into them:
    row ``i`` is ``values[index[i]]`` (str, or None for null)."""

    values: list
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


@dataclass
class Lists:
    """A list<string> column as distinct lists and an index: row ``i`` is
    ``values[index[i]]`` (a sequence of str or None, or None for null)."""

    values: list
    index: np.ndarray

    def __len__(self) -> int:
        return len(self.index)


def numbers(values, dtype: str) -> Numbers:
    """A :class:`Numbers` column of ``dtype`` from an array or sequence; None
    (and, in object arrays, NaN) is null. NaN in a float array stays NaN."""
    values = np.asarray(values)
    null = None
    if values.dtype == object:
        null = np.fromiter((v is None or v != v for v in values), dtype=bool, count=len(values))
        values = np.where(null, 0, values)
    values = values.astype(_NUMPY[dtype], copy=False)
    if values.ndim != 1:
        raise ValueError(f"a column must be one-dimensional, got shape {values.shape}")
    return Numbers(values, null if null is not None and null.any() else None)


def strings(values) -> Strings:
    """A :class:`Strings` column from a sequence of str or None (one pass)."""
    codes: dict = {}
    index = np.fromiter((codes.setdefault(v, len(codes)) for v in values), dtype=np.int64,
                        count=len(values))
    return Strings(list(codes), index)


def const(value, n: int, dtype: str):
    """A column holding ``value`` (None: null) in each of ``n`` rows."""
    if dtype == "string":
        return Strings([value], np.zeros(n, dtype=np.int64))
    if dtype == "list<string>":
        return Lists([value], np.zeros(n, dtype=np.int64))
    if value is None:
        return Numbers(np.zeros(n, dtype=_NUMPY[dtype]), np.ones(n, dtype=bool))
    return Numbers(np.full(n, value, dtype=_NUMPY[dtype]))


def column(values, dtype: str):
    """The column of ``dtype`` from a sequence (a column, or an
    :class:`Encoded` chunk, passes through)."""
    if isinstance(values, (Numbers, Strings, Lists, Encoded)):
        return values
    if dtype == "string":
        return strings(values)
    if dtype not in _NUMPY and dtype != "list<string>":
        raise ValueError(f"unsupported column type {dtype!r}")
    if dtype == "list<string>":
        codes: dict = {}
        index = np.fromiter((codes.setdefault(None if v is None else tuple(v), len(codes)) for v in values),
                            dtype=np.int64, count=len(values))
        return Lists(list(codes), index)
    return numbers(values, dtype)


# --- thrift compact protocol --------------------------------------------------------------

_I16, _I32, _I64, _BINARY, _LIST_T, _STRUCT, _BYTE = 4, 5, 6, 8, 9, 12, 3


_SMALL = [bytes([i]) for i in range(256)]


def _varint(n: int) -> bytes:
    if n < 128:
        return _SMALL[n]
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _zigzag(n: int) -> bytes:
    n = (n << 1) ^ (n >> 63)
    return _SMALL[n] if n < 128 else _varint(n)


class _Thrift:
    """A Thrift struct in the compact protocol: ``(field id, type, value)``
    triples; a value of type struct is a list of triples, of type list a
    ``(element type, [values])`` pair (a struct element may be given
    already encoded, as bytes); bool fields are ``True``/``False`` with
    type None.

    A file's metadata is thousands of small fields (a page header and a
    column chunk per column), so the integer and struct cases, nearly all
    of them, are written inline, into one list joined once per struct."""

    @staticmethod
    def struct(fields, last: int = 0) -> bytes:
        """The struct's fields and its stop byte; ``last`` is the id of a field
        already written before these (so the caller can splice a prefix)."""
        out = []
        for fid, kind, value in fields:
            if value is None:
                continue
            delta = fid - last
            ctype = (1 if value else 2) if kind is None else kind
            out.append(_SMALL[delta << 4 | ctype] if 0 < delta <= 15 else _SMALL[ctype] + _zigzag(fid))
            last = fid
            if kind in _INTEGERS:
                out.append(_zigzag(value))
            elif kind == _STRUCT:
                out.append(_Thrift.struct(value))
            elif kind is not None:
                out.append(_Thrift.value(kind, value))
        out.append(b"\x00")
        return b"".join(out)

    @staticmethod
    def value(kind: int, value) -> bytes:
        if kind in _INTEGERS:
            return _zigzag(value)
        if kind == _BYTE:
            return _SMALL[value & 0xFF]
        if kind == _BINARY:
            value = value.encode() if isinstance(value, str) else value
            return _varint(len(value)) + value
        if kind == _STRUCT:
            return _Thrift.struct(value)
        if kind == _LIST_T:
            etype, items = value
            head = _SMALL[len(items) << 4 | etype] if len(items) < 15 else _SMALL[0xF0 | etype] + _varint(len(items))
            if etype == _STRUCT:          # a struct given as bytes is already encoded
                return head + b"".join([v if isinstance(v, bytes) else _Thrift.struct(v) for v in items])
            return head + b"".join([_Thrift.value(etype, v) for v in items])
        raise ValueError(f"unsupported thrift type {kind}")


_INTEGERS = frozenset((_I16, _I32, _I64))


# --- encodings ----------------------------------------------------------------------------

def _hybrid(values: np.ndarray, bit_width: int) -> bytes:
    """``values`` (small non-negative ints) in the RLE/bit-packed hybrid:
    one RLE run if they are all equal, else bit-packed runs of ≤ 504 values."""
    n = len(values)
    if n == 0:
        return b""
    width_bytes = (bit_width + 7) // 8
    first = int(values[0])
    if not (values != first).any():
        return _varint(n << 1) + first.to_bytes(width_bytes, "little")
    groups = (n + 7) // 8
    padded = np.zeros(groups * 8, dtype=np.uint32)
    padded[:n] = values
    bits = ((padded[:, None] >> np.arange(bit_width, dtype=np.uint32)) & 1).astype(np.uint8)
    packed = np.packbits(bits.ravel(), bitorder="little").tobytes()
    out = bytearray()
    step = 63 * bit_width                                # 63 groups of 8 values: a one-byte header
    for start in range(0, len(packed), step):
        chunk = packed[start:start + step]
        out.append((len(chunk) // bit_width) << 1 | 1)
        out += chunk
    return bytes(out)


def _plain_bytes(items: list[bytes]) -> bytes:
    """BYTE_ARRAY values, PLAIN: a 4-byte little-endian length before each."""
    if not items:
        return b""
    lengths = np.fromiter(map(len, items), dtype=np.int64, count=len(items))
    if lengths.max() >= 2**31:
        raise ValueError("a string longer than 2 GiB cannot be stored")
    out = np.empty(int(lengths.sum()) + 4 * len(items), dtype=np.uint8)
    starts = np.cumsum(lengths + 4) - (lengths + 4)
    is_data = np.ones(len(out), dtype=bool)
    slots = (starts[:, None] + np.arange(4)).ravel()
    is_data[slots] = False
    out[slots] = lengths.astype("<u4").view(np.uint8)
    out[is_data] = np.frombuffer(b"".join(items), dtype=np.uint8)
    return out.tobytes()


def _dictionary(values: list, index: np.ndarray) -> tuple[list[bytes], np.ndarray, np.ndarray]:
    """Distinct non-null values (UTF-8, deduplicated), each row's code, and the null mask."""
    seen: dict = {}
    remap = np.array([-1 if v is None else seen.setdefault(v.encode(), len(seen)) for v in values]
                     or [-1], dtype=np.int64)
    codes = remap[index] if len(index) else np.zeros(0, dtype=np.int64)
    return list(seen), codes, codes < 0


def _bit_width(n: int) -> int:
    return max(1, (n - 1).bit_length())


@dataclass
class _Chunk:
    """One column chunk's pages, raw: ``(page type, bytes, header fields)``,
    the dictionary page first; compressed when placed in the file."""

    pages: list[tuple[int, bytes, list]]
    encodings: list[int]
    num_values: int
    stats: tuple | None                 # (null count, min bytes, max bytes) or None


#: Chunks smaller than this are stored uncompressed (gzip's 18 bytes of framing would not pay).
MIN_COMPRESS = 256


def _page(codec: int, kind: int, raw: bytes, header_fields: list) -> tuple[bytes, bytes]:
    """A page's header and body (compressed with ``codec``; the CRC is of the body)."""
    if codec == GZIP:
        z = zlib.compressobj(LEVEL, zlib.DEFLATED, 31)
        body = z.compress(raw) + z.flush()
    else:
        body = raw
    crc = zlib.crc32(body)
    header = _Thrift.struct([(1, _I32, kind), (2, _I32, len(raw)), (3, _I32, len(body)),
                             (4, _I32, crc - (1 << 32) if crc >= 1 << 31 else crc), *header_fields])
    return header, body


def _data_page(levels: bytes, values: bytes, n: int, encoding: int) -> tuple[int, bytes, list]:
    return (_DATA_PAGE, levels + values, [(5, _STRUCT, [(1, _I32, n), (2, _I32, encoding),
                                                         (3, _I32, _RLE), (4, _I32, _RLE)])])


def _with_length(encoded: bytes) -> bytes:
    return len(encoded).to_bytes(4, "little") + encoded


def _string_chunk(values: list, index: np.ndarray, stats: bool,
                  rep: np.ndarray | None = None, defs: np.ndarray | None = None, max_def: int = 1) -> _Chunk:
    """A dictionary-encoded string column (flat, or a list's elements with their levels)."""
    distinct, codes, null = _dictionary(values, index)
    if defs is None:
        defs = (~null).astype(np.uint8)
    levels = b"" if rep is None else _with_length(_hybrid(rep, 1))
    levels += _with_length(_hybrid(defs, _bit_width(max_def + 1)))
    present = codes[~null]
    if distinct:
        width = _bit_width(len(distinct))
        pages = [(_DICTIONARY_PAGE, _plain_bytes(distinct), [(7, _STRUCT, [(1, _I32, len(distinct)),
                                                                           (2, _I32, _PLAIN)])]),
                 _data_page(levels, bytes([width]) + _hybrid(present, width), len(defs), _RLE_DICTIONARY)]
        encodings = [_PLAIN, _RLE, _RLE_DICTIONARY]
    else:
        pages, encodings = [_data_page(levels, b"", len(defs), _PLAIN)], [_PLAIN, _RLE]
    summary = None
    if stats:
        used = sorted(distinct[c] for c in set(present.tolist()))      # np.unique would import numpy.ma (~20 ms)
        summary = (int(null.sum()), used[0] if used else None, used[-1] if used else None)
    return _Chunk(pages, encodings, len(defs), summary)


def _list_chunk(col: Lists) -> _Chunk:
    """list<string>: per distinct list its levels and element codes, gathered per row.
    Definition levels: 0 null list, 1 empty list, 2 null element, 3 element."""
    tokens: dict = {}
    d_def, d_rep, d_codes = [], [], []
    for v in col.values:
        if v is None or len(v) == 0:
            d_def.append(np.array([0 if v is None else 1], np.uint8))
            d_rep.append(np.zeros(1, np.uint8))
            d_codes.append(np.zeros(0, np.int64))
            continue
        d_def.append(np.array([2 if t is None else 3 for t in v], np.uint8))
        rep = np.ones(len(v), np.uint8)
        rep[0] = 0
        d_rep.append(rep)
        d_codes.append(np.array([tokens.setdefault(t, len(tokens)) for t in v if t is not None], np.int64))
    rows = col.index.tolist()
    if not rows:
        return _string_chunk([], np.zeros(0, np.int64), False, np.zeros(0, np.uint8), np.zeros(0, np.uint8), 3)
    defs = np.concatenate([d_def[k] for k in rows])
    rep = np.concatenate([d_rep[k] for k in rows])
    codes = np.concatenate([d_codes[k] for k in rows])
    # the element column: codes of present elements, nulls where defs < 3
    index = np.full(len(defs), len(tokens), dtype=np.int64)
    index[defs == 3] = codes
    return _string_chunk(list(tokens) + [None], index, False, rep, defs, 3)


def _number_chunk(col: Numbers, dtype: str, stats: bool) -> _Chunk:
    physical, storage, _ = _PHYSICAL[dtype]
    n = len(col.values)
    if col.null is None:         # most columns: every level 1, one RLE run (what _hybrid writes)
        null, present = None, col.values
        levels = _with_length(_varint(n << 1) + b"\x01" if n else b"")
    else:
        null = col.null
        present = col.values[~null]
        levels = _with_length(_hybrid((~null).astype(np.uint8), 1))
    if physical == _BOOLEAN:
        values = np.packbits(present.astype(bool), bitorder="little").tobytes()
    else:
        values = present.astype(storage, copy=False).tobytes()
    summary = None
    if stats and physical != _BOOLEAN:
        finite = present[~np.isnan(present)] if physical == _DOUBLE else present
        summary = (0 if null is None else int(null.sum()),
                   finite.min().astype(storage).tobytes() if len(finite) else None,
                   finite.max().astype(storage).tobytes() if len(finite) else None)
    return _Chunk([_data_page(levels, values, n, _PLAIN)], [_PLAIN, _RLE], n, summary)


# --- the file -----------------------------------------------------------------------------

def _schema_elements(name: str, dtype: str) -> list[list]:
    if dtype == "string":
        return [[(1, _I32, _BYTE_ARRAY), (3, _I32, _OPTIONAL), (4, _BINARY, name), (6, _I32, _UTF8),
                 (10, _STRUCT, [(1, _STRUCT, [])])]]
    if dtype == "list<string>":
        return [[(3, _I32, _OPTIONAL), (4, _BINARY, name), (5, _I32, 1), (6, _I32, _LIST),
                 (10, _STRUCT, [(3, _STRUCT, [])])],
                [(3, _I32, _REPEATED), (4, _BINARY, "list"), (5, _I32, 1)],
                [(1, _I32, _BYTE_ARRAY), (3, _I32, _OPTIONAL), (4, _BINARY, "element"), (6, _I32, _UTF8),
                 (10, _STRUCT, [(1, _STRUCT, [])])]]
    if dtype not in _PHYSICAL:
        raise ValueError(f"unsupported column type {dtype!r}")
    physical, _, integer = _PHYSICAL[dtype]
    element = [(1, _I32, physical), (3, _I32, _OPTIONAL), (4, _BINARY, name)]
    if integer is not None:
        element += [(6, _I32, _CONVERTED_INT[integer]),
                    (10, _STRUCT, [(10, _STRUCT, [(1, _BYTE, integer[0]), (2, None, integer[1])])])]
    return [element]


@dataclass(frozen=True)
class Encoded:
    """A column chunk already encoded: its pages (headers, compressed bodies)
    and its ``ColumnMetaData`` fields with page offsets relative to the
    chunk's start. :func:`write_table` places it anywhere in a file, so a
    column known early (a scan's snapshot columns) is encoded ahead of the
    others (:func:`encode`)."""

    name: str
    dtype: str
    num_rows: int
    data: bytes
    head: bytes              # ColumnMetaData fields 1-7, compact protocol, up to field 7
    page_offsets: tuple      # (data page, dictionary page or None), relative to the chunk
    stats: list | None       # the Statistics struct's fields, or None
    uncompressed: int

    def __len__(self) -> int:
        return self.num_rows


def encode(name: str, dtype: str, values, *, stats: bool = False, codec: int = GZIP) -> Encoded:
    """Column ``name`` of ``dtype`` (a column or anything :func:`column`
    takes) as an :class:`Encoded` chunk: pages compressed with ``codec``
    unless too small to gain, min/max statistics if ``stats``."""
    if isinstance(values, Encoded):
        if (values.name, values.dtype) != (name, dtype):
            raise ValueError(f"column {name!r} of {dtype} given a chunk encoded as {values.name!r} of {values.dtype}")
        return values
    col = column(values, dtype)
    if dtype == "string":
        chunk = _string_chunk(col.values, col.index, stats)
    elif dtype == "list<string>":
        chunk = _list_chunk(col)
    else:
        chunk = _number_chunk(col, dtype, stats)
    uncompressed = sum(len(raw) for _, raw, _ in chunk.pages)
    chunk_codec = codec if uncompressed >= MIN_COMPRESS else UNCOMPRESSED
    parts, offsets, pos = [], [], 0
    for kind, raw, fields in chunk.pages:
        header, body = _page(chunk_codec, kind, raw, fields)
        offsets.append(pos)
        parts += (header, body)
        pos += len(header) + len(body)
        uncompressed += len(header)
    path = [name, "list", "element"] if dtype == "list<string>" else [name]
    physical = _BYTE_ARRAY if dtype in ("string", "list<string>") else _PHYSICAL[dtype][0]
    summary = None
    if chunk.stats is not None:
        nulls, lo, hi = chunk.stats
        summary = [(3, _I64, nulls), (5, _BINARY, hi), (6, _BINARY, lo)]
    head = _Thrift.struct([(1, _I32, physical), (2, _LIST_T, (_I32, chunk.encodings)),
                           (3, _LIST_T, (_BINARY, path)), (4, _I32, chunk_codec),
                           (5, _I64, chunk.num_values), (6, _I64, uncompressed), (7, _I64, pos)])[:-1]
    return Encoded(name, dtype, len(col), b"".join(parts), head,
                   (offsets[-1], offsets[0] if len(offsets) > 1 else None), summary, uncompressed)


@functools.lru_cache(maxsize=4096)
def _schema_bytes(name: str, dtype: str) -> tuple[bytes, ...]:
    """The encoded SchemaElement structs of one column (the same in every file)."""
    return tuple(_Thrift.struct(element) for element in _schema_elements(name, dtype))


def warm_schema(columns) -> None:
    """Encode the schema elements of ``columns`` (``(name, dtype)`` pairs) now;
    a later :func:`write_table` of them finds them cached (a telemetry child
    does this before the scan's verdicts: ~2 ms less after them)."""
    for name, dtype in columns:
        _schema_bytes(name, dtype)


def _chunk_bytes(chunk: Encoded, start: int) -> bytes:
    """The row group's ColumnChunk struct for ``chunk`` placed at ``start``."""
    data_page, dictionary_page = chunk.page_offsets
    tail = _Thrift.struct([(9, _I64, start + data_page),
                           (11, _I64, None if dictionary_page is None else start + dictionary_page),
                           (12, _STRUCT, chunk.stats)], last=7)
    return b"\x26" + _zigzag(start) + b"\x1c" + chunk.head + tail + b"\x00"


def write_table(out, columns: list[tuple[str, str, object]], *, metadata: dict[str, str] | None = None,
                statistics=(), codec: int = GZIP, created_by: str = "pt") -> None:
    """Write one Parquet file to the binary file ``out``: ``columns`` are
    ``(name, dtype, column)`` in order (a column: :class:`Numbers`,
    :class:`Strings`, :class:`Lists`, an :class:`Encoded` chunk, or anything
    :func:`column` takes), all of one length; ``metadata`` the schema's
    key-value pairs; ``statistics`` the names of the columns to keep min/max
    statistics for (an :class:`Encoded` chunk keeps what it was encoded with)."""
    lengths = {len(values) for _, _, values in columns}
    if len(lengths) > 1:
        raise ValueError(f"columns of different lengths: {sorted(lengths)}")
    num_rows = lengths.pop() if lengths else 0
    schema = [_Thrift.struct([(4, _BINARY, "schema"), (5, _I32, len(columns))])]
    for name, dtype, _ in columns:
        schema += _schema_bytes(name, dtype)
    pos = 4
    out.write(b"PAR1")
    chunks, sizes = [], []
    for name, dtype, values in columns if num_rows else ():
        chunk = encode(name, dtype, values, stats=name in statistics, codec=codec)
        chunks.append(_chunk_bytes(chunk, pos))
        sizes.append((len(chunk.data), chunk.uncompressed))
        out.write(chunk.data)
        pos += len(chunk.data)
    row_groups = []
    if num_rows:
        row_groups.append([
            (1, _LIST_T, (_STRUCT, chunks)), (2, _I64, sum(u for _, u in sizes)), (3, _I64, num_rows),
            (5, _I64, 4), (6, _I64, sum(c for c, _ in sizes)), (7, _I16, 0)])
    footer = _Thrift.struct([
        (1, _I32, 2), (2, _LIST_T, (_STRUCT, schema)), (3, _I64, num_rows), (4, _LIST_T, (_STRUCT, row_groups)),
        (5, _LIST_T, (_STRUCT, [[(1, _BINARY, k), (2, _BINARY, v)] for k, v in (metadata or {}).items()]) if metadata
         else None),
        (6, _BINARY, created_by),
        (7, _LIST_T, (_STRUCT, [[(1, _STRUCT, [])] for _ in columns])),
    ])
    out.write(footer)
    out.write(len(footer).to_bytes(4, "little"))
    out.write(b"PAR1")
