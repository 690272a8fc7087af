/*
 * tiphys emissary: the main-container wrapper.
 *
 * This is the program a workflow pod's main container runs as PID 1 in place of the user's command
 * (`/var/run/argo/argoexec emissary [flags] -- cmd args...`). It speaks Argo's emissary file
 * protocol (argo-semantics.md §6.2), so the wait side -- ours or Argo's -- sees the same files:
 *
 *   <var>/ctr/<container>/exitcode   decimal exit code, always written on exit
 *   <var>/ctr/<container>/stdout     the child's stdout (only with ARGO_INCLUDE_SCRIPT_OUTPUT=true)
 *   <var>/ctr/<container>/combined   stdout and stderr interleaved (same condition)
 *   <var>/ctr/<container>/signal     written by the wait side or the controller: a signal number to
 *                                    deliver to the child's process group; the file is then removed
 *   <var>/ctr/<container>/before|after   debug pause markers (ARGO_DEBUG_PAUSE_BEFORE/AFTER)
 *   <var>/outputs/parameters/<path>  copies of output parameter files (container `main` only)
 *   <var>/outputs/artifacts/<path>.tgz   output artifacts as tar+gzip (container `main` only)
 *
 * <var> is /var/run/argo, or $ARGO_VAR_RUN (tests). The template comes from <var>/template, else
 * $ARGO_TEMPLATE (the sentinel `offloaded` means $ARGO_CONFIG_DIR/ARGO_TEMPLATE, default
 * /argo/config). Exit code 64 means the wrapper itself failed before or while starting the
 * command; a child killed by a signal gives 137, as Argo does.
 *
 * The binary is built static so it runs in images without libc, a shell or Python. It therefore
 * carries its own small JSON reader, tar writer and gzip framing (stored deflate blocks: a valid
 * .tgz any reader accepts; the wait side recompresses before upload).
 *
 * `emissary kill SIGNAL PID` sends a signal (Argo's `argoexec kill`), for images without `kill`.
 */
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define EXIT_WRAPPER_FAILURE 64
#define EXIT_SIGNALED 137
#define MAX_INLINE_ARG (128 * 1024)

static char g_ctr_dir[PATH_MAX];
static char g_var_run[PATH_MAX];
static int g_exit_code = EXIT_WRAPPER_FAILURE;
static volatile pid_t g_child = 0;

/* ------------------------------------------------------------------------------------------------
 * small helpers
 * ---------------------------------------------------------------------------------------------- */

static void write_exit_code(void) {
    char path[PATH_MAX + 16], buf[32];
    if (!g_ctr_dir[0]) return;
    snprintf(path, sizeof path, "%s/exitcode", g_ctr_dir);
    int n = snprintf(buf, sizeof buf, "%d", g_exit_code);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return;
    if (write(fd, buf, (size_t)n) < 0) { /* nothing more we can do: the exit code still stands */ }
    close(fd);
}

/* A failure of the wrapper itself: say why on stderr, record 64 and stop. */
static void fail(const char *fmt, ...) {
    va_list ap;
    fputs("emissary: ", stderr);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    g_exit_code = EXIT_WRAPPER_FAILURE;
    write_exit_code();
    exit(EXIT_WRAPPER_FAILURE);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) fail("out of memory");
    return p;
}

static void *xrealloc(void *p, size_t n) {
    p = realloc(p, n ? n : 1);
    if (!p) fail("out of memory");
    return p;
}

static char *xstrdup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = xmalloc(n);
    memcpy(d, s, n);
    return d;
}

static int write_all(int fd, const void *buf, size_t len) {
    const char *p = buf;
    while (len > 0) {
        ssize_t w = write(fd, p, len);
        if (w < 0) {
            if (errno == EINTR) continue;
            return -1;
        }
        p += w;
        len -= (size_t)w;
    }
    return 0;
}

/* mkdir -p; the last component too. */
static int mkdirs(const char *path, mode_t mode) {
    char tmp[PATH_MAX];
    size_t len = strlen(path);
    if (len == 0 || len >= sizeof tmp) return -1;
    memcpy(tmp, path, len + 1);
    for (char *p = tmp + 1; *p; p++) {
        if (*p != '/') continue;
        *p = 0;
        if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
        *p = '/';
    }
    if (mkdir(tmp, mode) < 0 && errno != EEXIST) return -1;
    return 0;
}

