"""What the rlimit backend adds where there are no namespaces: Landlock and a seccomp filter.

It runs inside the sandboxed process before any untrusted code does, so it imports the standard
library only (``ctypes`` for the system calls), and its source travels to the sandbox: the harness
(``child.py``) gets it as a code object in the job, the command launcher (``command.py``) as text.
:func:`apply` either confines the calling process or raises; the caller then must not go on.

``spec`` (built by ``backends.RlimitBackend``)::

    {"landlock": ABI version, 0 for none,
     "read": [directories readable and executable], "write": [directories with every right],
     "devices": [device files readable and writable],
     "seccomp": {"arch": AUDIT_ARCH_*, "socket": nr, "io_uring_setup": nr, "x32": bool} or None}

* ``no_new_privs`` always: nothing the candidate executes gains privileges (set-uid programs).
* Landlock (Linux >= 5.13): the file system is read-only and visible only in ``read`` (and
  ``devices``), writable only in ``write``; from ABI 4 no TCP ``bind``/``connect``; from ABI 6 no
  signal to a process outside the sandbox and no abstract unix socket outside it. Its ptrace rule
  (every ABI) keeps the candidate out of other processes' ``/proc/<pid>/environ`` and memory.
* seccomp: ``socket()`` for any family but ``AF_UNIX`` fails with EACCES (so no IP, UDP or raw
  network at all), as does ``io_uring_setup`` (io_uring can open sockets without the system call);
  a system call from another architecture's table (32-bit, x32) fails the same way.
"""

import ctypes
import posix
import struct

# Landlock: the same system call numbers on every architecture.
_CREATE_RULESET, _ADD_RULE, _RESTRICT_SELF = 444, 445, 446
_CREATE_RULESET_VERSION = 1
_RULE_PATH_BENEATH = 1
_EXECUTE, _WRITE_FILE, _READ_FILE, _READ_DIR = 1, 2, 4, 8
_REFER, _TRUNCATE, _IOCTL_DEV = 1 << 13, 1 << 14, 1 << 15
_FILE_RIGHTS = _EXECUTE | _WRITE_FILE | _READ_FILE | _TRUNCATE | _IOCTL_DEV  # what a rule on a file may grant
_BIND_TCP, _CONNECT_TCP = 1, 2
_SCOPE_ABSTRACT_UNIX_SOCKET, _SCOPE_SIGNAL = 1, 2

_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2
_AF_UNIX, _EACCES = 1, 13
_RET_ALLOW, _RET_DENY = 0x7FFF0000, 0x00050000 | _EACCES  # SECCOMP_RET_ERRNO | EACCES
_LD_W_ABS, _JEQ, _JGE, _RET = 0x20, 0x15, 0x35, 0x06


class _SockFprog(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


def _libc():
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    libc.prctl.restype = ctypes.c_int
    return libc


def _check(result, what):
    if result < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {posix.strerror(errno)}")
    return result


def landlock_abi():
    """The Landlock ABI version this kernel offers, 0 where it has none (or it is disabled)."""
    try:
        return max(0, _libc().syscall(ctypes.c_long(_CREATE_RULESET), None, ctypes.c_long(0),
                                      ctypes.c_long(_CREATE_RULESET_VERSION)))
    except (OSError, AttributeError):
        return 0


def apply(spec):
    """Confine the calling process (and everything it starts) as ``spec`` says; raises if it cannot."""
    libc = _libc()
    ulong = ctypes.c_ulong
    _check(libc.prctl(ctypes.c_int(_PR_SET_NO_NEW_PRIVS), ulong(1), ulong(0), ulong(0), ulong(0)), "no_new_privs")
    if spec["landlock"]:
        _landlock(libc, spec)
    if spec["seccomp"]:
        _seccomp(libc, spec["seccomp"])


def _landlock(libc, spec):
    abi = spec["landlock"]
    fs = (1 << 13) - 1  # ABI 1: execute ... make_sym
    fs |= (_REFER if abi >= 2 else 0) | (_TRUNCATE if abi >= 3 else 0) | (_IOCTL_DEV if abi >= 5 else 0)
    net = _BIND_TCP | _CONNECT_TCP if abi >= 4 else 0
    scoped = _SCOPE_ABSTRACT_UNIX_SOCKET | _SCOPE_SIGNAL if abi >= 6 else 0
    attr = struct.pack("=QQQ", fs, net, scoped)[: 8 if abi < 4 else 16 if abi < 6 else 24]
    buffer = ctypes.create_string_buffer(attr, len(attr))
    syscall = libc.syscall
    ruleset = _check(syscall(ctypes.c_long(_CREATE_RULESET), buffer, ctypes.c_long(len(attr)), ctypes.c_long(0)),
                     "landlock_create_ruleset")
    try:
        read = _EXECUTE | _READ_FILE | _READ_DIR
        device = (_READ_FILE | _WRITE_FILE | _TRUNCATE | _IOCTL_DEV) & fs
        rules = [(p, read) for p in spec["read"]] + [(p, device) for p in spec["devices"]]
        rules += [(p, fs) for p in spec["write"]]
        for path, access in rules:
            try:
                fd = posix.open(path, posix.O_PATH | posix.O_CLOEXEC)
            except FileNotFoundError:
                continue
            try:
                if posix.fstat(fd).st_mode & 0o170000 != 0o040000:  # not a directory
                    access &= _FILE_RIGHTS
                rule = ctypes.create_string_buffer(struct.pack("=Qi", access, fd), 12)
                _check(syscall(ctypes.c_long(_ADD_RULE), ctypes.c_long(ruleset), ctypes.c_long(_RULE_PATH_BENEATH),
                               rule, ctypes.c_long(0)), f"landlock_add_rule({path})")
            finally:
                posix.close(fd)
        _check(syscall(ctypes.c_long(_RESTRICT_SELF), ctypes.c_long(ruleset), ctypes.c_long(0)),
               "landlock_restrict_self")
    finally:
        posix.close(ruleset)


def _seccomp(libc, s):
    code = [(_LD_W_ABS, 0, 0, 4), (_JEQ, 0, "deny", s["arch"]), (_LD_W_ABS, 0, 0, 0)]
    if s["x32"]:
        code.append((_JGE, "deny", 0, 0x40000000))
    code += [
        (_JEQ, "deny", 0, s["io_uring_setup"]),
        (_JEQ, 0, "allow", s["socket"]),
        (_LD_W_ABS, 0, 0, 16),  # the low 32 bits of the first argument (little-endian): the family
        (_JEQ, "allow", "deny", _AF_UNIX),
    ]
    targets = {"allow": len(code), "deny": len(code) + 1}
    code += [(_RET, 0, 0, _RET_ALLOW), (_RET, 0, 0, _RET_DENY)]
    program = b"".join(
        struct.pack("=HBBI", op, *(targets[j] - i - 1 if isinstance(j, str) else j for j in (jt, jf)), k)
        for i, (op, jt, jf, k) in enumerate(code)
    )
    buffer = ctypes.create_string_buffer(program, len(program))
    fprog = _SockFprog(len(code), ctypes.cast(buffer, ctypes.c_void_p))
    ulong = ctypes.c_ulong
    _check(libc.prctl(ctypes.c_int(_PR_SET_SECCOMP), ulong(_SECCOMP_MODE_FILTER), ctypes.byref(fprog), ulong(0),
                      ulong(0)), "seccomp")
