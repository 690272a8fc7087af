"""Enter a private mount namespace, bind the container's mounts, then exec its command.

    python -I -S _enter.py ERRFD CGROUP_PROCS HOSTNAME CWD N  SRC_1 TGT_1 RO_1 ... SRC_N TGT_N RO_N  -- argv...

The node agent (`sandbox.py`) starts every container through this helper, or through its C twin
`_enter.c` (same arguments and messages; built once, it starts in a millisecond where Python
takes 50-200 ms). This file is standalone on purpose: it imports nothing from tiphys. It is a
separate process rather than a `preexec_fn` because the agent's process has threads (asyncio's
child watcher), and mounting between fork and exec in a threaded parent is not async-signal-safe.

Steps: join CGROUP_PROCS (when not empty), unshare the mount namespace (and, when HOSTNAME is not
empty, the UTS namespace, setting the hostname as a pod's containers see it), make `/` private (our
binds never leak to the host, nor the host's into us), open every source (a mount may hide a
later source's path: the private /tmp covers sources under the host's /tmp; /proc/self/fd/N
still reaches the original), bind each source onto its target in order (the agent sorts them shallow to
deep; RO_i "1" remounts read-only), chdir to CWD, exec. An empty SRC_i mounts a private tmpfs at
TGT_i instead: the agent's anchors (`mountpoints.py`), the only mount points it makes on the
host, get one so that everything deeper is created in the container's own tmpfs. A missing
target is created as a directory, or as an empty file when the source is a file (as a kubelet
does inside the container's root filesystem; the agent has made sure that happens in a tmpfs or
a mount source, never on the host's own tree). Any failure before exec writes one line to ERRFD (closed on exec, so
the agent reads an empty pipe when the command started) and exits 128.
"""
import ctypes
import os
import stat
import sys

CLONE_NEWNS, CLONE_NEWUTS = 0x00020000, 0x04000000
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18
USAGE = "usage: enter ERRFD CGROUP_PROCS HOSTNAME CWD N [SRC TGT RO]... -- argv..."


class _Setup(Exception):
    def __init__(self, what, err):
        super().__init__(f"mount namespace setup failed: {what}: {os.strerror(err)}")


def _fail(errfd, message):
    try:
        if errfd >= 0:
            os.write(errfd, message.encode("utf-8", "replace"))
    finally:
        os._exit(128)


def _check(rc, what):
    if rc != 0:
        raise _Setup(what, ctypes.get_errno())


def _mkdirs(path):
    try:
        os.makedirs(path, exist_ok=True)
    except OSError as exc:
        raise _Setup(exc.filename or path, exc.errno) from None


def main(argv):
    errfd = int(argv[1]) if len(argv) > 1 and argv[1].isdigit() else -1
    if errfd >= 0:
        os.set_inheritable(errfd, False)
    n = int(argv[5]) if len(argv) > 5 and argv[5].isdigit() else -1
    if len(argv) < 8 or n < 0 or len(argv) < 6 + 3 * n + 2 or argv[6 + 3 * n] != "--":
        _fail(errfd, USAGE)
    cgroup, hostname, cwd, cmd = argv[2], argv[3], argv[4], argv[7 + 3 * n:]
    triples = [(argv[6 + 3 * i], argv[7 + 3 * i], argv[8 + 3 * i] == "1") for i in range(n)]
    try:
        if cgroup:
            try:
                with open(cgroup, "w") as f:
                    f.write(str(os.getpid()))
            except OSError as exc:
                raise _Setup(cgroup, exc.errno) from None
        libc = ctypes.CDLL(None, use_errno=True)
        _check(libc.unshare(CLONE_NEWNS | (CLONE_NEWUTS if hostname else 0)), "unshare(CLONE_NEWNS)")
        if hostname:
            name = hostname.encode()
            _check(libc.sethostname(name, len(name)), "sethostname")
        _check(libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None), "/")
        # open every source before binding anything (after unshare: a bind from a descriptor of
        # the old namespace's mounts fails with EINVAL)
        fds = []
        for source, _, _ in triples:
            if not source:  # a private tmpfs
                fds.append(-1)
                continue
            try:
                fds.append(os.open(source, os.O_PATH | os.O_CLOEXEC))
            except OSError as exc:
                raise _Setup(source, exc.errno) from None
        for fd, (_, target, ro) in zip(fds, triples):
            if fd < 0:
                _mkdirs(target)
                _check(libc.mount(b"tmpfs", target.encode(), b"tmpfs", MS_NOSUID | MS_NODEV, b"mode=755"), target)
                continue
            source = f"/proc/self/fd/{fd}"
            if stat.S_ISDIR(os.fstat(fd).st_mode):
                _mkdirs(target)
            else:
                parent = os.path.dirname(target)
                if parent and parent != "/":
                    _mkdirs(parent)
                if not os.path.exists(target):
                    try:
                        os.close(os.open(target, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o644))
                    except OSError as exc:
                        raise _Setup(target, exc.errno) from None
            _check(libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None), target)
            if ro:
                _check(libc.mount(None, target.encode(), None, MS_REMOUNT | MS_BIND | MS_RDONLY, None), target)
            os.close(fd)
        _mkdirs(cwd)
        try:
            os.chdir(cwd)
        except OSError as exc:
            raise _Setup(cwd, exc.errno) from None
    except _Setup as exc:
        _fail(errfd, str(exc))
    try:
        os.execvpe(cmd[0], cmd, os.environ)
    except OSError as exc:
        _fail(errfd, f'exec: "{cmd[0]}": {os.strerror(exc.errno) if exc.errno else exc}')


if __name__ == "__main__":
    main(sys.argv)
