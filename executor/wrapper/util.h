/*
 * Shared state and small helpers: failing with exit code 64, allocation, files.
 * Part of the emissary wrapper: included once by emissary.c (one translation unit, so the static
 * binary needs no build system beyond `cc emissary.c`).
 */
#ifndef TIPHYS_UTIL_H
#define TIPHYS_UTIL_H

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

#endif
