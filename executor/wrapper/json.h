/*
 * A minimal JSON reader for the template and the args file (a small DOM; \u escapes to UTF-8).
 * Part of the emissary wrapper: included once by emissary.c (one translation unit, so the static
 * binary needs no build system beyond `cc emissary.c`).
 */
#ifndef TIPHYS_JSON_H
#define TIPHYS_JSON_H

/* ------------------------------------------------------------------------------------------------
 * a minimal JSON reader (the template and the args file are JSON)
 * ---------------------------------------------------------------------------------------------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } jtype;

typedef struct jval {
    jtype type;
    char *str;           /* J_STR value, J_NUM/J_BOOL text */
    size_t n;            /* children count for J_ARR/J_OBJ */
    char **keys;         /* J_OBJ keys */
    struct jval **kids;  /* J_ARR/J_OBJ children */
} jval;

typedef struct {
    const char *start, *p, *end;
    const char *what; /* the document's name, for error messages */
} jparser;

static void jfail(jparser *jp, const char *msg) {
    fail("%s: invalid JSON at byte %ld: %s", jp->what, (long)(jp->p - jp->start), msg);
}

static void jskip(jparser *jp) {
    while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' || *jp->p == '\r')) jp->p++;
}

static void put_utf8(char **buf, size_t *len, size_t *cap, uint32_t cp) {
    char tmp[4];
    size_t n;
    if (cp < 0x80) { tmp[0] = (char)cp; n = 1; }
    else if (cp < 0x800) { tmp[0] = (char)(0xC0 | (cp >> 6)); tmp[1] = (char)(0x80 | (cp & 0x3F)); n = 2; }
    else if (cp < 0x10000) {
        tmp[0] = (char)(0xE0 | (cp >> 12)); tmp[1] = (char)(0x80 | ((cp >> 6) & 0x3F));
        tmp[2] = (char)(0x80 | (cp & 0x3F)); n = 3;
    } else {
        tmp[0] = (char)(0xF0 | (cp >> 18)); tmp[1] = (char)(0x80 | ((cp >> 12) & 0x3F));
        tmp[2] = (char)(0x80 | ((cp >> 6) & 0x3F)); tmp[3] = (char)(0x80 | (cp & 0x3F)); n = 4;
    }
    while (*len + n + 1 > *cap) *buf = xrealloc(*buf, *cap *= 2);
    memcpy(*buf + *len, tmp, n);
    *len += n;
}

