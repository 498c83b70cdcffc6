"""JSON text of a list of flat records, written from their columns.

``json.dumps`` of a list of row dicts spends its time building the dicts,
re-encoding every key of every row and walking nested values one by one.
Here each column is encoded once, by the C functions ``json.dumps`` itself
uses (``float.__repr__``, ``int.__repr__``, its ASCII string escaper), and the
rows are joined with one ``%`` template whose keys are encoded once. The
text is byte for byte what ``json.dumps(rows, separators=(",", ":"),
allow_nan=False)`` prints (the tests check it): ASCII only, control
characters, U+2028 and lone surrogates escaped, no NaN or Infinity.

Nested values (a posterior per class, ...) can be written straight from
their matrices as :class:`JSONText` columns, which are passed through as they are.
"""
from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as string   # json.dumps's own (C) escaper

import numpy as np

_encoder = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
_SCALARS = frozenset((int, float, bool, type(None)))
_TEXT = frozenset((str, type(None)))


class JSONText(np.ndarray):
    """An object column whose elements are already JSON text (one value
    each); indexing and slicing keep the type, so it travels with the other
    columns through selection and sorting."""


def as_text(pieces: list[str]) -> JSONText:
    """``pieces`` (JSON values) as a :class:`JSONText` column."""
    out = np.empty(len(pieces), dtype=object)
    out[:] = pieces
    return out.view(JSONText)


def float_pieces(values: np.ndarray, decimals: int, null: bool = True) -> list[str]:
    """Each float rounded to ``decimals``, as JSON (flattened); not finite:
    null, or with ``null`` False a ValueError, as ``json.dumps`` raises.
    Where rounding would overflow (beyond 1e300) the value is kept as it is.

    ``float.__repr__`` (what ``json.dumps`` writes) is the cost here, so it
    runs once per distinct value: a scan's columns repeat values (the
    Bayes factor of a category, the share of an idle process) many times.
    """
    values = np.asarray(values).ravel()
    finite = np.isfinite(values)
    all_finite = bool(finite.all())
    if not all_finite and not null:
        raise ValueError(f"Out of range float values are not JSON compliant: {values[~finite][0]!r}")
    with np.errstate(over="ignore", invalid="ignore"):
        rounded = np.round(values, decimals)
    rounded = np.where(np.isfinite(rounded), rounded, np.where(finite, values, 0.0))
    distinct, inverse = np.unique(rounded + 0.0, return_inverse=True)     # + 0.0: -0.0 is 0.0 here...
    pieces = np.array(list(map(float.__repr__, distinct.tolist())), dtype=object)[inverse].tolist()
    for i in np.flatnonzero(np.signbit(rounded) & (rounded == 0)).tolist():
        pieces[i] = "-0.0"                                                  # ...and "-0.0" in JSON
    if not all_finite:
        for i in np.flatnonzero(~finite).tolist():
            pieces[i] = "null"
    return pieces


def objects(n: int, keys: tuple[str, ...] | None, pieces: list[list[str]]) -> list[str]:
    """``n`` JSON objects of ``"key":value`` pairs (or, with ``keys`` None,
    arrays) from per-member columns of JSON pieces, with one ``%`` template."""
    if not pieces:
        return ["[]" if keys is None else "{}"] * n
    if keys is None:
        template = "[" + ",".join(["%s"] * len(pieces)) + "]"
    else:
        template = "{" + ",".join(string(k).replace("%", "%%") + ":%s" for k in keys) + "}"
    return [template % row for row in zip(*pieces)]


def value_pieces(values: list) -> list[str]:
    """Each of ``values`` (plain Python values) as JSON: whole columns of
    scalars, strings or lists of strings (argument vectors) at once, anything
    else one by one."""
    types = set(map(type, values))
    if types <= _SCALARS:      # one C-encoded list split at its commas (no scalar contains one)
        return _encoder.encode(values)[1:-1].split(",") if values else []
    if types <= _TEXT:
        return ["null" if v is None else string(v) for v in values]
    if types <= {list, type(None)} and set(type(m) for v in values if v is not None for m in v) <= _TEXT:
        return ["null" if v is None else "[" + ",".join(["null" if m is None else string(m) for m in v]) + "]"
                for v in values]
    return list(map(_encoder.encode, values))


def column_pieces(values: np.ndarray) -> list[str]:
    """One JSON value per element of a column as pt prints it: floats rounded
    to 6 decimals and null where not finite, :class:`JSONText` as it is,
    other values as JSON."""
    if isinstance(values, JSONText):
        return values.tolist()
    kind = values.dtype.kind
    if kind == "f":
        return float_pieces(values, 6)
    if kind in "iu":
        return list(map(int.__repr__, values.tolist()))
    if kind == "b":
        return np.where(values, "true", "false").tolist()
    return value_pieces(values.tolist())


def record_chunks(columns: dict[str, np.ndarray], batch: int = 512) -> list[str]:
    """The JSON array of the rows of ``columns`` (equal lengths), keys in
    ``columns`` order (``[{"pid":1,...},...]``, ``[]`` without columns), as
    chunks to write one after the other: ``batch`` rows at a time, so the
    encoded pieces of only that many rows are alive at once."""
    n = len(next(iter(columns.values()))) if columns else 0
    if not n:
        return ["[]"]
    keys = tuple(columns)
    chunks = []
    for start in range(0, n, batch):
        stop = min(start + batch, n)
        rows = ",".join(objects(stop - start, keys, [column_pieces(v[start:stop]) for v in columns.values()]))
        chunks.append(("[" if start == 0 else ",") + rows)
    chunks.append("]")
    return chunks


def records(columns: dict[str, np.ndarray]) -> str:
    """:func:`record_chunks` as one string."""
    return "".join(record_chunks(columns))


def parts_with(obj: dict, path: tuple[str, ...], chunks: list[str]) -> list[str]:
    """``obj`` as compact JSON, in parts to write one after the other, with
    the value at ``path`` (keys of nested dicts) replaced by the ready JSON
    ``chunks``, in its place among the keys."""
    parts = ["{"]
    for i, (key, value) in enumerate(obj.items()):
        parts.append(("," if i else "") + string(key) + ":")
        if key != path[0]:
            parts.append(_encoder.encode(value))
        elif len(path) == 1:
            parts.extend(chunks)
        else:
            parts.extend(parts_with(value, path[1:], chunks))
    parts.append("}")
    return parts