static int mkdirs_parent(const char *path) {
    char tmp[PATH_MAX];
    size_t len = strlen(path);
    if (len >= sizeof tmp) return -1;
    memcpy(tmp, path, len + 1);
    char *slash = strrchr(tmp, '/');
    if (!slash || slash == tmp) return 0;
    *slash = 0;
    return mkdirs(tmp, 0777);
}

/* Read a whole file; NULL with errno set on failure. */
static char *read_file(const char *path, size_t *out_len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return NULL;
    size_t cap = 4096, len = 0;
    char *buf = xmalloc(cap + 1);
    for (;;) {
        if (len == cap) buf = xrealloc(buf, (cap *= 2) + 1);
        ssize_t r = read(fd, buf + len, cap - len);
        if (r < 0) {
            if (errno == EINTR) continue;
            int e = errno;
            free(buf);
            close(fd);
            errno = e;
            return NULL;
        }
        if (r == 0) break;
        len += (size_t)r;
    }
    close(fd);
    buf[len] = 0;
    if (out_len) *out_len = len;
    return buf;
}

static void sleep_ms(long ms) {
    struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
    while (nanosleep(&ts, &ts) < 0 && errno == EINTR) {}
}

static int file_exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

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

/* ------------------------------------------------------------------------------------------------
 * tar + gzip writer (stored deflate blocks; CRC-32 per RFC 1952)
 * ---------------------------------------------------------------------------------------------- */

static uint32_t crc_table[256];

static void crc_init(void) {
    for (uint32_t n = 0; n < 256; n++) {
        uint32_t c = n;
        for (int k = 0; k < 8; k++) c = c & 1 ? 0xEDB88320u ^ (c >> 1) : c >> 1;
        crc_table[n] = c;
    }
}

typedef struct {
    int fd;
    uint32_t crc;
    uint32_t isize;
    size_t len;
    unsigned char buf[65535];
    int error;
} gzw;

static void gz_flush_block(gzw *g, int final) {
    unsigned char hdr[5];
    hdr[0] = (unsigned char)(final ? 1 : 0); /* BFINAL, BTYPE=00 (stored) */
    hdr[1] = (unsigned char)(g->len & 0xff);
    hdr[2] = (unsigned char)(g->len >> 8);
    hdr[3] = (unsigned char)(~g->len & 0xff);
    hdr[4] = (unsigned char)((~g->len >> 8) & 0xff);
    if (write_all(g->fd, hdr, 5) < 0 || write_all(g->fd, g->buf, g->len) < 0) g->error = errno ? errno : EIO;
    g->len = 0;
}

static void gz_write(gzw *g, const void *data, size_t n) {
    const unsigned char *p = data;
    for (size_t i = 0; i < n; i++) g->crc = crc_table[(g->crc ^ p[i]) & 0xff] ^ (g->crc >> 8);
    g->isize += (uint32_t)n;
    while (n > 0) {
        size_t take = sizeof g->buf - g->len;
        if (take > n) take = n;
        memcpy(g->buf + g->len, p, take);
        g->len += take;
        p += take;
        n -= take;
        if (g->len == sizeof g->buf) gz_flush_block(g, 0);
    }
}

static void gz_open(gzw *g, int fd) {
    static const unsigned char head[10] = {0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff};
    memset(g, 0, sizeof *g);
    g->fd = fd;
    g->crc = 0xffffffffu;
    if (write_all(fd, head, sizeof head) < 0) g->error = errno;
}

static void gz_close(gzw *g) {
    gz_flush_block(g, 1);
    uint32_t crc = g->crc ^ 0xffffffffu;
    unsigned char tail[8] = {crc & 0xff, (crc >> 8) & 0xff, (crc >> 16) & 0xff, crc >> 24,
                             g->isize & 0xff, (g->isize >> 8) & 0xff, (g->isize >> 16) & 0xff, g->isize >> 24};
    if (write_all(g->fd, tail, 8) < 0) g->error = errno;
}

