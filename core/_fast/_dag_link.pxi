# Included by _dag.pyx: compile-time graph linking in C (tiphys.core.dag._link is the Python twin).


def link(int n, array pred_off, array pred, array pmask):
    """(succ_off, succ, succ_mask, topo) from predecessor CSR arrays; see tiphys.core.dag._link.
    `topo` is shorter than n when the graph has a cycle."""
    cdef Py_ssize_t m = len(pred)
    cdef const int* poff = _ints(pred_off, "pred_off", n + 1)
    cdef const int* p = _ints(pred, "pred", m)
    cdef const int* pm = _ints(pmask, "pmask", m)
    cdef array succ_off = array("i", [0]) * (n + 1)
    cdef array succ = array("i", [0]) * m
    cdef array smask = array("i", [0]) * m
    cdef array topo = array("i", [0]) * n
    cdef int* so = succ_off.data.as_ints
    cdef int* s = succ.data.as_ints if m else NULL
    cdef int* sm = smask.data.as_ints if m else NULL
    cdef int* order = topo.data.as_ints if n else NULL
    cdef int* fill = <int*>PyMem_Malloc((n + 1) * sizeof(int))
    cdef int i, j, k, at, t, head = 0, tail = 0
    if fill == NULL:
        raise MemoryError()
    try:
        if poff[n] != m:
            raise ValueError(f"pred_off[-1] = {poff[n]} but there are {m} edges")
        for k in range(m):
            j = p[k]
            if j < 0 or j >= n:
                raise ValueError(f"dependency {j} out of range (0..{n - 1})")
            so[j + 1] += 1
        for i in range(n):
            so[i + 1] += so[i]
        for i in range(n):
            fill[i] = so[i]
        for i in range(n):
            for k in range(poff[i], poff[i + 1]):
                j = p[k]
                at = fill[j]
                s[at] = i
                sm[at] = pm[k]
                fill[j] = at + 1
        # Kahn, ties by index; `fill` now counts unmet dependencies.
        for i in range(n):
            fill[i] = poff[i + 1] - poff[i]
            if fill[i] == 0:
                order[tail] = i
                tail += 1
        while head < tail:
            t = order[head]
            head += 1
            for k in range(so[t], so[t + 1]):
                j = s[k]
                fill[j] -= 1
                if fill[j] == 0:
                    order[tail] = j
                    tail += 1
    finally:
        PyMem_Free(fill)
    if tail < n:
        del topo[tail:]
    return succ_off, succ, smask, topo
