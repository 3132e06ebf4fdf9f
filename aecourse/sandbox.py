"""Start a grading kernel sandboxed: `python aecourse/sandbox.py [options] -- KERNEL ARGV`.

The grader's kernelspec runs this file (by path, so the package is not imported as root);
it prepares the process and then execs the kernel in its place, so the kernel keeps the
process group that Jupyter interrupts and kills. Modes (`--mode`, chosen by the grader):

- `root`: running as root, a private mount namespace hides the course directory (every
  submission, the gradebook, source/, release/), the clone's folders other than the
  package, the environment and the data (solutions/ and tests/ included) and gives the
  kernel its own empty /tmp, /var/tmp and /dev/shm; then the kernel drops to an unprivileged
  uid with no supplementary groups and no way to regain privileges (no_new_privs).
- `uid`: root without mount namespaces: the same uid drop and limits; hidden paths stay
  readable where their permissions allow it (the report says so).
- `bwrap`: not root: bubblewrap mounts the same hiding (and an empty home, but for the
  environment, the package and the data), with its own PID namespace, as the grader's user.

In every mode: resource limits (address space, CPU seconds, file size, processes, no core
files) and a private working folder that holds the connection file and nothing else.
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import shutil

CLONE_NEWNS = 0x00020000
MS_NOSUID, MS_NODEV, MS_BIND, MS_REC, MS_PRIVATE = 2, 4, 4096, 16384, 1 << 18
PR_SET_NO_NEW_PRIVS = 38
WORK = "/tmp/aecourse-kernel"
SCRATCH = ("/tmp", "/var/tmp", "/dev/shm")


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mount.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.c_char_p, ctypes.c_ulong, ctypes.c_char_p]
    return libc


def _mount(libc, source: str, target: str, fstype: str | None, flags: int, data: str | None = None) -> None:
    args = [s.encode() if s is not None else None for s in (source, target, fstype)]
    if libc.mount(*args, flags, data.encode() if data else None) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"mount {target}: {os.strerror(err)}")


def _closed_ancestor(path: str) -> str | None:
    """Return the highest folder above path that others may not enter, if any."""
    parts = os.path.abspath(path).split("/")
    for i in range(2, len(parts) + 1):
        folder = "/".join(parts[:i])
        if os.path.isdir(folder) and not os.stat(folder).st_mode & 0o001:
            return folder
    return None


def hide_paths(hidden: list[str], tmp_size: str, expose: list[str] = ()) -> None:
    """Enter a private mount namespace; cover each hidden path (folders with an empty tmpfs, files
    with /dev/null) and give fresh scratch folders; paths to expose (the interpreter, say) that sit
    in a folder others may not enter (/root) are mounted back into an empty one. Raises OSError
    where the kernel forbids it."""
    libc = _libc()
    if libc.unshare(CLONE_NEWNS) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"unshare(CLONE_NEWNS): {os.strerror(err)}")
    _mount(libc, "none", "/", None, MS_REC | MS_PRIVATE)
    for path in hidden:
        if os.path.isdir(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0555")
        elif os.path.exists(path):
            _mount(libc, "/dev/null", path, None, MS_BIND)
    for path in SCRATCH:
        if os.path.isdir(path):
            _mount(libc, "tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, f"size={tmp_size},mode=1777")
    moved = []
    for i, path in enumerate(p for p in expose if _closed_ancestor(p)):
        os.makedirs(f"/tmp/.expose{i}")
        _mount(libc, path, f"/tmp/.expose{i}", None, MS_BIND | MS_REC)
        moved.append((path, f"/tmp/.expose{i}"))
    for closed in sorted({_closed_ancestor(path) for path, _ in moved}):
        _mount(libc, "tmpfs", closed, "tmpfs", MS_NOSUID | MS_NODEV, "size=16k,mode=0755")
    for path, holder in moved:
        os.makedirs(path, exist_ok=True)
        _mount(libc, holder, path, None, MS_BIND | MS_REC)
        libc.umount2(holder.encode(), 2)  # MNT_DETACH
        os.rmdir(holder)


def set_limits(memory_mb: int, cpu_s: int, file_mb: int, nproc: int) -> None:
    """Apply the resource limits that the kernel and everything it starts inherit."""
    for limit, value in ((resource.RLIMIT_AS, memory_mb << 20), (resource.RLIMIT_CPU, cpu_s),
                         (resource.RLIMIT_FSIZE, file_mb << 20), (resource.RLIMIT_NPROC, nproc),
                         (resource.RLIMIT_CORE, 0), (resource.RLIMIT_NOFILE, 1024)):
        if value > 0:
            resource.setrlimit(limit, (value, value))


def _env(work: str, data_dir: str | None) -> dict:
    keep = ("PATH", "LANG", "LC_ALL", "AECOURSE_MODE", "AECOURSE_PROGRESS", "MPLBACKEND", "OMP_NUM_THREADS",
            "MKL_NUM_THREADS", "NBGRADER_EXECUTION", "PYTHONHASHSEED", "VIRTUAL_ENV")
    env = {k: os.environ[k] for k in keep if k in os.environ}
    env.update(MALLOC_ARENA_MAX="2", HOME=work, TMPDIR=work, IPYTHONDIR=f"{work}/.ipython", MPLCONFIGDIR=f"{work}/.mpl",
               XDG_CACHE_HOME=f"{work}/.cache", JUPYTER_RUNTIME_DIR=f"{work}/.runtime", PYTHONNOUSERSITE="1")
    if data_dir:
        env["AECOURSE_DATA_DIR"] = data_dir
    return env


def _work_dir(uid: int, gid: int, connection: bytes) -> str:
    """Make the kernel's private folder, with a copy of the connection file that it may read."""
    shutil.rmtree(WORK, ignore_errors=True)
    os.makedirs(WORK, mode=0o700)
    target = os.path.join(WORK, "kernel.json")
    with open(target, "wb") as f:
        f.write(connection)
    for path in (WORK, target):
        os.chown(path, uid, gid)
    return target


