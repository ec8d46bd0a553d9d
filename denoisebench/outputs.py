"""Output targets: refuse, before anything is computed, a path that a command must not write.

Every command that writes files checks its targets with :func:`check_output_target` first:
an empty path, or a path that exists and is neither a regular file nor a directory (a device
such as ``/dev/null``, a FIFO, a socket), is refused with one line (a :class:`ValueError`,
exit code 2 on the command line) — a write there would replace a device by a regular file
(as root) or block on a FIFO.  A folder target is also checked for the files the command
will write inside it (``contents``), and a file target must not be a folder.
"""
from __future__ import annotations

import os
import stat

__all__ = ["OutputTargetError", "check_output_target"]


class OutputTargetError(ValueError):
    """An output path that must not be written (one line; exit code 2 on the command line)."""

    __module__ = "denoisebench.outputs"


def _kind(mode):
    for test, name in ((stat.S_ISCHR, "character device"), (stat.S_ISBLK, "block device"),
                       (stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISSOCK, "socket")):
        if test(mode):
            return name
    return "special file"


def _stat(path):
    try:
        return os.stat(path)
    except (FileNotFoundError, NotADirectoryError):  # nothing there (a missing folder is the writer's to report)
        return None
    except OSError as exc:  # a symlink loop, a component that is a file, no permission
        raise OutputTargetError(f"cannot use {path!r} as an output: {exc.strerror or exc}") from None


def _check_one(path, option, want):
    st = _stat(path)
    if st is None:
        return
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        raise OutputTargetError(f"{option} {path!r} exists and is a {_kind(st.st_mode)}, not a regular file or "
                                "directory: refusing to write there (choose another path)")
    if want == "file" and stat.S_ISDIR(st.st_mode):
        raise OutputTargetError(f"{option} {path!r} is a directory; name the file to write")
    if want == "dir" and stat.S_ISREG(st.st_mode):
        raise OutputTargetError(f"{option} {path!r} is a file; name a folder (created if missing)")


def check_output_target(path, option="--out", kind="file", contents=()):
    """Refuse an output ``path`` that must not be written; return it as a string.

    Parameters
    ----------
    path : str or path-like
        The file (``kind='file'``) or folder (``kind='dir'``) a command will write.
    option : str
        How the user named it (``--out``), for the message.
    kind : {'file', 'dir'}
        A file target must not be a directory; a folder target must not be a file.
    contents : iterable of str
        For a folder: the names of the files written inside it, each checked as a file target.

    Raises
    ------
    OutputTargetError
        A :class:`ValueError` with one line: the path is empty, or exists and is not a
        regular file or directory (a device, FIFO or socket), or is a folder where a file is
        written (or the reverse), or cannot be examined (a symlink loop, no permission).
    """
    if kind not in ("file", "dir"):
        raise TypeError(f"kind must be 'file' or 'dir'; got {kind!r}")
    if path is None or not isinstance(path, (str, os.PathLike)) or not os.fspath(path).strip():
        raise OutputTargetError(f"{option} is empty: give the {'file' if kind == 'file' else 'folder'} to write")
    text = os.fspath(path)
    if "\0" in text:
        raise OutputTargetError(f"{option} {text!r} contains a NUL character")
    _check_one(text, option, kind)
    for name in contents if kind == "dir" else ():
        _check_one(os.path.join(text, name), f"{option} folder's file", "file")
    return text