static void tar_octal(char *field, size_t width, unsigned long long v) {
    /* width includes the terminating NUL; base-256 for values that do not fit (GNU extension) */
    unsigned long long limit = 1;
    for (size_t i = 0; i < width - 1; i++) limit *= 8;
    if (v < limit) {
        snprintf(field, width, "%0*llo", (int)(width - 1), v);
        return;
    }
    memset(field, 0, width);
    field[0] = (char)0x80;
    for (size_t i = width - 1; i > 0 && v; i--, v >>= 8) field[i] = (char)(v & 0xff);
}

static void tar_header(gzw *g, const char *name, char type, unsigned long long size, mode_t mode,
                       time_t mtime, const char *link);

static void tar_long(gzw *g, char type, const char *value) {
    size_t n = strlen(value) + 1;
    tar_header(g, "././@LongLink", type, n, 0644, 0, NULL);
    gz_write(g, value, n);
    static const char zeros[512];
    if (n % 512) gz_write(g, zeros, 512 - n % 512);
}

static void tar_header(gzw *g, const char *name, char type, unsigned long long size, mode_t mode,
                       time_t mtime, const char *link) {
    if (strlen(name) > 100) tar_long(g, 'L', name);
    if (link && strlen(link) > 100) tar_long(g, 'K', link);
    char h[512];
    memset(h, 0, sizeof h);
    strncpy(h, name, 100);
    tar_octal(h + 100, 8, mode & 07777);
    tar_octal(h + 108, 8, 0);
    tar_octal(h + 116, 8, 0);
    tar_octal(h + 124, 12, size);
    tar_octal(h + 136, 12, mtime < 0 ? 0 : (unsigned long long)mtime);
    memset(h + 148, ' ', 8);
    h[156] = type;
    if (link) strncpy(h + 157, link, 100);
    memcpy(h + 257, "ustar  ", 8); /* GNU magic+version: long names use 'L'/'K' entries */
    unsigned sum = 0;
    for (int i = 0; i < 512; i++) sum += (unsigned char)h[i];
    snprintf(h + 148, 8, "%06o", sum);
    h[155] = ' ';
    gz_write(g, h, 512);
}