def _bwrap(args, argv: list[str]) -> list[str]:
    """Return the bubblewrap command that runs argv with the paths hidden (the not-root mode)."""
    cmd = ["bwrap", "--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc", "--unshare-pid",
           "--unshare-ipc", "--die-with-parent"]
    home = os.path.expanduser("~")
    if home not in ("/", "") and os.path.isdir(home):  # the kernel runs as you: hide your home, keep what it needs
        cmd += ["--tmpfs", home]
        for path in args.expose + ([args.data_dir] if args.data_dir else []):
            if os.path.abspath(path).startswith(home + "/"):
                cmd += ["--ro-bind", path, path]
    for path in args.hide:
        if os.path.isdir(path):
            cmd += ["--tmpfs", path]
        elif os.path.exists(path):
            cmd += ["--ro-bind", "/dev/null", path]
    for path in SCRATCH:
        cmd += ["--tmpfs", path]
    work = os.path.join("/tmp", "aecourse-kernel")
    cmd += ["--dir", work, "--ro-bind", args.connection, f"{work}/kernel.json", "--chdir", work]
    return cmd + ["--"] + [a.replace(args.connection, f"{work}/kernel.json") for a in argv]


def main(argv: list[str] | None = None) -> None:
    """Prepare the sandbox and exec the kernel (never returns)."""
    parser = argparse.ArgumentParser(prog="sandbox.py")
    parser.add_argument("--mode", choices=("root", "uid", "bwrap", "none"), required=True)
    parser.add_argument("--uid", type=int, default=65534)
    parser.add_argument("--gid", type=int, default=65534)
    parser.add_argument("--hide", action="append", default=[])
    parser.add_argument("--expose", action="append", default=[], help="a path the kernel needs (mode root)")
    parser.add_argument("--connection", required=True, help="the connection file Jupyter wrote")
    parser.add_argument("--data-dir", default=None)
    parser.add_argument("--memory-mb", type=int, default=4096)
    parser.add_argument("--cpu-s", type=int, default=600)
    parser.add_argument("--file-mb", type=int, default=64)
    parser.add_argument("--nproc", type=int, default=256)
    parser.add_argument("--tmp-size", default="256m")
    parser.add_argument("kernel", nargs=argparse.REMAINDER)
    args = parser.parse_args(argv)
    kernel = args.kernel[1:] if args.kernel[:1] == ["--"] else args.kernel
    if args.mode in ("root", "uid"):
        with open(args.connection, "rb") as f:
            content = f.read()  # before /tmp is replaced: the file may live there
        if args.mode == "root":
            hide_paths(args.hide, args.tmp_size, args.expose)
        connection = _work_dir(args.uid, args.gid, content)
        kernel = [a.replace(args.connection, connection) for a in kernel]
        env = _env(WORK, args.data_dir)
        set_limits(args.memory_mb, args.cpu_s, args.file_mb, args.nproc)
        os.setgroups([])
        os.setgid(args.gid)
        os.setuid(args.uid)
        _libc().prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
        os.chdir(WORK)
        os.execvpe(kernel[0], kernel, env)
    if args.mode == "bwrap":  # RLIMIT_NPROC counts every task of your user: allow nproc more than now
        set_limits(args.memory_mb, args.cpu_s, args.file_mb, args.nproc + _tasks_of(os.getuid()))
        cmd = _bwrap(args, kernel)
        os.execvpe(cmd[0], cmd, _env("/tmp/aecourse-kernel", args.data_dir))
    set_limits(args.memory_mb, args.cpu_s, args.file_mb, 0)  # mode none: limits only
    os.execvp(kernel[0], kernel)


def _tasks_of(uid: int) -> int:
    """Return how many threads the processes of uid run (what RLIMIT_NPROC counts)."""
    total = 0
    for pid in processes_of(uid):
        try:
            total += len(os.listdir(f"/proc/{pid}/task"))
        except OSError:
            pass
    return total


def processes_of(uid: int) -> list[int]:
    """Return the ids of the processes that run as uid."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                if os.stat(f"/proc/{entry}").st_uid == uid:
                    found.append(int(entry))
            except OSError:
                pass
    return found


def sweep(uid: int, rounds: int = 20) -> int:
    """Kill every process of uid (stopping them first, so a fork loop cannot outrun it); return how many."""
    import signal
    import time

    killed = set()
    for _ in range(rounds):
        pids = processes_of(uid)
        if not pids:
            break
        for sig in (signal.SIGSTOP, signal.SIGKILL):
            for pid in pids:
                try:
                    os.kill(pid, sig)
                    killed.add(pid)
                except OSError:
                    pass
        time.sleep(0.05)
    return len(killed)


if __name__ == "__main__":
    main()
