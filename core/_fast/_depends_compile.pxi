# Included by _depends.pyx: from names to program words (tiphys.core.dag._parse has the Python twins).


def compile_text(str text, dict index, list bare, /):
    """Parse and compile `text` in one go: `(words, max_stack, ids, conjunction)`, as
    `tiphys.core.dag._parse.compile_text` returns them. `index` maps names to task ints, which
    must be valid indices into `bare` (the mask a bare reference to each task accepts). Raises
    ParseFault, and KeyError(name) for the first name (in text order) missing from `index`."""
    cdef Item small_items[SMALL]
    cdef int small_ops[SMALL]
    cdef Item* items = small_items
    cdef int* ops = small_ops
    try:
        return _compile(text, index, bare, items, _run(text, &items, &ops))
    finally:
        if items != small_items:
            PyMem_Free(items)
        if ops != small_ops:
            PyMem_Free(ops)


cdef inline bint _has(list ids, long j) except -1:
    """Whether task `j` is in the (short) list `ids`."""
    cdef Py_ssize_t m
    for m in range(len(ids)):
        if <long>ids[m] == j:
            return True
    return False


cdef tuple _compile(str text, dict index, list bare, Item* items, Py_ssize_t count):
    cdef Py_ssize_t k, nbare = len(bare)
    cdef Item* it
    cdef PyObject* found
    cdef long j, mask
    cdef int depth = 0, max_depth = 0, natoms = 0
    cdef bint conj = True
    cdef list words = [], ids = [], masks = []
    cdef set seen = None
    for k in range(count):
        it = &items[k]
        if it.op:
            words.append(it.op)
            if it.op != OP_NOT:
                depth -= 1
                if it.op != OP_AND:
                    conj = False
            else:
                conj = False
            continue
        name = text[it.start:it.end]
        found = PyDict_GetItem(index, name)
        if found == NULL:
            raise KeyError(name)
        task = <object>found
        j = task
        if j < 0 or j >= nbare:
            raise IndexError(f"task index {j} of {name!r} is outside bare ({nbare} tasks)")
        mask = (1 << it.result) if it.result >= 0 else <long>bare[j]
        words.append(task)
        words.append(mask)
        masks.append(mask)
        natoms += 1
        depth += 1
        if depth > max_depth:
            max_depth = depth
        # Distinct dependencies in order of first appearance; a set only for long expressions.
        if len(ids) < 16:
            if not _has(ids, j):
                ids.append(task)
        else:
            if seen is None:
                seen = set(ids)
            if task not in seen:
                seen.add(task)
                ids.append(task)
    return words, max_depth, ids, masks if conj and natoms == len(ids) else None


def compile_names(names, dict index, list bare, /):
    """`dependencies: [a, b, ...]`, which is `a && b && ...` of bare names, compiled without a
    parse: `(words, max_stack, ids, masks)` as `tiphys.core.dag._parse.compile_names` returns
    them. Raises KeyError(name) for the first name missing from `index` (or unhashable)."""
    cdef Py_ssize_t nbare = len(bare)
    cdef PyObject* found
    cdef long j
    cdef list words = [], ids = [], masks = []
    cdef set seen = None
    for name in names:
        found = PyDict_GetItem(index, name)  # NULL for unhashable names too (the error is cleared)
        if found == NULL:
            raise KeyError(name)
        task = <object>found
        j = task
        if j < 0 or j >= nbare:
            raise IndexError(f"task index {j} of {name!r} is outside bare ({nbare} tasks)")
        if len(ids) < 16:
            if _has(ids, j):
                continue
        else:
            if seen is None:
                seen = set(ids)
            if task in seen:
                continue
            seen.add(task)
        mask = bare[j]
        ids.append(task)
        masks.append(mask)
        words.append(task)
        words.append(mask)
        if len(ids) > 1:
            words.append(OP_AND)
    return words, min(len(ids), 2), ids, masks

