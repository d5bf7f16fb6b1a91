"""The program that runs inside the sandbox: it loads the candidate, runs the tests and streams one
result frame per test back to the parent.

The parent ships this module to the sandboxed interpreter as a marshalled code object together with
the job (see ``process.py``), so it must stay self-contained. It imports only modules compiled into
the interpreter or cheap extension modules, never ``os``, ``json``, ``signal`` or ``traceback``:
each of those costs milliseconds at start-up, and start-up time is the sandbox's throughput.

Trust: this code is trusted until the candidate runs. After that, the candidate shares the process
(function problems) and can patch anything here, so nothing this process reports is believed
without checking. For input/output tests the expected output never enters the sandbox: the frames
carry the values the candidate computed and the parent judges them. Only general asserts (see
``harness.py``) are judged in here, and the parent records that weaker guarantee on each outcome.
Stdio programs run in a forked child per test, so they never touch the harness process.

Frames: 4-byte big-endian length, then a JSON object (ASCII). ``{"t": "ready"}`` once the harness
has confined itself, before any candidate code runs (so the parent can tell a sandbox that failed to
start from a candidate that crashed), ``{"t": "loaded"}`` after the candidate module ran, ``{"t": "load_error", "exc": ...}`` if it raised, one ``{"t": "test", "i": i, ...}``
per test in order, and ``{"t": "done"}`` at the end. Values are tagged JSON (``{"$tuple": [...]}``,
``{"$set": [...]}``, ...; see ``values.py`` for the decoder).
"""

import _json
import _signal
import builtins
import faulthandler
import io
import itertools
import posix
import resource
import sys
import time

CANDIDATE_FILE = "<candidate>"
TEST_FILE = "<test>"
PRELUDE_FILE = "<prelude>"
MAX_DEPTH = 100  # nesting beyond this is not plain data (or is a cycle)
EXCERPT_CHARS = 2000  # stdout/stderr/exception text kept per test
TRACEBACK_FRAMES = 10  # innermost candidate frames kept per exception
TRACE_EVENTS = 80  # lines of execution trace kept for the traced test
TRACE_CHARS = 200  # characters per trace line
BIG_INT_BITS = 12000  # larger ints travel as hex: decimal parsing is capped at 4300 digits
FLOAT_INF = float("inf")

# Module functions the harness calls after the candidate has run, bound before it runs (builtins are
# safe already: the bootstrap gives the harness its own copy of them).
_encode_str = _json.encode_basestring_ascii
_perf = time.perf_counter
_setitimer = _signal.setitimer
_ITIMER_REAL = _signal.ITIMER_REAL
_settrace = sys.settrace
_write = posix.write


class _TestTimeout(BaseException):
    """Raised by SIGALRM when a test overruns its time limit (BaseException: `except Exception` in the
    candidate does not swallow it)."""


class _OutputLimit(BaseException):
    """Raised when a test prints more than the output limit."""


class _TooLarge(Exception):
    pass


def _on_alarm(signum, frame):
    raise _TestTimeout


class Opaque:
    """A value that cannot cross to the parent (not plain data, or too large), sent as a description."""

    __slots__ = ("reason",)

    def __init__(self, reason):
        self.reason = reason


# -------------------------------------------------------------------------------------------------
# Plain copies: the candidate's return value, rebuilt from exact built-in types.