static int strcmp_ptr(const void *a, const void *b) {
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Add `path` to the archive under the entry name `name`, recursing into directories. */
static int tar_add(gzw *g, const char *path, const char *name) {
    struct stat st;
    if (lstat(path, &st) < 0) return -1;
    if (S_ISDIR(st.st_mode)) {
        char dname[PATH_MAX + 2];
        snprintf(dname, sizeof dname, "%s/", name);
        tar_header(g, dname, '5', 0, st.st_mode, st.st_mtime, NULL);
        DIR *d = opendir(path);
        if (!d) return -1;
        /* sorted entries: archives are reproducible for the same tree */
        char **names = NULL;
        size_t n = 0, cap = 0;
        struct dirent *e;
        while ((e = readdir(d))) {
            if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
            if (n == cap) names = xrealloc(names, (cap = cap ? cap * 2 : 16) * sizeof *names);
            names[n++] = xstrdup(e->d_name);
        }
        closedir(d);
        qsort(names, n, sizeof *names, strcmp_ptr);
        int rc = 0;
        for (size_t i = 0; i < n; i++) {
            char cpath[PATH_MAX], cname[PATH_MAX];
            snprintf(cpath, sizeof cpath, "%s/%s", path, names[i]);
            snprintf(cname, sizeof cname, "%s/%s", name, names[i]);
            if (tar_add(g, cpath, cname) < 0) rc = -1;
            free(names[i]);
        }
        free(names);
        return rc;
    }
    if (S_ISLNK(st.st_mode)) {
        char target[PATH_MAX];
        ssize_t n = readlink(path, target, sizeof target - 1);
        if (n < 0) return -1;
        target[n] = 0;
        tar_header(g, name, '2', 0, st.st_mode, st.st_mtime, target);
        return 0;
    }
    if (!S_ISREG(st.st_mode)) return 0; /* sockets, fifos, devices: not artifact content */
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return -1;
    tar_header(g, name, '0', (unsigned long long)st.st_size, st.st_mode, st.st_mtime, NULL);
    char buf[65536];
    unsigned long long left = (unsigned long long)st.st_size;
    while (left > 0) {
        ssize_t r = read(fd, buf, left < sizeof buf ? left : sizeof buf);
        if (r < 0 && errno == EINTR) continue;
        if (r <= 0) { /* file shrank while archiving: pad to the size the header promised */
            memset(buf, 0, sizeof buf);
            r = (ssize_t)(left < sizeof buf ? left : sizeof buf);
        }
        gz_write(g, buf, (size_t)r);
        left -= (unsigned long long)r;
    }
    close(fd);
    static const char zeros[512];
    if (st.st_size % 512) gz_write(g, zeros, 512 - (size_t)(st.st_size % 512));
    return 0;
}

/* ------------------------------------------------------------------------------------------------
 * outputs: copy parameter files and archive artifacts for the wait side (container `main` only)
 * ---------------------------------------------------------------------------------------------- */

/* True when `path` lies on one of the volume mounts in `mounts` (a JSON array of volumeMounts):
 * the wait side reads such paths through /mainctrfs, so they are not copied. */
static int on_mounts(const char *path, const jval *mounts) {
    if (!mounts || mounts->type != J_ARR) return 0;
    for (size_t i = 0; i < mounts->n; i++) {
        const char *mp = jstr(jget(mounts->kids[i], "mountPath"));
        if (!mp) continue;
        size_t n = strlen(mp);
        while (n > 1 && mp[n - 1] == '/') n--;
        if (strncmp(path, mp, n) == 0 && (path[n] == 0 || path[n] == '/')) return 1;
    }
    return 0;
}

static int on_volume(const char *path, const jval *tmpl, const char *ctr) {
    const jval *cs = jget(tmpl, "containerSet");
    if (on_mounts(path, jget(jget(tmpl, "container"), "volumeMounts"))) return 1;
    if (on_mounts(path, jget(jget(tmpl, "script"), "volumeMounts"))) return 1;
    if (on_mounts(path, jget(cs, "volumeMounts"))) return 1;
    const jval *ctrs = jget(cs, "containers");
    for (size_t i = 0; ctrs && ctrs->type == J_ARR && i < ctrs->n; i++) {
        const char *name = jstr(jget(ctrs->kids[i], "name"));
        if (name && strcmp(name, ctr) == 0 && on_mounts(path, jget(ctrs->kids[i], "volumeMounts"))) return 1;
    }
    return 0;
}

/* Declared paths are absolute container paths; `..` would let a template write outside <var>. */
static int unsafe_path(const char *path) {
    if (path[0] != '/') return 1;
    for (const char *p = path; (p = strstr(p, "..")); p += 2)
        if ((p == path || p[-1] == '/') && (p[2] == 0 || p[2] == '/')) return 1;
    return 0;
}

static int copy_file(const char *src, const char *dst) {
    int in = open(src, O_RDONLY | O_CLOEXEC);
    if (in < 0) return -1;
    if (mkdirs_parent(dst) < 0) { close(in); return -1; }
    int out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (out < 0) { close(in); return -1; }
    char buf[65536];
    ssize_t r;
    int rc = 0;
    while ((r = read(in, buf, sizeof buf)) != 0) {
        if (r < 0) { if (errno == EINTR) continue; rc = -1; break; }
        if (write_all(out, buf, (size_t)r) < 0) { rc = -1; break; }
    }
    close(in);
    if (close(out) < 0) rc = -1;
    return rc;
}

static int archive_to(const char *src, const char *dst) {
    if (mkdirs_parent(dst) < 0) return -1;
    char tmp[PATH_MAX + 8];
    snprintf(tmp, sizeof tmp, "%s.part", dst);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return -1;
    gzw *g = xmalloc(sizeof *g);
    gz_open(g, fd);
    const char *base = strrchr(src, '/');
    base = base && base[1] ? base + 1 : src;
    int rc = tar_add(g, src, base);
    static const char zeros[1024]; /* end-of-archive marker: two zero blocks */
    gz_write(g, zeros, sizeof zeros);
    gz_close(g);
    if (g->error) rc = -1;
    free(g);
    if (close(fd) < 0) rc = -1;
    /* rename last: the wait side never sees a half-written archive */
    if (rc == 0 && rename(tmp, dst) < 0) rc = -1;
    if (rc < 0) unlink(tmp);
    return rc;
}

static void copy_outputs(const jval *tmpl, const char *ctr) {
    const jval *outputs = jget(tmpl, "outputs");
    const jval *params = jget(outputs, "parameters");
    for (size_t i = 0; params && params->type == J_ARR && i < params->n; i++) {
        const char *path = jstr(jget(jget(params->kids[i], "valueFrom"), "path"));
        if (!path || on_volume(path, tmpl, ctr)) continue;
        if (unsafe_path(path)) {
            fprintf(stderr, "emissary: output parameter path %s is not a clean absolute path; not copied\n", path);
            continue;
        }
        char dst[PATH_MAX];
        snprintf(dst, sizeof dst, "%s/outputs/parameters%s", g_var_run, path);
        /* a missing file is judged by the wait side (default value or error) */
        if (copy_file(path, dst) < 0 && errno != ENOENT)
            fprintf(stderr, "emissary: cannot copy output parameter %s: %s\n", path, strerror(errno));
    }
    const jval *arts = jget(outputs, "artifacts");
    for (size_t i = 0; arts && arts->type == J_ARR && i < arts->n; i++) {
        const char *path = jstr(jget(arts->kids[i], "path"));
        if (!path || on_volume(path, tmpl, ctr)) continue;
        if (unsafe_path(path)) {
            fprintf(stderr, "emissary: output artifact path %s is not a clean absolute path; not copied\n", path);
            continue;
        }
        struct stat st;
        if (lstat(path, &st) < 0) continue; /* missing: optional or an error, the wait side decides */
        char dst[PATH_MAX];
        snprintf(dst, sizeof dst, "%s/outputs/artifacts%s.tgz", g_var_run, path);
        if (archive_to(path, dst) < 0)
            fprintf(stderr, "emissary: cannot archive output artifact %s: %s\n", path, strerror(errno));
    }
}

/* ------------------------------------------------------------------------------------------------
 * signals
 * ---------------------------------------------------------------------------------------------- */

static volatile sig_atomic_t g_pending[65];

static void forward_signal(int sig) {
    pid_t child = g_child;
    if (child > 0) kill(-child, sig); /* the child leads its own process group */
    else if (sig > 0 && sig < 65) g_pending[sig] = 1;
}

static void on_sigchld(int sig) { (void)sig; /* only wakes poll() */ }

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = forward_signal;
    for (int s = 1; s < 32; s++) {
        if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD || s == SIGPIPE) continue;
        sigaction(s, &sa, NULL);
    }
    sa.sa_handler = on_sigchld;
    sigaction(SIGCHLD, &sa, NULL);
    signal(SIGPIPE, SIG_IGN); /* a closed stdout must not kill the wrapper before it writes exitcode */
}

