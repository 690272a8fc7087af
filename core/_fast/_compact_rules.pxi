# Text rules of `_compact` (included): timestamps, derived display names, name prefixes —
# `_compact_layout.epoch`, `ids.display_name` and `_compact_encode._common_prefix` in C.


cdef int epoch_c(object text, long long* out) except -2:
    """`_compact_layout.epoch`: 1 and the seconds of a canonical `YYYY-MM-DDTHH:MM:SSZ` in
    `out`, 0 for anything else, -1 for a str subclass (the builtins conversion makes it a str)."""
    cdef Py_ssize_t n
    cdef const char* s
    cdef int k, year, month, day, hour, minute, second, mdays
    cdef long long days, y, era, yoe, doy, doe, mp
    if type(text) is not str:
        return -1 if isinstance(text, str) else 0
    s = PyUnicode_AsUTF8AndSize(text, &n)
    if n != 20 or s[4] != b'-' or s[7] != b'-' or s[10] != b'T' or s[13] != b':' or s[16] != b':' or s[19] != b'Z':
        return 0
    for k in range(19):
        # every position but the separators 4, 7, 10, 13, 16 holds a digit
        if k != 4 and k != 7 and k != 10 and k != 13 and k != 16 and not (48 <= s[k] <= 57):
            return 0
    year = (s[0] - 48) * 1000 + (s[1] - 48) * 100 + (s[2] - 48) * 10 + (s[3] - 48)
    month = (s[5] - 48) * 10 + (s[6] - 48)
    day = (s[8] - 48) * 10 + (s[9] - 48)
    hour = (s[11] - 48) * 10 + (s[12] - 48)
    minute = (s[14] - 48) * 10 + (s[15] - 48)
    second = (s[17] - 48) * 10 + (s[18] - 48)
    # strftime writes years < 1000 unpadded, so the reference's round-trip check refuses them.
    if year < 1000 or month < 1 or month > 12 or hour > 23 or minute > 59 or second > 59:
        return 0
    mdays = _MDAYS[month - 1]
    if month == 2 and (year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)):
        mdays = 29
    if day < 1 or day > mdays:
        return 0
    # days_from_civil (H. Hinnant), proleptic Gregorian, as timegm.
    y = year - (1 if month <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    mp = month - 3 if month > 2 else month + 9
    doy = (153 * mp + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468
    out[0] = days * 86400 + hour * 3600 + minute * 60 + second
    return 1


cdef int[12] _MDAYS = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31]


cdef Py_ssize_t display_start(str name, object boundary_name):
    """Where `ids.display_name(name, boundary_name)` starts in `name` (0: the full name)."""
    cdef Py_ssize_t nb, nn, close, k
    cdef Py_UCS4 c
    if boundary_name is None or type(boundary_name) is not str or not boundary_name:
        return 0
    if not name.startswith(<str>boundary_name):
        return 0
    nb = len(<str>boundary_name)
    nn = len(name)
    if nb >= nn:
        return 0
    c = name[nb]
    if c == u'.':
        return 0 if nb + 1 == nn else nb + 1
    if c == u'[':
        close = name.find(u"]", nb)
        if close > nb + 1 and close + 1 < nn and name[close + 1] == u'.':
            for k in range(nb + 1, close):
                if not (u'0' <= name[k] <= u'9'):
                    return nb
            return 0 if close + 2 == nn else close + 2
    return nb


cdef Py_ssize_t common_prefix(str a, str b):
    cdef Py_ssize_t n = min(len(a), len(b))
    cdef Py_ssize_t i
    cdef const char* x
    cdef const char* y
    if PyUnicode_IS_ASCII(a) and PyUnicode_IS_ASCII(b):
        x = <const char*>PyUnicode_DATA(a)
        y = <const char*>PyUnicode_DATA(b)
        for i in range(n):
            if x[i] != y[i]:
                return i
        return n
    for i in range(n):
        if a[i] != b[i]:
            return i
    return n


cdef bint shown_matches(str name, str shown, object boundary_name):
    """`shown == ids.display_name(name, boundary_name)`, without building the display name."""
    cdef Py_ssize_t start = display_start(name, boundary_name)
    if len(shown) != len(name) - start:
        return False
    return name.endswith(shown) if start else shown == name