class Copier:
    """Deep-copies a value into exact built-in types, reading subclasses through their base type's own
    methods, so no method the candidate defined (``__eq__``, ``__iter__``, ``__repr__``...) runs during
    the copy or survives in it. Anything else becomes :class:`Opaque` (and sets ``opaque``)."""

    def __init__(self, limit):
        self.limit = limit  # elements plus characters: the output limit
        self.left = limit
        self.opaque = False

    def plain(self, value):
        try:
            return self._copy(value, 0)
        except _TooLarge:
            self.opaque = True
            return Opaque(f"a value larger than the output limit ({self.limit} items and characters)")

    def _charge(self, n):
        self.left -= n
        if self.left < 0:
            raise _TooLarge

    def _copy(self, v, depth):
        t = type(v)
        if v is None or t is bool or t is float or t is complex:
            self._charge(1)
            return v
        if t is int:
            self._charge(1 + v.bit_length() // 64)
            return v
        if t is str or t is bytes:
            self._charge(1 + len(v))
            return v
        if depth >= MAX_DEPTH:
            self.opaque = True
            return Opaque(f"a value nested deeper than {MAX_DEPTH} levels")
        d = depth + 1
        if t is list:
            self._charge(1 + len(v))
            return [self._copy(x, d) for x in v]
        if t is tuple:
            self._charge(1 + len(v))
            return tuple([self._copy(x, d) for x in v])
        if t is dict:
            self._charge(1 + len(v))
            return {self._copy(k, d): self._copy(x, d) for k, x in v.items()}
        if t is set or t is frozenset:
            self._charge(1 + len(v))
            return t([self._copy(x, d) for x in v])
        return self._copy_subclass(v, t, d)

    def _copy_subclass(self, v, t, d):
        # Subclasses (IntEnum, namedtuple, OrderedDict, Counter...) are read through the base type.
        if issubclass(t, int):
            return self._copy(int.__int__(v), d)
        if issubclass(t, float):
            return self._copy(float.__float__(v), d)
        if issubclass(t, complex):
            return self._copy(complex(complex.real.__get__(v), complex.imag.__get__(v)), d)
        if issubclass(t, str):
            return self._copy(str.__getitem__(v, slice(None)), d)
        if issubclass(t, bytes):
            return self._copy(bytes.__getitem__(v, slice(None)), d)
        if issubclass(t, bytearray):
            return self._copy(bytes(bytearray.__getitem__(v, slice(None))), d)
        if issubclass(t, tuple):
            return self._copy(tuple(tuple.__iter__(v)), d - 1)
        if issubclass(t, list):
            return self._copy(list(list.__iter__(v)), d - 1)
        if issubclass(t, dict):
            return self._copy(dict(dict.items(v)), d - 1)
        if issubclass(t, frozenset):
            return self._copy(frozenset(frozenset.__iter__(v)), d - 1)
        if issubclass(t, set):
            return self._copy(set(set.__iter__(v)), d - 1)
        self.opaque = True
        return Opaque(f"a {t.__name__} object, not plain data ({_short_repr(v, 80)})")


# -------------------------------------------------------------------------------------------------
# Encoding: exact built-in types (from Copier) to tagged JSON text.


def encode(v, out, tagged=True):
    """Append the JSON text of ``v`` to ``out``. ``tagged`` values keep their Python type through tags;
    untagged (frame metadata) dicts must have str keys and tuples become arrays."""
    t = type(v)
    if v is None:
        out.append("null")
    elif t is bool:
        out.append("true" if v else "false")
    elif t is int:
        if v.bit_length() <= BIG_INT_BITS:
            out.append(int.__repr__(v))
        else:
            out.append(f'{{"$int":"{hex(v)}"}}')
    elif t is float:
        if v != v:
            out.append('{"$float":"nan"}')
        elif v == FLOAT_INF or v == -FLOAT_INF:
            out.append('{"$float":"inf"}' if v > 0 else '{"$float":"-inf"}')
        else:
            out.append(float.__repr__(v))
    elif t is str:
        out.append(_encode_str(v))
    elif t is list or (t is tuple and not tagged):
        _encode_items(v, out, tagged, "[", "]")
    elif t is tuple:
        _encode_items(v, out, tagged, '{"$tuple":[', "]}")
    elif t is dict and not tagged:
        out.append("{")
        first = True
        for k, x in v.items():
            if not first:
                out.append(",")
            first = False
            out.append(_encode_str(k))
            out.append(":")
            encode(x, out, tagged)
        out.append("}")
    elif t is dict:
        out.append('{"$dict":[')
        first = True
        for k, x in v.items():
            if not first:
                out.append(",")
            first = False
            out.append("[")
            encode(k, out, tagged)
            out.append(",")
            encode(x, out, tagged)
            out.append("]")
        out.append("]}")
    elif t is set:
        _encode_items(v, out, tagged, '{"$set":[', "]}")
    elif t is frozenset:
        _encode_items(v, out, tagged, '{"$frozenset":[', "]}")
    elif t is bytes:
        out.append(f'{{"$bytes":"{v.hex()}"}}')
    elif t is complex:
        out.append('{"$complex":[')
        encode(v.real, out, tagged)
        out.append(",")
        encode(v.imag, out, tagged)
        out.append("]}")
    elif t is Opaque:
        out.append(f'{{"$opaque":{_encode_str(v.reason)}}}')
    else:  # only plain copies reach here; this is a bug in the harness, not the candidate
        raise TypeError(f"cannot encode {t.__name__}")


def _encode_items(items, out, tagged, opening, closing):
    out.append(opening)
    first = True
    for x in items:
        if not first:
            out.append(",")
        first = False
        encode(x, out, tagged)
    out.append(closing)


def frame_bytes(fields):
    """One frame: length prefix and the JSON object; only the field ``v`` carries a tagged value."""
    out = ["{"]
    first = True
    for k, v in fields.items():
        if not first:
            out.append(",")
        first = False
        out.append(_encode_str(k))
        out.append(":")
        encode(v, out, tagged=(k == "v"))
    out.append("}")
    data = "".join(out).encode("ascii")
    return len(data).to_bytes(4, "big") + data


class Channel:
    """The result pipe to the parent."""

    def __init__(self, fd):
        self.fd = fd

    def send(self, fields):
        data = frame_bytes(fields)
        while data:
            data = data[_write(self.fd, data):]


# -------------------------------------------------------------------------------------------------
# Describing what happened: exceptions, captured output, execution traces.


def _short_repr(v, limit):
    """repr() that cannot raise and stays short; large built-in containers are summarised first, so
    a million-element list is not rendered just to be cut."""
    t = type(v)
    try:
        if (t is list or t is tuple or t is set or t is frozenset or t is dict) and len(v) > 12:
            items = list(itertools.islice(v.items() if t is dict else v, 8))
            text = repr(t(items) if t is not dict else dict(items))
            text = text[:-1] + f", ... ({len(v)} items)" + text[-1:]
        elif (t is str or t is bytes) and len(v) > limit:
            text = repr(v[:limit])
        else:
            text = repr(v)
        if type(text) is not str:
            text = "<unprintable>"
    except BaseException as e:  # a candidate's __repr__ may raise anything
        if isinstance(e, _TestTimeout):
            raise
        text = f"<{t.__name__} object: repr() raised {type(e).__name__}>"
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _safe_str(exc):
    try:
        text = str(exc)
        return text if type(text) is str else "<unprintable>"
    except BaseException as e:
        if isinstance(e, _TestTimeout):
            raise
        return "<str() of the exception raised>"


class Describer:
    """Turns exceptions into frame fields, keeping only the traceback lines inside the candidate."""

    def __init__(self, source):
        self.lines = source.splitlines()

    def line(self, n):
        return self.lines[n - 1].strip() if 0 < n <= len(self.lines) else ""

    def exception(self, exc, test_s):
        if isinstance(exc, _TestTimeout):
            kind, message = "TimeoutError", f"the test took longer than the {test_s:g} s limit"
        elif isinstance(exc, _OutputLimit):
            kind, message = "OutputLimitExceeded", "the test printed more than the output limit"
        else:
            kind, message = type(exc).__name__, _safe_str(exc)
        frames = []
        tb = exc.__traceback__
        while tb is not None:
            code = tb.tb_frame.f_code
            if code.co_filename == CANDIDATE_FILE:
                n = tb.tb_lineno or 0
                frames.append([n, code.co_name, self.line(n)])
            tb = tb.tb_next
        if isinstance(exc, SyntaxError) and exc.filename == CANDIDATE_FILE and exc.lineno:
            frames.append([exc.lineno, "<module>", self.line(exc.lineno)])
        if len(message) > EXCERPT_CHARS:
            message = message[:EXCERPT_CHARS] + "..."
        return {"type": kind, "msg": message, "tb": frames[-TRACEBACK_FRAMES:]}


class Capture(io.TextIOBase):
    """sys.stdout/sys.stderr for one test: keeps an excerpt, counts everything, and raises once the
    test has printed more than the output limit (so 1 GB of prints costs milliseconds, not memory)."""

    def __init__(self, limit):
        self.parts = []
        self.kept = 0
        self.total = 0
        self.limit = limit

    def write(self, s):
        if not isinstance(s, str):
            raise TypeError(f"write() argument must be str, not {type(s).__name__}")
        n = len(s)
        self.total += n
        if self.kept < EXCERPT_CHARS:
            piece = s[: EXCERPT_CHARS - self.kept]
            self.parts.append(piece)
            self.kept += len(piece)
        if self.total > self.limit:
            raise _OutputLimit
        return n

    def writable(self):
        return True

    def excerpt(self):
        text = "".join(self.parts)
        if self.total > self.kept:
            text += f"... [{self.total - self.kept} more characters]"
        return text


class Tracer:
    """A line-level trace of the candidate's own frames: each executed line with the variables it
    changed (as RethinkMCTS feeds back for rethinking), capped at TRACE_EVENTS lines."""

    def __init__(self, describer):
        self.describer = describer
        self.events = []
        self.state = {}  # frame -> (last line, {name: repr})

    def __call__(self, frame, event, arg):
        if frame.f_code.co_filename != CANDIDATE_FILE or len(self.events) >= TRACE_EVENTS:
            return None
        self.state[frame] = (0, self._snapshot(frame))
        args = ", ".join(f"{k}={v}" for k, v in self.state[frame][1].items())
        self._add(f"call {frame.f_code.co_name}({args})")
        return self._local

    def _snapshot(self, frame):
        return {k: _short_repr(v, 60) for k, v in frame.f_locals.items() if not k.startswith("__")}

    def _add(self, text):
        self.events.append(text if len(text) <= TRACE_CHARS else text[: TRACE_CHARS - 3] + "...")

    def _step(self, frame, suffix=""):
        line, before = self.state.get(frame, (0, {}))
        now = self._snapshot(frame)
        if line:
            changed = ", ".join(f"{k}={v}" for k, v in now.items() if before.get(k) != v)
            text = f"line {line}: {self.describer.line(line)}"
            if changed:
                text += f"   # {changed}"
            self._add(text + suffix)
        self.state[frame] = (frame.f_lineno, now)

    def _local(self, frame, event, arg):
        if len(self.events) >= TRACE_EVENTS:
            return None
        if event == "line":
            self._step(frame)
        elif event == "return":
            self._step(frame, f"   -> returns {_short_repr(arg, 60)}")
            self.state.pop(frame, None)
        elif event == "exception":
            self._add(f"line {frame.f_lineno}: raises {arg[0].__name__}: {_short_repr(arg[1], 80)}")
        return self._local


# -------------------------------------------------------------------------------------------------
# Running: one guarded step per test.


class Runner:
    def __init__(self, job, channel):
        self.job = job
        self.channel = channel
        self.test_s = job["test_s"]
        self.output_limit = job["output_bytes"]
        self.describer = Describer(job["code"])

    def guarded(self, action, tracer=None):
        """Run ``action()`` under the per-test timer with stdout/stderr captured.
        Returns (value, exception fields or None, stdout excerpt, stderr excerpt, seconds)."""
        out, err = Capture(self.output_limit), Capture(self.output_limit)
        saved = sys.stdout, sys.stderr
        start = _perf()
        value = exc = None
        try:
            _setitimer(_ITIMER_REAL, self.test_s)
            try:
                sys.stdout, sys.stderr = out, err
                if tracer is not None:
                    _settrace(tracer)
                value = action()
            except BaseException as e:
                exc = self.describer.exception(e, self.test_s)
            finally:
                _settrace(None)
                _setitimer(_ITIMER_REAL, 0)
        except _TestTimeout as e:  # the alarm fired while describing the candidate's exception
            exc = self.describer.exception(e, self.test_s)
        sys.stdout, sys.stderr = saved
        return value, exc, out.excerpt(), err.excerpt(), _perf() - start


def _test_namespace(module, pristine, fn, entry):
    """Globals for test code: the candidate's helpers (HumanEval tests call e.g. ``poly`` from the
    prompt) but not its shadows of builtins, the builtins as they were before the candidate ran,
    and the function under both names (HumanEval calls it ``candidate``, MBPP by its name)."""
    ns = {k: v for k, v in module.items() if not k.startswith("__") and k not in pristine}
    ns.update({"__builtins__": pristine, "__name__": "__test__", "candidate": fn, entry: fn})
    return ns


def _function_test(runner, test, module, pristine, fn, entry, tracer):
    """Frame fields for one test of a function problem."""
    mode = test[0]
    copier = Copier(runner.output_limit)
    if mode == "call":
        args = test[1]
        value, exc, out, err, seconds = runner.guarded(lambda: copier.plain(fn(*args)), tracer)
        fields = {} if exc is not None else {"v": value}
    elif mode == "expr":
        ns = _test_namespace(module, pristine, fn, entry)

        def evaluate():
            exec(compile(test[1], TEST_FILE, "exec", dont_inherit=True), ns)
            return copier.plain(eval(compile(test[2], TEST_FILE, "eval", dont_inherit=True), ns))

        value, exc, out, err, seconds = runner.guarded(evaluate, tracer)
        fields = {} if exc is not None else {"v": value}
    else:  # "assert": the test code judges; the candidate's results reach it as plain copies
        returned = []

        def proxy(*args, **kwargs):
            result = fn(*args, **kwargs)
            copy = Copier(runner.output_limit)
            plain = copy.plain(result)
            returned[:] = [plain]
            return result if copy.opaque else plain

        ns = _test_namespace(module, pristine, proxy, entry)
        _, exc, out, err, seconds = runner.guarded(
            lambda: exec(compile(test[1], TEST_FILE, "exec", dont_inherit=True), ns), tracer
        )
        fields = {"ok": exc is None}
        if returned:
            fields["v"] = returned[0]
    fields.update({"exc": exc, "out": out, "err": err, "time": seconds})
    return fields


def run_function(job, channel, code):
    runner = Runner(job, channel)
    pristine = dict(builtins.__dict__)  # before the candidate can patch them
    module = {"__name__": "candidate", "__builtins__": builtins}
    if job["prelude"]:
        # The problem's own imports and helpers, as the harnesses run the prompt first; its failure
        # is the problem's, not the program's, and leaves the program to stand alone.
        runner.guarded(lambda: exec(compile(job["prelude"], PRELUDE_FILE, "exec", dont_inherit=True), module))
    _, exc, out, err, seconds = runner.guarded(lambda: exec(code, module))
    entry = job["entry"]
    fn = module.get(entry)
    if exc is None and fn is None:
        exc = {"type": "NameError", "msg": f"the program does not define a function named {entry!r}", "tb": []}
    elif exc is None and not callable(fn):
        exc = {"type": "TypeError", "msg": f"{entry!r} is a {type(fn).__name__}, not a function", "tb": []}
    if exc is not None:
        channel.send({"t": "load_error", "exc": exc, "out": out, "err": err, "time": seconds})
        return
    channel.send({"t": "loaded", "out": out, "err": err, "time": seconds})
    for i, test in enumerate(job["tests"]):
        tracer = Tracer(runner.describer) if job["trace"] else None
        fields = {"t": "test", "i": i}
        fields.update(_function_test(runner, test, module, pristine, fn, entry, tracer))
        if tracer is not None:
            fields["trace"] = tracer.events
        channel.send(fields)
    channel.send({"t": "done"})


# -------------------------------------------------------------------------------------------------
# Stdio programs: one forked child per test, with the test input on fd 0 and fd 1/2 in files.


def _remove(path):
    try:
        posix.unlink(path)
    except OSError:
        pass


def _read_head(path, limit):
    """The first ``limit`` bytes of a file and whether there was more."""
    try:
        fd = posix.open(path, posix.O_RDONLY)
    except OSError:
        return b"", False
    try:
        chunks, size = [], 0
        while size <= limit:
            chunk = posix.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
    finally:
        posix.close(fd)
    data = b"".join(chunks)
    return data[:limit], len(data) > limit


def _program_child(job, code, describer, channel_fd):
    """In the forked child: become the stdio program. Never returns."""
    status = 1
    try:
        posix.close(channel_fd)  # the program cannot write frames
        posix.setpgid(0, 0)  # so the harness can kill it and whatever it starts, together
        for fd, path, flags in (
            (0, ".stdin", posix.O_RDONLY),
            (1, ".stdout", posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC),
            (2, ".stderr", posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC),
        ):
            opened = posix.open(path, flags, 0o600)
            posix.dup2(opened, fd)
            posix.close(opened)
        # One byte over the output limit is how the harness sees that the program wanted to write
        # more (Python ignores SIGXFSZ: past the limit, writes fail with EFBIG).
        limit = job["output_bytes"] + 1
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))
        sys.stdin = open(0, encoding="utf-8", errors="replace", closefd=False)
        sys.stdout = open(1, "w", encoding="utf-8", closefd=False)
        sys.stderr = open(2, "w", encoding="utf-8", errors="backslashreplace", closefd=False)
        sys.argv = ["main.py"]
        tracer = Tracer(describer) if job["trace"] else None
        report = {}
        try:
            if tracer is not None:
                _settrace(tracer)
            exec(code, {"__name__": "__main__", "__builtins__": builtins})
            status = 0
        except SystemExit as e:  # sys.exit(): the exit status Python itself would give
            if e.code is None or isinstance(e.code, int):
                status = int(e.code or 0)
            else:
                print(e.code, file=sys.stderr)
        except BaseException as e:
            report["exc"] = describer.exception(e, job["test_s"])
        finally:
            _settrace(None)
        if tracer is not None:
            report["trace"] = tracer.events
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except BaseException:
                pass
        if report:
            fd = posix.open(".report", posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC, 0o600)
            posix.write(fd, frame_bytes(report)[4:])
            posix.close(fd)
    finally:
        posix._exit(status & 0xFF)