/* The wait side (or a controller) asks for a signal by writing its number to ctr/<name>/signal. */
static void check_signal_file(void) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/signal", g_ctr_dir);
    char *data = read_file(path, NULL);
    if (!data) return;
    unlink(path);
    int sig = atoi(data);
    free(data);
    if (sig > 0 && sig < 65) forward_signal(sig);
}

/* ------------------------------------------------------------------------------------------------
 * running the command
 * ---------------------------------------------------------------------------------------------- */

typedef struct {
    int fd;       /* read end of the child's pipe, -1 once closed */
    int echo_fd;  /* our own stdout/stderr */
    int file_fd;  /* ctr/<name>/stdout, or -1 */
} stream;

static int open_log(const char *name) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/%s", g_ctr_dir, name);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0644);
    if (fd < 0) fail("cannot create %s: %s", path, strerror(errno));
    return fd;
}

/* Pump one readable pipe; returns 0 at EOF. */
static int pump(stream *s, int combined_fd) {
    char buf[65536];
    ssize_t r = read(s->fd, buf, sizeof buf);
    if (r < 0) return errno == EINTR || errno == EAGAIN;
    if (r == 0) return 0;
    /* a closed stdout of our own must not stop the capture the wait side relies on */
    (void)write_all(s->echo_fd, buf, (size_t)r);
    if (s->file_fd >= 0 && write_all(s->file_fd, buf, (size_t)r) < 0) fail("cannot write stdout file: %s", strerror(errno));
    if (write_all(combined_fd, buf, (size_t)r) < 0) fail("cannot write combined file: %s", strerror(errno));
    return 1;
}