static int hexval(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

static uint32_t jhex4(jparser *jp) {
    if (jp->end - jp->p < 4) jfail(jp, "short \\u escape");
    uint32_t v = 0;
    for (int i = 0; i < 4; i++) {
        int h = hexval(jp->p[i]);
        if (h < 0) jfail(jp, "bad \\u escape");
        v = (v << 4) | (uint32_t)h;
    }
    jp->p += 4;
    return v;
}

static char *jstring(jparser *jp) {
    if (jp->p >= jp->end || *jp->p != '"') jfail(jp, "expected a string");
    jp->p++;
    size_t cap = 32, len = 0;
    char *buf = xmalloc(cap);
    for (;;) {
        if (jp->p >= jp->end) jfail(jp, "unterminated string");
        char c = *jp->p++;
        if (c == '"') break;
        if (c == '\\') {
            if (jp->p >= jp->end) jfail(jp, "unterminated escape");
            char e = *jp->p++;
            uint32_t cp;
            switch (e) {
                case '"': cp = '"'; break;
                case '\\': cp = '\\'; break;
                case '/': cp = '/'; break;
                case 'b': cp = '\b'; break;
                case 'f': cp = '\f'; break;
                case 'n': cp = '\n'; break;
                case 'r': cp = '\r'; break;
                case 't': cp = '\t'; break;
                case 'u':
                    cp = jhex4(jp);
                    if (cp >= 0xD800 && cp < 0xDC00 && jp->end - jp->p >= 6 && jp->p[0] == '\\' && jp->p[1] == 'u') {
                        jp->p += 2;
                        uint32_t lo = jhex4(jp);
                        if (lo >= 0xDC00 && lo < 0xE000) cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        else jfail(jp, "unpaired surrogate");
                    }
                    break;
                default: jfail(jp, "bad escape");
            }
            put_utf8(&buf, &len, &cap, cp);
            continue;
        }
        if (len + 2 > cap) buf = xrealloc(buf, cap *= 2);
        buf[len++] = c;
    }
    buf[len] = 0;
    return buf;
}

static jval *jnew(jtype t) {
    jval *v = xmalloc(sizeof *v);
    memset(v, 0, sizeof *v);
    v->type = t;
    return v;
}

static jval *jvalue(jparser *jp, int depth) {
    if (depth > 200) jfail(jp, "nested too deeply");
    jskip(jp);
    if (jp->p >= jp->end) jfail(jp, "unexpected end");
    char c = *jp->p;
    if (c == '"') {
        jval *v = jnew(J_STR);
        v->str = jstring(jp);
        return v;
    }
    if (c == '{' || c == '[') {
        int obj = c == '{';
        jval *v = jnew(obj ? J_OBJ : J_ARR);
        size_t cap = 0;
        jp->p++;
        jskip(jp);
        if (jp->p < jp->end && *jp->p == (obj ? '}' : ']')) { jp->p++; return v; }
        for (;;) {
            jskip(jp);
            char *key = NULL;
            if (obj) {
                key = jstring(jp);
                jskip(jp);
                if (jp->p >= jp->end || *jp->p != ':') jfail(jp, "expected ':'");
                jp->p++;
            }
            jval *kid = jvalue(jp, depth + 1);
            if (v->n == cap) {
                cap = cap ? cap * 2 : 8;
                v->kids = xrealloc(v->kids, cap * sizeof *v->kids);
                if (obj) v->keys = xrealloc(v->keys, cap * sizeof *v->keys);
            }
            if (obj) v->keys[v->n] = key;
            v->kids[v->n++] = kid;
            jskip(jp);
            if (jp->p < jp->end && *jp->p == ',') { jp->p++; continue; }
            if (jp->p < jp->end && *jp->p == (obj ? '}' : ']')) { jp->p++; return v; }
            jfail(jp, obj ? "expected ',' or '}'" : "expected ',' or ']'");
        }
    }
    const char *start = jp->p;
    while (jp->p < jp->end && strchr(",}] \t\r\n", *jp->p) == NULL) jp->p++;
    size_t n = (size_t)(jp->p - start);
    jval *v;
    if (n == 4 && memcmp(start, "null", 4) == 0) v = jnew(J_NULL);
    else if ((n == 4 && memcmp(start, "true", 4) == 0) || (n == 5 && memcmp(start, "false", 5) == 0)) v = jnew(J_BOOL);
    else if (n > 0 && (start[0] == '-' || (start[0] >= '0' && start[0] <= '9'))) v = jnew(J_NUM);
    else jfail(jp, "unexpected token");
    v->str = xmalloc(n + 1);
    memcpy(v->str, start, n);
    v->str[n] = 0;
    return v;
}

static jval *jparse(const char *text, size_t len, const char *what) {
    jparser jp = {text, text, text + len, what};
    jval *v = jvalue(&jp, 0);
    jskip(&jp);
    if (jp.p != jp.end) jfail(&jp, "trailing data");
    return v;
}

static jval *jget(const jval *obj, const char *key) {
    if (!obj || obj->type != J_OBJ) return NULL;
    for (size_t i = 0; i < obj->n; i++)
        if (strcmp(obj->keys[i], key) == 0) return obj->kids[i];
    return NULL;
}

static const char *jstr(const jval *v) { return v && v->type == J_STR ? v->str : NULL; }

#endif