def run_stdio(job, channel, code):
    describer = Describer(job["code"])
    channel.send({"t": "loaded"})
    test_s = job["test_s"]
    for i, test in enumerate(job["tests"]):
        for path in (".stdout", ".stderr", ".report"):
            _remove(path)
        fd = posix.open(".stdin", posix.O_WRONLY | posix.O_CREAT | posix.O_TRUNC, 0o600)
        data = test[1].encode("utf-8", "surrogateescape")
        while data:
            data = data[posix.write(fd, data):]
        posix.close(fd)
        start = _perf()
        pid = posix.fork()
        if pid == 0:
            _program_child(job, code, describer, channel.fd)
        status = None
        timed_out = False
        try:
            _setitimer(_ITIMER_REAL, test_s)
            try:
                status = posix.waitpid(pid, 0)[1]
            finally:
                _setitimer(_ITIMER_REAL, 0)
        except _TestTimeout:
            timed_out = True
        try:
            posix.killpg(pid, 9)  # the program on timeout, and anything it left running
        except OSError:
            pass
        if status is None:
            status = posix.waitpid(pid, 0)[1]
        seconds = _perf() - start
        stdout, truncated = _read_head(".stdout", job["output_bytes"])
        stderr, more = _read_head(".stderr", EXCERPT_CHARS)
        report, _ = _read_head(".report", 1 << 16)
        channel.send({
            "t": "test", "i": i, "v": stdout.decode("utf-8", "replace"), "truncated": truncated,
            "err": stderr.decode("utf-8", "replace") + ("..." if more else ""),
            "exit": posix.WEXITSTATUS(status) if posix.WIFEXITED(status) else None,
            "sig": posix.WTERMSIG(status) if posix.WIFSIGNALED(status) else None,
            "timeout": timed_out, "time": seconds, "report": report.decode("ascii", "replace"),
        })
    channel.send({"t": "done"})


