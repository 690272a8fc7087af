"""Enter a private mount namespace, bind the container's mounts, then exec its command.

Run as `python -I -S _enter.py ERRFD PLAN_JSON -- argv...` by the node agent (`sandbox.py`). It
is a standalone script on purpose: it imports nothing from tiphys, so it starts in a few
milliseconds and runs the same whatever the caller's working directory. It is a separate
process rather than a `preexec_fn` because the agent's process has threads (asyncio's child
watcher), and mounting between fork and exec in a threaded parent is not async-signal-safe.

PLAN_JSON: {"mounts": [{"source": host path, "target": container path, "ro": bool}], "cwd": path,
"cgroup": optional cgroup.procs file to join}.
Mounts are applied in order (the agent sorts them shallow to deep); a missing target is created
as a directory, or as an empty file when the source is a file (a kubelet does the same inside the
container's root filesystem; here the host's directory tree is shared, so such mount points stay
behind as empty entries on the host). Any failure before exec writes one line to ERRFD (closed
on exec, so the agent reads an empty pipe when the command started) and exits 128.
"""
import ctypes
import json
import os
import sys

CLONE_NEWNS = 0x00020000
MS_RDONLY, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 32, 4096, 16384, 1 << 18


def _fail(errfd, message):
    try:
        os.write(errfd, message.encode("utf-8", "replace"))
    finally:
        os._exit(128)


def _mount(libc, source, target, flags):
    if libc.mount(source, target.encode(), None, flags, None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err), target)


def main():
    errfd = int(sys.argv[1])
    os.set_inheritable(errfd, False)  # closes on exec: an empty pipe means the command started
    plan = json.loads(sys.argv[2])
    argv = sys.argv[4:]
    if sys.argv[3] != "--" or not argv:
        _fail(errfd, "usage: _enter.py ERRFD PLAN -- argv...")
    try:
        if plan.get("cgroup"):  # join the memory cgroup first: the command is confined from exec on
            with open(plan["cgroup"], "w") as f:
                f.write(str(os.getpid()))
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.unshare(CLONE_NEWNS) != 0:
            err = ctypes.get_errno()
            raise OSError(err, os.strerror(err), "unshare(CLONE_NEWNS)")
        # private propagation: our binds never leak to the host, nor the host's into us
        _mount(libc, b"none", "/", MS_REC | MS_PRIVATE)
        # Open every source first: a mount may hide a later source's path (the private /tmp
        # covers sources under the host's /tmp); /proc/self/fd/N still reaches the original.
        mounts = [(os.open(m["source"], os.O_PATH | os.O_CLOEXEC), m) for m in plan.get("mounts") or ()]
        for fd, m in mounts:
            source, target = "/proc/self/fd/%d" % fd, m["target"]
            if os.path.isdir(source):
                os.makedirs(target, exist_ok=True)
            else:
                os.makedirs(os.path.dirname(target) or "/", exist_ok=True)
                if not os.path.exists(target):
                    open(target, "a").close()
            _mount(libc, source.encode(), target, MS_BIND | MS_REC)
            if m.get("ro"):
                _mount(libc, None, target, MS_REMOUNT | MS_BIND | MS_RDONLY)
            os.close(fd)
        cwd = plan.get("cwd") or "/"
        os.makedirs(cwd, exist_ok=True)
        os.chdir(cwd)
    except OSError as exc:
        _fail(errfd, f"mount namespace setup failed: {exc}")
    try:
        os.execvpe(argv[0], argv, os.environ)
    except OSError as exc:
        _fail(errfd, f'exec: "{argv[0]}": {exc.strerror or exc}')


if __name__ == "__main__":
    main()