/* Run argv once; returns the exit code Argo reports for it. */
static int run_once(char **argv, int tee) {
    int out[2] = {-1, -1}, err[2] = {-1, -1}, status_pipe[2];
    if (tee && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) fail("pipe: %s", strerror(errno));
    if (pipe2(status_pipe, O_CLOEXEC) < 0) fail("pipe: %s", strerror(errno));
    sigset_t all, old;
    sigfillset(&all);
    sigprocmask(SIG_BLOCK, &all, &old); /* no handler may run in the child between fork and exec */
    pid_t pid = fork();
    if (pid < 0) fail("fork: %s", strerror(errno));
    if (pid == 0) {
        struct sigaction dfl;
        memset(&dfl, 0, sizeof dfl);
        dfl.sa_handler = SIG_DFL;
        for (int s = 1; s < 32; s++) if (s != SIGKILL && s != SIGSTOP) sigaction(s, &dfl, NULL);
        sigprocmask(SIG_SETMASK, &old, NULL);
        setpgid(0, 0);
        if (tee) { dup2(out[1], 1); dup2(err[1], 2); }
        execvp(argv[0], argv);
        int e = errno;
        if (write(status_pipe[1], &e, sizeof e) < 0) { /* the parent then sees EOF and a 127 exit */ }
        _exit(127);
    }
    setpgid(pid, pid); /* also from the parent: no window where a forwarded signal misses the group */
    g_child = pid;
    sigprocmask(SIG_SETMASK, &old, NULL);
    close(status_pipe[1]);
    int exec_errno = 0;
    ssize_t r;
    while ((r = read(status_pipe[0], &exec_errno, sizeof exec_errno)) < 0 && errno == EINTR) {}
    close(status_pipe[0]);
    if (r == (ssize_t)sizeof exec_errno) {
        waitpid(pid, NULL, 0);
        g_child = 0;
        fail("failed to start command \"%s\": %s", argv[0], strerror(exec_errno));
    }
    for (int s = 1; s < 65; s++)
        if (g_pending[s]) { g_pending[s] = 0; kill(-pid, s); }

    stream streams[2];
    int nstreams = 0, combined_fd = -1;
    if (tee) {
        close(out[1]);
        close(err[1]);
        combined_fd = open_log("combined");
        streams[0] = (stream){out[0], 1, open_log("stdout")};
        streams[1] = (stream){err[0], 2, -1};
        nstreams = 2;
    }
    int status = 0, exited = 0;
    for (;;) {
        struct pollfd fds[2];
        int map[2], n = 0;
        for (int i = 0; i < nstreams; i++)
            if (streams[i].fd >= 0) { fds[n] = (struct pollfd){streams[i].fd, POLLIN, 0}; map[n++] = i; }
        if (exited && n == 0) break;
        int ready = poll(fds, (nfds_t)n, 100);
        for (int k = 0; ready > 0 && k < n; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            stream *s = &streams[map[k]];
            if (!pump(s, combined_fd)) { close(s->fd); s->fd = -1; }
        }
        check_signal_file();
        if (!exited) {
            pid_t w = waitpid(pid, &status, WNOHANG);
            if (w == pid) exited = 1;
        } else if (ready == 0) {
            /* The child is gone but a grandchild it left behind still holds the pipe open:
             * stop reading once it has been quiet for a poll interval. */
            break;
        }
    }
    g_child = 0;
    for (int i = 0; i < nstreams; i++) {
        if (streams[i].fd >= 0) close(streams[i].fd);
        if (streams[i].file_fd >= 0) close(streams[i].file_fd);
    }
    if (combined_fd >= 0) close(combined_fd);
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    return EXIT_SIGNALED; /* Argo: a signalled child reports 137 whatever the signal */
}

/* Go duration subset (`300ms`, `10s`, `1m30s`, `2h`) for containerSet retryStrategy.duration. */
static long parse_duration_ms(const char *s) {
    double total = 0;
    while (*s) {
        char *end;
        double v = strtod(s, &end);
        if (end == s) return -1;
        s = end;
        double unit;
        if (strncmp(s, "ms", 2) == 0) { unit = 1; s += 2; }
        else if (strncmp(s, "us", 2) == 0) { unit = 0.001; s += 2; }
        else if (strncmp(s, "ns", 2) == 0) { unit = 0.000001; s += 2; }
        else if (*s == 's') { unit = 1000; s++; }
        else if (*s == 'm') { unit = 60000; s++; }
        else if (*s == 'h') { unit = 3600000; s++; }
        else return -1;
        total += v * unit;
    }
    return (long)total;
}