# -------------------------------------------------------------------------------------------------


def confine(job):
    """What the harness sets on itself, so the parent can spawn without a slow, fork-unsafe
    preexec_fn: rlimits, the rlimit backend's Landlock and seccomp confinement (``confine.py``, sent
    as a code object: it imports ctypes, so only that backend pays for it) and the uid; and stdin,
    which carried the job, becomes /dev/null. Any failure here ends the harness before "ready"."""
    for name, value in job["rlimits"]:
        resource.setrlimit(getattr(resource, name), (value, value))
    null = posix.open("/dev/null", posix.O_RDONLY)
    posix.dup2(null, 0)
    posix.close(null)
    if job["uid"] is not None:
        posix.chown(".", job["uid"], job["uid"])
    if job["confine"] is not None:
        namespace = {"__name__": "treesearch_sandbox_confine", "__builtins__": builtins}
        exec(job["confine_code"], namespace)
        namespace["apply"](job["confine"])
    if job["uid"] is not None:
        posix.setgroups([])
        posix.setgid(job["uid"])
        posix.setuid(job["uid"])


def main(job):
    """Entry point, called by the bootstrap with the unmarshalled job."""
    channel = Channel(job["result_fd"])
    confine(job)
    faulthandler.enable(file=sys.__stderr__)  # a segfault leaves the candidate's stack in stderr
    _signal.signal(_signal.SIGALRM, _on_alarm)
    channel.send({"t": "ready"})
    try:
        code = compile(job["code"], CANDIDATE_FILE, "exec", dont_inherit=True)
    except (SyntaxError, ValueError) as e:  # the parent checks syntax first; this is a backstop
        channel.send({"t": "load_error", "exc": Describer(job["code"]).exception(e, 0), "out": "", "err": "", "time": 0.0})
        posix._exit(0)
    if job["kind"] == "stdio":
        run_stdio(job, channel, code)
    else:
        run_function(job, channel, code)
    # Exit now: no waiting for threads the candidate left running, no atexit handlers of its own.
    posix._exit(0)
