/*
 * A tar writer (GNU long names, base-256 sizes) inside gzip framing of stored deflate blocks.
 * Part of the emissary wrapper: included once by emissary.c (one translation unit, so the static
 * binary needs no build system beyond `cc emissary.c`).
 */
#ifndef TIPHYS_TARGZ_H
#define TIPHYS_TARGZ_H

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

/* Paths the node agent bound into the container for its own programs (TIPHYS_ARCHIVE_SKIP,
 * colon-separated): its Python and tiphys, when they live under a directory the container gets
 * privately (a checkout under /tmp). Not the container's content: never archived. 2 = such a
 * path, 1 = a directory on the way to one (made only as its mount point), 0 = neither. */
static int skip_kind(const char *path) {
    const char *skip = getenv("TIPHYS_ARCHIVE_SKIP");
    size_t n = strlen(path);
    int kind = 0;
    for (const char *p = skip ? skip : ""; *p;) {
        const char *end = strchr(p, ':');
        size_t len = end ? (size_t)(end - p) : strlen(p);
        if (len == n && strncmp(p, path, n) == 0) return 2;
        if (len > n && strncmp(p, path, n) == 0 && p[n] == '/') kind = 1;
        p += len;
        if (*p == ':') p++;
    }
    return kind;
}

/* Add `path` to the archive under the entry name `name`, recursing into directories; `header` 0
 * leaves out a directory's own entry (its children keep their full names). */
static int tar_add_entry(gzw *g, const char *path, const char *name, int header) {
    struct stat st;
    if (lstat(path, &st) < 0) return -1;
    if (S_ISDIR(st.st_mode)) {
        char dname[PATH_MAX + 2];
        snprintf(dname, sizeof dname, "%s/", name);
        if (header) tar_header(g, dname, '5', 0, st.st_mode, st.st_mtime, NULL);
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
            int kind = skip_kind(cpath);
            if (kind != 2 && tar_add_entry(g, cpath, cname, kind == 0) < 0) rc = -1;
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

static int tar_add(gzw *g, const char *path, const char *name) {
    return tar_add_entry(g, path, name, 1);
}

#endif