static void wait_for_file(const char *path) {
    while (!file_exists(path)) sleep_ms(200);
}

static int env_true(const char *name) {
    const char *v = getenv(name);
    return v && strcmp(v, "true") == 0;
}

static jval *load_template(void) {
    char path[PATH_MAX + 16];
    snprintf(path, sizeof path, "%s/template", g_var_run);
    size_t len = 0;
    char *data = read_file(path, &len);
    const char *what = path;
    if (!data && errno != ENOENT) fail("cannot read %s: %s", path, strerror(errno));
    if (!data) {
        const char *env = getenv("ARGO_TEMPLATE");
        if (env && strcmp(env, "offloaded") == 0) {
            const char *dir = getenv("ARGO_CONFIG_DIR");
            snprintf(path, sizeof path, "%s/ARGO_TEMPLATE", dir && *dir ? dir : "/argo/config");
            data = read_file(path, &len);
            if (!data) fail("cannot read offloaded template %s: %s", path, strerror(errno));
        } else {
            if (!env || !*env) fail("no template: %s/template is missing and ARGO_TEMPLATE is empty", g_var_run);
            data = xstrdup(env);
            len = strlen(data);
            what = "ARGO_TEMPLATE";
        }
    }
    jval *t = jparse(data, len, what);
    if (t->type != J_OBJ) fail("%s: the template is not a JSON object", what);
    return t;
}

/* Append ARGO_CONTAINER_ARGS_FILE's JSON array to argv; oversize args go through `@file`. */
static char **append_args_file(char **argv, int *argc) {
    const char *path = getenv("ARGO_CONTAINER_ARGS_FILE");
    if (!path || !*path) return argv;
    size_t len;
    char *data = read_file(path, &len);
    if (!data) fail("cannot read ARGO_CONTAINER_ARGS_FILE %s: %s", path, strerror(errno));
    jval *arr = jparse(data, len, path);
    if (arr->type != J_ARR) fail("%s: expected a JSON array of strings", path);
    char **out = xmalloc((size_t)(*argc + (int)arr->n + 1) * sizeof *out);
    memcpy(out, argv, (size_t)*argc * sizeof *out);
    for (size_t i = 0; i < arr->n; i++) {
        const char *a = jstr(arr->kids[i]);
        if (!a) fail("%s: element %zu is not a string", path, i);
        if (strlen(a) > MAX_INLINE_ARG) {
            const char *tmpdir = getenv("TMPDIR");
            char tmpl[PATH_MAX];
            snprintf(tmpl, sizeof tmpl, "%s/argo-arg-XXXXXX", tmpdir && *tmpdir ? tmpdir : "/tmp");
            int fd = mkstemp(tmpl);
            if (fd < 0 || write_all(fd, a, strlen(a)) < 0) fail("cannot write long argument to %s: %s", tmpl, strerror(errno));
            close(fd);
            char *ref = xmalloc(strlen(tmpl) + 2);
            sprintf(ref, "@%s", tmpl);
            out[(*argc)++] = ref;
        } else {
            out[(*argc)++] = (char *)a;
        }
    }
    out[*argc] = NULL;
    return out;
}

static int cmd_kill(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: emissary kill SIGNAL PID\n");
        return EXIT_WRAPPER_FAILURE;
    }
    char *e1, *e2;
    long sig = strtol(argv[2], &e1, 10), pid = strtol(argv[3], &e2, 10);
    if (*e1 || *e2 || sig < 0 || sig > 64) {
        fprintf(stderr, "emissary kill: bad signal or pid: %s %s\n", argv[2], argv[3]);
        return EXIT_WRAPPER_FAILURE;
    }
    if (kill((pid_t)pid, (int)sig) < 0) {
        fprintf(stderr, "emissary kill: %s\n", strerror(errno));
        return 1;
    }
    return 0;
}

