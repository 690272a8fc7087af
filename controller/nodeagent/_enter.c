/*
 * tiphys node agent: enter a private mount namespace, bind the container's mounts, exec.
 *
 * The C twin of _enter.py (same arguments, same behaviour, same messages), built once by the
 * agent into <root_dir>/bin/enter because a Python start-up costs 50-200 ms per container and
 * this costs about one. See _enter.py for the design; the argument protocol is:
 *
 *   enter ERRFD CGROUP_PROCS HOSTNAME CWD N  SRC_1 TGT_1 RO_1 ... SRC_N TGT_N RO_N  -- argv...
 *
 * CGROUP_PROCS is "" or a cgroup.procs file to join first; HOSTNAME is "" (keep the host's) or
 * the name to set in a private UTS namespace; RO_i is "1" or "0"; an empty SRC_i mounts a private
 * tmpfs at TGT_i (the agent's anchors, see mountpoints.py). Any failure
 * before exec writes one line to ERRFD (close-on-exec) and exits 128.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <unistd.h>

static int errfd = -1;

static void fail(const char *fmt, ...) {
    char buf[8192];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(buf, sizeof buf, fmt, ap);
    va_end(ap);
    if (errfd >= 0) {
        ssize_t unused = write(errfd, buf, strlen(buf));
        (void)unused;
    }
    _exit(128);
}

static void setup_fail(const char *what) {
    fail("mount namespace setup failed: %s: %s", what, strerror(errno));
}

/* mkdir -p; existing entries are fine */
static void mkdirs(const char *path) {
    char buf[4096];
    if (strlen(path) >= sizeof buf) {
        errno = ENAMETOOLONG;
        setup_fail(path);
    }
    strcpy(buf, path);
    for (char *p = buf + 1; ; p++) {
        if (*p == '/' || *p == 0) {
            char saved = *p;
            *p = 0;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) setup_fail(buf);
            *p = saved;
            if (saved == 0) break;
        }
    }
}

int main(int argc, char **argv) {
    static const char usage[] = "usage: enter ERRFD CGROUP_PROCS HOSTNAME CWD N [SRC TGT RO]... -- argv...";
    if (argc < 8) fail(usage);
    errfd = atoi(argv[1]);
    fcntl(errfd, F_SETFD, FD_CLOEXEC); /* an empty pipe then means the command started */
    const char *cgroup = argv[2], *hostname = argv[3], *cwd = argv[4];
    int n = atoi(argv[5]);
    if (n < 0 || argc < 6 + 3 * n + 2 || strcmp(argv[6 + 3 * n], "--") != 0) fail(usage);
    char **cmd = &argv[7 + 3 * n];

    if (*cgroup) { /* join the memory cgroup first: the command is confined from exec on */
        int fd = open(cgroup, O_WRONLY | O_CLOEXEC);
        if (fd < 0 || dprintf(fd, "%d", (int)getpid()) < 0) setup_fail(cgroup);
        close(fd);
    }
    if (unshare(CLONE_NEWNS | (*hostname ? CLONE_NEWUTS : 0)) != 0) setup_fail("unshare(CLONE_NEWNS)");
    if (*hostname && sethostname(hostname, strlen(hostname)) != 0) setup_fail("sethostname");
    if (mount("none", "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0) setup_fail("/");
    /* open every source before binding anything: a mount may hide a later source's path. (After
     * unshare: a bind from a descriptor of the old namespace's mounts fails with EINVAL.) */
    int fds[n > 0 ? n : 1];
    for (int i = 0; i < n; i++) {
        fds[i] = -1;
        if (!*argv[6 + 3 * i]) continue; /* a private tmpfs */
        fds[i] = open(argv[6 + 3 * i], O_PATH | O_CLOEXEC);
        if (fds[i] < 0) setup_fail(argv[6 + 3 * i]);
    }
    for (int i = 0; i < n; i++) {
        const char *target = argv[7 + 3 * i];
        int ro = strcmp(argv[8 + 3 * i], "1") == 0;
        char source[64];
        struct stat st;
        if (fds[i] < 0) {
            mkdirs(target);
            if (mount("tmpfs", target, "tmpfs", MS_NOSUID | MS_NODEV, "mode=755") != 0) setup_fail(target);
            continue;
        }
        snprintf(source, sizeof source, "/proc/self/fd/%d", fds[i]);
        if (fstat(fds[i], &st) != 0) setup_fail(argv[6 + 3 * i]);
        if (S_ISDIR(st.st_mode)) {
            mkdirs(target);
        } else {
            char parent[4096];
            snprintf(parent, sizeof parent, "%s", target);
            char *slash = strrchr(parent, '/');
            if (slash && slash != parent) {
                *slash = 0;
                mkdirs(parent);
            }
            if (access(target, F_OK) != 0) {
                int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC, 0644);
                if (fd < 0) setup_fail(target);
                close(fd);
            }
        }
        if (mount(source, target, NULL, MS_BIND | MS_REC, NULL) != 0) setup_fail(target);
        if (ro && mount(NULL, target, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY, NULL) != 0) setup_fail(target);
        close(fds[i]);
    }
    mkdirs(cwd);
    if (chdir(cwd) != 0) setup_fail(cwd);
    execvp(cmd[0], cmd);
    fail("exec: \"%s\": %s", cmd[0], strerror(errno));
    return 128;
}
