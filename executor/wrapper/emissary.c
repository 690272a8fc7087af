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
 *   <var>/ctr/<main>/exitcode        read by sidecars (the template's `sidecars`): once every main
 *                                    container has one, the sidecar's command gets SIGTERM, then
 *                                    SIGKILL after ARGO_TERMINATION_GRACE_PERIOD_SECONDS (30)
 *   <var>/outputs/parameters/<path>  copies of output parameter files (container `main` only)
 *   <var>/outputs/artifacts/<path>.tgz   output artifacts as tar+gzip (container `main` only)
 *
 * <var> is /var/run/argo, or $ARGO_VAR_RUN (tests). The template comes from <var>/template, else
 * $ARGO_TEMPLATE (the sentinel `offloaded` means $ARGO_CONFIG_DIR/ARGO_TEMPLATE, default
 * /argo/config). Exit code 64 means the wrapper itself failed before or while starting the
 * command; a child killed by a signal gives 137, as Argo does.
 *
 * The binary is built static so it runs in images without libc, a shell or Python. It therefore
 * carries its own small JSON reader (json.h), tar writer and gzip framing (targz.h: stored deflate
 * blocks, a valid .tgz any reader accepts; the wait side recompresses before upload). util.h holds
 * the shared state and helpers. This file is the only translation unit: `cc emissary.c`.
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

#include "util.h"
#include "json.h"
#include "targz.h"

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
    /* Like Argo (os.Stat on the artifact path), a symlinked artifact path is followed; links
     * inside a directory are archived as links. */
    char real[PATH_MAX];
    int rc = tar_add(g, realpath(src, real) ? real : src, base);
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
        /* "/tmp/" and "/tmp" name one artifact file: drop trailing slashes as the wait side's
         * path normalisation does (Argo's artifact-passing-subpath example uses "/tmp/") */
        char clean[PATH_MAX];
        snprintf(clean, sizeof clean, "%s", path);
        for (size_t n = strlen(clean); n > 1 && clean[n - 1] == '/'; n--) clean[n - 1] = '\0';
        char dst[PATH_MAX];
        snprintf(dst, sizeof dst, "%s/outputs/artifacts%s.tgz", g_var_run, clean);
        if (archive_to(clean, dst) < 0)
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

/* Self-pipe: SIGCHLD writes a byte that poll() sees, so a child exiting just before poll()
 * is noticed at once instead of after the poll timeout. */
static int g_chld_pipe[2] = {-1, -1};

static void on_sigchld(int sig) {
    (void)sig;
    int saved = errno;
    if (g_chld_pipe[1] >= 0 && write(g_chld_pipe[1], "c", 1) < 0) { /* full pipe: already woken */ }
    errno = saved;
}

static void drain_chld_pipe(void) {
    char buf[64];
    while (read(g_chld_pipe[0], buf, sizeof buf) > 0) {}
}

static void install_signals(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sigemptyset(&sa.sa_mask);
    sa.sa_handler = forward_signal;
    for (int s = 1; s < 32; s++) {
        if (s == SIGKILL || s == SIGSTOP || s == SIGCHLD || s == SIGPIPE) continue;
        sigaction(s, &sa, NULL);
    }
    if (pipe2(g_chld_pipe, O_CLOEXEC | O_NONBLOCK) < 0) fail("pipe: %s", strerror(errno));
    sa.sa_handler = on_sigchld;
    sa.sa_flags = SA_NOCLDSTOP;
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
    static char buf[1 << 20];
    ssize_t r = read(s->fd, buf, sizeof buf);
    if (r < 0) return errno == EINTR || errno == EAGAIN;
    if (r == 0) return 0;
    /* a closed stdout of our own must not stop the capture the wait side relies on */
    (void)write_all(s->echo_fd, buf, (size_t)r);
    if (s->file_fd >= 0 && write_all(s->file_fd, buf, (size_t)r) < 0) fail("cannot write stdout file: %s", strerror(errno));
    if (write_all(combined_fd, buf, (size_t)r) < 0) fail("cannot write combined file: %s", strerror(errno));
    return 1;
}

/* Sidecar mode (§6.2.8): once every main container has an exitcode file, stop our command with
 * SIGTERM, then SIGKILL after the termination grace period. */
static const jval *g_main_names = NULL; /* JSON array of names, or NULL: ["main"] */
static int g_sidecar = 0;
static long g_grace_ms = 30000;
static struct timespec g_term_at;
static int g_term_sent = 0, g_kill_sent = 0;

static int mains_done(void) {
    char path[PATH_MAX + 300];
    size_t n = g_main_names ? g_main_names->n : 1;
    for (size_t i = 0; i < n; i++) {
        const char *name = g_main_names ? jstr(jget(g_main_names->kids[i], "name")) : "main";
        if (!name) continue;
        snprintf(path, sizeof path, "%s/ctr/%s/exitcode", g_var_run, name);
        if (!file_exists(path)) return 0;
    }
    return 1;
}

static void check_sidecar(void) {
    if (!g_sidecar || g_kill_sent) return;
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    if (!g_term_sent) {
        if (!mains_done()) return;
        forward_signal(SIGTERM);
        g_term_sent = 1;
        g_term_at = now;
        return;
    }
    long elapsed = (now.tv_sec - g_term_at.tv_sec) * 1000 + (now.tv_nsec - g_term_at.tv_nsec) / 1000000;
    if (elapsed >= g_grace_ms) {
        forward_signal(SIGKILL);
        g_kill_sent = 1;
    }
}

/* Run argv once; returns the exit code Argo reports for it. */
static int run_once(char **argv, int tee) {
    int out[2] = {-1, -1}, err[2] = {-1, -1}, status_pipe[2];
    if (tee && (pipe2(out, O_CLOEXEC) < 0 || pipe2(err, O_CLOEXEC) < 0)) fail("pipe: %s", strerror(errno));
    if (tee) fcntl(out[0], F_SETPIPE_SZ, 1 << 20); /* fewer wakeups for chatty children; best effort */
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
        if (!exited && waitpid(pid, &status, WNOHANG) == pid) exited = 1;
        struct pollfd fds[3];
        int map[3], n = 0;
        for (int i = 0; i < nstreams; i++)
            if (streams[i].fd >= 0) { fds[n] = (struct pollfd){streams[i].fd, POLLIN, 0}; map[n++] = i; }
        if (exited && n == 0) break;
        int nstream_fds = n;
        if (!exited) fds[n++] = (struct pollfd){g_chld_pipe[0], POLLIN, 0};
        int ready = poll(fds, (nfds_t)n, 100);
        if (!exited && ready > 0 && fds[nstream_fds].revents) { drain_chld_pipe(); ready--; }
        for (int k = 0; ready > 0 && k < nstream_fds; k++) {
            if (!(fds[k].revents & (POLLIN | POLLHUP | POLLERR))) continue;
            stream *s = &streams[map[k]];
            if (!pump(s, combined_fd)) { close(s->fd); s->fd = -1; }
        }
        check_signal_file();
        check_sidecar();
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
    /* archived logs need the combined stream too (Argo tees when either is asked for) */
    const jval *archive_logs = jget(jget(tmpl, "archiveLocation"), "archiveLogs");
    int tee = env_true("ARGO_INCLUDE_SCRIPT_OUTPUT") ||
              (archive_logs && archive_logs->type == J_BOOL && strcmp(archive_logs->str, "true") == 0);
    /* a container listed in the template's sidecars stops once the main containers are done */
    const jval *sidecars = jget(tmpl, "sidecars");
    for (size_t i = 0; sidecars && sidecars->type == J_ARR && i < sidecars->n; i++) {
        const char *name = jstr(jget(sidecars->kids[i], "name"));
        if (name && strcmp(name, ctr) == 0) g_sidecar = 1;
    }
    if (ctrs && ctrs->type == J_ARR) g_main_names = ctrs;
    const char *grace = getenv("ARGO_TERMINATION_GRACE_PERIOD_SECONDS");
    if (grace && *grace) g_grace_ms = atol(grace) * 1000;
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