int main(int argc, char **argv) {
    if (argc > 1 && strcmp(argv[1], "kill") == 0) return cmd_kill(argc, argv);
    crc_init();
    install_signals();

    const char *var = getenv("ARGO_VAR_RUN");
    snprintf(g_var_run, sizeof g_var_run, "%s", var && *var ? var : "/var/run/argo");
    const char *ctr = getenv("ARGO_CONTAINER_NAME");
    if (!ctr || !*ctr) ctr = "main";
    if (strchr(ctr, '/') || strcmp(ctr, "..") == 0 || strcmp(ctr, ".") == 0) {
        fprintf(stderr, "emissary: bad ARGO_CONTAINER_NAME %s\n", ctr);
        return EXIT_WRAPPER_FAILURE;
    }
    char dir[PATH_MAX];
    snprintf(dir, sizeof dir, "%s/ctr/%s", g_var_run, ctr);
    if (mkdirs(dir, 0777) < 0) {
        fprintf(stderr, "emissary: cannot create %s: %s\n", dir, strerror(errno));
        return EXIT_WRAPPER_FAILURE;
    }
    chmod(dir, 0777); /* every container of the pod writes here, whatever its user */
    snprintf(g_ctr_dir, sizeof g_ctr_dir, "%s", dir);

    /* The command follows `--`; flags before it (Argo's --loglevel, --log-format) are ignored. */
    int start = 1;
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--") == 0) { start = i + 1; break; }
    int cargc = argc - start;
    char **cargv = xmalloc((size_t)(cargc + 1) * sizeof *cargv);
    memcpy(cargv, argv + start, (size_t)cargc * sizeof *cargv);
    cargv[cargc] = NULL;
    cargv = append_args_file(cargv, &cargc);
    if (cargc == 0) fail("no command given (expected: emissary [flags] -- command [args...])");

    jval *tmpl = load_template();

    /* containerSet: wait for each dependency; a failed dependency fails this container unrun. */
    const jval *ctrs = jget(jget(tmpl, "containerSet"), "containers");
    for (size_t i = 0; ctrs && ctrs->type == J_ARR && i < ctrs->n; i++) {
        const char *name = jstr(jget(ctrs->kids[i], "name"));
        if (!name || strcmp(name, ctr) != 0) continue;
        const jval *deps = jget(ctrs->kids[i], "dependencies");
        for (size_t d = 0; deps && deps->type == J_ARR && d < deps->n; d++) {
            const char *dep = jstr(deps->kids[d]);
            if (!dep || strchr(dep, '/')) fail("bad containerSet dependency name");
            char path[PATH_MAX + 300];
            snprintf(path, sizeof path, "%s/ctr/%s/exitcode", g_var_run, dep);
            char *data;
            while (!(data = read_file(path, NULL)) || !*data) { free(data); sleep_ms(200); }
            int code = atoi(data);
            free(data);
            if (code != 0) {
                /* §6.2.5 of our reference: exit with the dependency's code (not 64) */
                fprintf(stderr, "emissary: dependency %s exited with code %d; not running %s\n", dep, code, ctr);
                g_exit_code = code;
                write_exit_code();
                return code;
            }
        }
    }

    char marker[PATH_MAX + 16];
    if (env_true("ARGO_DEBUG_PAUSE_BEFORE")) {
        snprintf(marker, sizeof marker, "%s/before", g_ctr_dir);
        wait_for_file(marker);
    }

    /* containerSet retryStrategy: rerun in place on failure, `duration` apart. */
    long retries = 0, delay_ms = 0;
    const jval *rs = jget(jget(tmpl, "containerSet"), "retryStrategy");
    if (rs) {
        const jval *r = jget(rs, "retries");
        if (r && (r->type == J_NUM || r->type == J_STR)) retries = atol(r->str);
        const char *d = jstr(jget(rs, "duration"));
        if (d && (delay_ms = parse_duration_ms(d)) < 0) fail("containerSet.retryStrategy.duration: bad duration %s", d);
    }
    int tee = env_true("ARGO_INCLUDE_SCRIPT_OUTPUT");
    int code = run_once(cargv, tee);
    for (long attempt = 0; code != 0 && attempt < retries; attempt++) {
        sleep_ms(delay_ms);
        code = run_once(cargv, tee);
    }
    g_exit_code = code;

    if (env_true("ARGO_DEBUG_PAUSE_AFTER")) {
        snprintf(marker, sizeof marker, "%s/after", g_ctr_dir);
        wait_for_file(marker);
    }
    if (strcmp(ctr, "main") == 0) copy_outputs(tmpl, ctr);
    write_exit_code(); /* last: the wait side reads outputs once it sees this file */
    return g_exit_code;
}
