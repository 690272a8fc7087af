"""The compact status form's per-node work in C: `tiphys.core.status._compact_encode` and
`_compact_decode`, rule for rule.

Those modules are the specification and the fallback; this one does their hot loops over the
same data — row building straight from the node Struct's slots (no `msgspec.to_builtins`),
ordering and placement, and the stamping of decoded nodes — and writes byte-identical layouts
(the test suite runs every compact test on both, plus differential tests).

Where it goes (the rows are built in the map's order, placed breadth-first; the layout bytes
equal the reference's):

* `_compact_write.pxi` — byte buffers, msgspec-exact string escaping, `StructInfo` (a Struct
  type's slot offsets and JSON keys: fields are read from their slots, no `to_builtins`);
* `_compact_row.pxi` — `Row`, the per-node record (numbers as C fields);
* `_compact_rows.pxi` — `RowWriter.row` (`_compact_encode._row`) and `rows()`, which keeps the
  rows of unchanged node objects and asks the reference for nodes it does not walk itself;
* `_compact_json.pxi` — a node's shape text, holes cut out;
* `_compact_rules.pxi` — timestamps, derived display names, name prefixes;
* `_compact_arrays.pxi`, `_compact_place.pxi` — `columns()`: order and placement over node
  positions in C arrays, the int columns written as msgpack directly;
* `_compact_stamp.pxi` — `stamp()`, the decoder's per-node loops.

This module sits below `tiphys.core` and may not import it: the layout's marker bytes and flag
values are repeated here (a test checks them against `_compact_layout`), and everything of the
core it needs — the reference row for a node it does not handle, the msgspec encoder, `replace`
— is passed in. Declarations live in this file and its .pxi includes, not in a `.pxd` (setup.py
maps `core/` to `tiphys.core`; see benchmarks/README.md, "Build").
"""
cimport cython
from cpython.dict cimport PyDict_GetItem
from cpython.mem cimport PyMem_Free, PyMem_Malloc, PyMem_Realloc
from cpython.ref cimport PyObject
from libc.string cimport memcpy, memset

from json.encoder import encode_basestring as _encode_basestring
from types import MemberDescriptorType as _MemberDescriptor

from msgspec import UNSET as _UNSET  # a field holding it is left out, as msgspec leaves it out

# _compact_layout's constants (checked equal by tests/core/status/test_compact_fast.py).
cdef enum:
    F_ID = 1
    F_DISPLAY = 2
    F_BOUNDARY = 4
    F_CHILDREN = 8
    F_OUTBOUND = 16
    F_STARTED = 32
    F_FINISHED = 64
    F_HOST = 128
    F_RESOURCES = 256
    F_NAME = 512
    SAME_AS_PREVIOUS = -1
    HOLE_JSON_LEN = 9

cdef const char* HASH_MARK = b"\x00h"
cdef const char* WF_MARK = b"\x00w"
cdef const char* HOLE_JSON = b'"\\u0000s"'

FLAGS = {"F_ID": F_ID, "F_DISPLAY": F_DISPLAY, "F_BOUNDARY": F_BOUNDARY, "F_CHILDREN": F_CHILDREN,
         "F_OUTBOUND": F_OUTBOUND, "F_STARTED": F_STARTED, "F_FINISHED": F_FINISHED, "F_HOST": F_HOST,
         "F_RESOURCES": F_RESOURCES, "F_NAME": F_NAME, "SAME_AS_PREVIOUS": SAME_AS_PREVIOUS}
MARKERS = {"HASH_MARK": HASH_MARK[:2].decode(), "WF_MARK": WF_MARK[:2].decode(),
           "HOLE_JSON": HOLE_JSON[:HOLE_JSON_LEN].decode()}

include "_compact_write.pxi"

# Struct type -> StructInfo; types live as long as the process, like msgspec's own type caches.
cdef dict _INFOS = {}

include "_compact_arrays.pxi"
include "_compact_rules.pxi"
include "_compact_row.pxi"
include "_compact_rows.pxi"
include "_compact_json.pxi"
include "_compact_place.pxi"
include "_compact_stamp.pxi"
