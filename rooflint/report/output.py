"""Writing outputs: whole or not at all, only where a file belongs, and never half-interrupted.

- `-o PATH` names a regular file (new or existing) in an existing folder; `-` is stdout. A
  symlink, a device (/dev/null, /dev/stdout), a FIFO or a folder is refused, never replaced.
- Each file is written to a temp file beside it, then renamed over the target (atomic on POSIX):
  a reader, or a `kill -9`, never sees a torn file. The temp is named `.NAME.rooflint-PID.tmp`;
  one left by a killed run is recognised by its dead PID and removed on the next write.
- An existing file keeps its mode. Several outputs of one command are written all or none.
- SIGINT and SIGTERM arriving during the write are held until it is complete (or undone), then
  acted on: no temp file is left behind, and a second Ctrl-C cannot lose a finished report.
- stdout that is full, closed or cannot encode the report is a one-line error.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import signal
import stat
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from rooflint.errors import OutputError

STDOUT = "-"
_TEMP = re.compile(r"^\.(?P<name>.+)\.rooflint-(?P<pid>\d+)\.tmp$")


def check_target(path: str) -> Path:
    """The path a report may be written to, or an OutputError saying why not."""
    if path is None or not str(path).strip():
        raise OutputError("cannot write to an empty path; give a file name, or - for stdout")
    target = Path(path)
    try:
        info = os.lstat(target)
    except FileNotFoundError:
        info = None
    except OSError as exc:
        raise OutputError(f"cannot write {target}: {exc.strerror}") from None
    if info is not None:
        if stat.S_ISLNK(info.st_mode):
            raise OutputError(f"cannot write {target}: it is a symbolic link (write to the file it points to, "
                              "or - for stdout)")
        if stat.S_ISDIR(info.st_mode):
            raise OutputError(f"cannot write {target}: it is a folder")
        if not stat.S_ISREG(info.st_mode):
            raise OutputError(f"cannot write {target}: it is not a regular file (a device, FIFO or socket); "
                              "use - for stdout")
    folder = target.parent
    if not folder.is_dir():
        raise OutputError(f"cannot write {target}: no folder {folder}")
    return target


def _temp_name(target: Path) -> Path:
    return target.parent / f".{target.name}.rooflint-{os.getpid()}.tmp"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # exists, someone else's
        return True
    return True


def remove_stale_temps(target: Path) -> None:
    """Temp files of this target left by runs that were killed (their PID no longer runs)."""
    try:
        entries = list(os.scandir(target.parent))
    except OSError:
        return
    for entry in entries:
        m = _TEMP.match(entry.name)
        if m and m["name"] == target.name and int(m["pid"]) != os.getpid() and not _alive(int(m["pid"])):
            with contextlib.suppress(OSError):
                os.unlink(entry.path)


@contextlib.contextmanager
def signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held until the block ends, then acted on (KeyboardInterrupt, exit 143)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = {s: signal.signal(s, lambda signum, frame: caught.append(signum)) for s in
                (signal.SIGINT, signal.SIGTERM)}
    try:
        yield
    finally:
        for s, handler in previous.items():
            signal.signal(s, handler)
    if signal.SIGTERM in caught:
        raise SystemExit(128 + signal.SIGTERM)
    if signal.SIGINT in caught:
        raise KeyboardInterrupt


def _mode_for(target: Path) -> int:
    try:
        return stat.S_IMODE(os.stat(target).st_mode)
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def write_all(outputs: Sequence[tuple[str, str | bytes]]) -> None:
    """Each (path, text or bytes) written whole, all of them or none (stdout `-` last)."""
    files = [(check_target(p), data) for p, data in outputs if p != STDOUT]
    stdout = [data for p, data in outputs if p == STDOUT]
    if len({t.resolve() for t, _ in files}) < len(files):
        raise OutputError("two outputs of one command name the same file")
    with signals_held():
        temps: list[tuple[Path, Path]] = []
        try:
            for target, data in files:
                remove_stale_temps(target)
                tmp = _temp_name(target)
                temps.append((tmp, target))
                _write_new(tmp, data.encode("utf-8") if isinstance(data, str) else data, _mode_for(target))
            for tmp, target in temps:
                os.replace(tmp, target)
        except OSError as exc:
            _undo(temps)
            name = exc.filename if isinstance(exc.filename, str) else "the output"
            raise OutputError(f"cannot write {_shown(name)}: {exc.strerror or exc}") from None
        except BaseException:
            _undo(temps)
            raise
    for data in stdout:
        write_stdout(data)


def _write_new(tmp: Path, data: bytes | memoryview, mode: int) -> None:
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o600)
    try:
        os.fchmod(fd, mode)
        view = memoryview(data)
        while view:
            written = os.write(fd, view)
            view = view[written:]
    finally:
        os.close(fd)


def _undo(temps: list[tuple[Path, Path]]) -> None:
    for tmp, _ in temps:
        with contextlib.suppress(OSError):
            os.unlink(tmp)


def _shown(name: str) -> str:
    m = _TEMP.match(Path(name).name)
    return str(Path(name).parent / m["name"]) if m else name


def write_atomic(path: str | os.PathLike, data: str | bytes) -> None:
    """One output written whole or not at all (see write_all)."""
    write_all([(str(path), data)])


def write_stdout(data: str | bytes) -> None:
    """The report on stdout; a full or closed stdout, or one whose encoding cannot show the
    report, is an OutputError (a closed pipe, as `| head`, ends the run quietly)."""
    out = sys.stdout
    try:
        raw = data.encode(getattr(out, "encoding", None) or "utf-8") if isinstance(data, str) else data
        try:
            fd = out.fileno()
        except (AttributeError, OSError, ValueError):  # not a real file (a test runner's buffer)
            fd = None
        if fd is None:
            out.write(data if isinstance(data, str) else bytes(data).decode("utf-8"))
            out.flush()
            return
        out.flush()
        view = memoryview(raw)
        while view:
            view = view[os.write(fd, view):]
    except UnicodeEncodeError:
        raise OutputError(f"stdout's encoding ({getattr(out, 'encoding', '?')}) cannot show this report; "
                          "set PYTHONIOENCODING=utf-8 or write it with -o FILE") from None
    except OSError as exc:
        if exc.errno == errno.EPIPE:
            _quiet_stdout()
            raise SystemExit(1) from None  # as click does: the reader went away
        _quiet_stdout()
        raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from None


def _quiet_stdout() -> None:
    """Nothing more goes to a stdout that failed (Python would report its flush at exit)."""
    with contextlib.suppress(OSError, ValueError):
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
