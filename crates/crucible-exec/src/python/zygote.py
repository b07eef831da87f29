# Crucible's Python worker. Four kinds of process, all in one sandbox (see the crate README,
# "Python workers"):
#   Z, the zygote: PID 1 of the sandbox, started once. It preloads the standard modules that
#      benchmark programs use, freezes its heap, and never reads a byte of any request: it
#      forks R ahead of each request, waits for it, kills and reaps whatever is left, and
#      reports R's end. So every request starts from the same clean template.
#   R, the request handler (one per request): forks T, tells the executor T's pid (the
#      executor moves T into the program's own cgroup while it waits), then, once T has read
#      the program, reads the limits and the tests, starts D, supervises (output, CPU time of S
#      and everything it started, wall clock), and replies.
#   S, the subject (T once it has read the program frame, and only that): runs the untrusted
#      program. It holds the clean template plus the program, its stdin and its limits, never
#      the tests; in test modes it only answers calls with plain, serialised values over a
#      socket.
#   D, the driver (a thread of R): runs the test code (checks, asserts, call cases) against
#      proxies of the program's functions and reports each test's outcome on a pipe only R
#      holds.
# A `--trusted` worker (tests the judge trusts, and plain runs) has no R: a long-lived driver
# process D and its clean template C take R's place, and only T is forked per request (see
# "long-lived driver" below).
# R and D are not dumpable (no /proc/<pid>/mem, fd or environ for S) and ignore catchable
# signals; a program that kills them anyway only fails. S's own end (its exit status or
# signal) is reported as is: the worker never gives an exit code a meaning of its own.
import ast
import base64
import builtins
import ctypes
import json
import math
import os
import re
import resource
import select
import shutil
import signal
import socket
import struct
import sys
import threading
import time
import _thread
import traceback
import types

# Modules benchmark programs commonly import, loaded once so forks get them for free.
import bisect, cmath, collections, copy, datetime, decimal, fractions, functools, hashlib  # noqa
import heapq, itertools, operator, random, re, statistics, string, typing, array  # noqa
import dataclasses, enum, abc, numbers, textwrap, unicodedata, io, queue, contextlib  # noqa

sys.set_int_max_str_digits(0)
# Module-level bindings win over builtins at lookup time, so a program that patches builtins
# in its own process (S) does not change how this harness serialises its answers.
(isinstance, type, len, str, repr, int, float, list, tuple, dict, set, frozenset, bytes,
 bytearray, complex, range, map, filter, zip, enumerate, reversed, id, callable, iter, getattr,
 Exception, BaseException, print) = (
    builtins.isinstance, builtins.type, builtins.len, builtins.str, builtins.repr, builtins.int,
    builtins.float, builtins.list, builtins.tuple, builtins.dict, builtins.set,
    builtins.frozenset, builtins.bytes, builtins.bytearray, builtins.complex, builtins.range,
    builtins.map, builtins.filter, builtins.zip, builtins.enumerate, builtins.reversed,
    builtins.id, builtins.callable, builtins.iter, builtins.getattr, builtins.Exception,
    builtins.BaseException, builtins.print)
LIBC = ctypes.CDLL(None, use_errno=True)

# The worker's scratch space, wiped by T before each request's program starts. Inside the
# sandbox it is the private tmpfs /tmp; without a sandbox (--no-sandbox) the executor points
# TMPDIR at a fresh private directory. Never wipe a shared directory.
WORK_ROOT = os.path.realpath(os.environ.get("TMPDIR") or "/tmp")
if os.getpid() != 1 and WORK_ROOT in ("/", "/tmp", "/var/tmp", "/root", "/home", "/dev/shm"):
    sys.stderr.write("crucible worker: refusing to use shared directory %s\n" % WORK_ROOT)
    sys.exit(2)
WORK_DIR = os.path.join(WORK_ROOT, "w")
SANDBOXED = os.getpid() == 1
PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
M_ARENA_MAX = -8  # mallopt(3)
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
NO_MORE_REQUESTS = 10  # R's exit status when the request pipe closed before a request
IGNORED_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                   signal.SIGPIPE, signal.SIGQUIT, signal.SIGALRM)
MAX_DEPTH = 200
BUILTIN_NAMES = frozenset(dir(builtins))
# Modules the program may name (it reports its own globals) that do something when imported;
# the driver never imports them.
IMPORT_SIDE_EFFECTS = frozenset(("antigravity", "this", "__hello__", "__phello__", "idlelib",
                                 "tkinter", "turtle", "turtledemo"))
MAX_MESSAGE = 256 << 20
# Descriptors of the program's cgroup `tasks` files (one per v1 hierarchy), opened by the
# executor and handed to the zygote as `--join-fds 3,4,5`; T writes "0" to each to join.
JOIN_FDS = ()
if "--join-fds" in sys.argv[1:-1]:
    JOIN_FDS = tuple(int(fd) for fd in sys.argv[sys.argv.index("--join-fds") + 1].split(",") if fd)
# `--trusted`: this worker serves only requests whose test code the judge trusts (a benchmark's,
# the user's own) and runs them in one long-lived driver process; see `driver_process_main`.
TRUSTED = "--trusted" in sys.argv[1:]
REPLACE_DRIVER = 11  # D's exit status when it finished a request and must not serve another


# ---------------------------------------------------------------- values
class Unserialisable(Exception):
    pass


def encode(value, depth=0, seen=None):
    """Plain values to tagged JSON. Only exact built-in types are accepted."""
    if depth > MAX_DEPTH:
        raise Unserialisable("value nested too deeply")
    t = type(value)
    if value is None or t is bool or t is str:
        return value
    if t is int:
        return value if -(2**53) < value < 2**53 else ["i", int.__repr__(value)]
    if t is float:
        if math.isfinite(value):
            return value
        return ["f", float.__repr__(value)]
    seen = seen if seen is not None else set()
    if id(value) in seen:
        raise Unserialisable("value contains a cycle")
    seen.add(id(value))
    try:
        if t is list or t is tuple or t is set or t is frozenset:
            tag = {list: "l", tuple: "t", set: "s", frozenset: "z"}[t]
            return [tag, [encode(v, depth + 1, seen) for v in t.__iter__(value)]]
        if t is dict:
            return ["d", [[encode(k, depth + 1, seen), encode(v, depth + 1, seen)]
                          for k, v in dict.items(value)]]
        if t is bytes or t is bytearray:
            return ["b" if t is bytes else "y", base64.b64encode(bytes(value)).decode()]
        if t is complex:
            return ["c", [encode(value.real), encode(value.imag)]]
        if t is range:
            return ["r", [value.start, value.stop, value.step]]
        if isinstance(value, (map, filter, zip, enumerate, reversed, types.GeneratorType)) or t.__name__ in (
            "dict_keys", "dict_values", "dict_items", "list_iterator", "tuple_iterator",
        ):
            return ["g", [encode(v, depth + 1, seen) for v in value]]
        if isinstance(value, (collections.OrderedDict, collections.defaultdict, collections.Counter)):
            return ["d", [[encode(k, depth + 1, seen), encode(v, depth + 1, seen)]
                          for k, v in dict.items(value)]]
        if isinstance(value, (int, float, str)) and not isinstance(value, bool):
            base = int if isinstance(value, int) else float if isinstance(value, float) else str
            return encode(base(value), depth, seen)
        raise Unserialisable("a value of type %s cannot be checked" % t.__name__)
    finally:
        seen.discard(id(value))


def decode(obj):
    if not isinstance(obj, list):
        return obj
    tag, payload = obj
    if tag == "i":
        return int(payload)
    if tag == "f":
        return float(payload)
    if tag in ("l", "t", "s", "z", "g"):
        items = [decode(v) for v in payload]
        return {"l": list, "t": tuple, "s": set, "z": frozenset, "g": iter}[tag](items)
    if tag == "d":
        return {decode(k): decode(v) for k, v in payload}
    if tag == "b":
        return base64.b64decode(payload)
    if tag == "y":
        return bytearray(base64.b64decode(payload))
    if tag == "c":
        return complex(decode(payload[0]), decode(payload[1]))
    if tag == "r":
        return range(*payload)
    raise ValueError("unknown tag %r" % tag)


# ---------------------------------------------------------------- framing
def send_frame(sock, obj):
    data = json.dumps(obj, separators=(",", ":")).encode()
    sock.sendall(struct.pack("<I", len(data)) + data)


class FrameSocket:
    """One end of the D-S channel. Reads are buffered: a frame's length and body (and often
    the next frame) come in one system call instead of two."""

    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def fileno(self):
        return self.sock.fileno()

    def detach(self):
        return self.sock.detach()

    def close(self):
        self.sock.close()

    def sendall(self, data):
        self.sock.sendall(data)

    def recv_exact(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(max(n - len(self.buf), 1 << 16))
            if not chunk:
                raise EOFError
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n:]
        return data


def recv_frame(sock):
    (n,) = struct.unpack("<I", sock.recv_exact(4))
    if n > MAX_MESSAGE:
        raise EOFError
    return json.loads(sock.recv_exact(n))


def read_exact_fd(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)




def write_frame(fd, obj):
    """One length-prefixed JSON frame on a pipe, in a single write when it fits PIPE_BUF."""
    data = json.dumps(obj, separators=(",", ":")).encode()
    view = memoryview(struct.pack("<I", len(data)) + data)
    while view:
        view = view[os.write(fd, view):]


def read_frame_fd(fd):
    (n,) = struct.unpack("<I", read_exact_fd(fd, 4))
    if n > MAX_MESSAGE:
        raise EOFError
    return json.loads(read_exact_fd(fd, n))


# ---------------------------------------------------------------- child setup
def place_fds(mapping):
    """dup2 each (fd -> number) and close every other descriptor."""
    high = [os.dup(fd) for fd, _ in mapping]
    for h, (_, target) in zip(high, mapping):
        os.dup2(h, target, inheritable=True)
    keep = max(t for _, t in mapping) + 1
    os.closerange(keep, 65536)


def set_limits(prog, cpu_seconds, as_bytes):
    cpu = max(1, int(math.ceil(cpu_seconds)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if as_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    resource.setrlimit(resource.RLIMIT_STACK, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (prog["file_size_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (prog["open_files"],) * 2)


def vm_size():
    """This process's address space in bytes (the program's RLIMIT_AS starts from it)."""
    try:
        with open("/proc/self/statm", "rb") as f:
            return int(f.read().split()[0]) * PAGE_SIZE
    except (OSError, ValueError, IndexError):
        return 256 << 20


# ---------------------------------------------------------------- subject
# The signals Python itself handles specially; every other one gets its default action back
# (the zygote ignores them, and a forked child inherits that).
PYTHON_SIGNALS = {signal.SIGINT: signal.default_int_handler, signal.SIGPIPE: signal.SIG_IGN,
                  signal.SIGXFSZ: signal.SIG_IGN}


def reset_signals():
    for sig in IGNORED_SIGNALS + (signal.SIGXFSZ,):
        signal.signal(sig, PYTHON_SIGNALS.get(sig, signal.SIG_DFL))


def join_cgroup():
    """T moves itself into the program's cgroup when the executor handed us its `tasks` files
    (cgroup v1): a task that moves itself skips the kernel's global migration lock, whose
    RCU grace period costs a move from outside about 20 ms. The descriptors are closed here,
    so S never holds them. Without them the executor moves T from outside."""
    try:
        for fd in JOIN_FDS:
            os.write(fd, b"0")
    except OSError:
        os._exit(73)  # R reports the worker broken; the program never runs outside its cgroup
    for fd in JOIN_FDS:
        os.close(fd)


def subject_main(requests, ready_w, out_w, err_w, events_w, s_chan):
    """T, forked ahead of the request, joins the program's cgroup (or waits while the executor
    moves it there), reads the program frame and nothing else, and becomes S."""
    join_cgroup()
    os.write(ready_w, b"j")  # in the program's cgroup (or nothing to join): R announces us
    LIBC.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)  # nothing here but the program: R may read /proc
    go = os.read(requests, 1)
    if go != b"G":
        os._exit(NO_MORE_REQUESTS if not go else 71)
    prog = read_frame_fd(requests)
    os.write(ready_w, b"1")  # R reads the rest of the request (the tests) from here on
    testing = prog["mode"] in ("code", "calls")
    wipe_tmp()
    os.makedirs(WORK_DIR, exist_ok=True)
    os.chdir(WORK_DIR)
    stdin = prog.get("stdin", "")
    if stdin:
        stdin_path = os.path.join(WORK_ROOT, ".stdin")
        with open(stdin_path, "wb") as f:
            f.write(stdin.encode("utf-8", "surrogateescape"))
        stdin_fd = os.open(stdin_path, os.O_RDONLY)
        os.unlink(stdin_path)
    else:
        stdin_fd = os.open("/dev/null", os.O_RDONLY)
    # The request and reply pipes, R's ends, the other channel: closed here.
    place_fds([(stdin_fd, 0), (out_w, 1), (err_w, 2), (s_chan.fileno() if testing else events_w, 3)])
    s_chan.detach()
    os.setsid()
    as_bytes = vm_size() + prog["memory_bytes"] if prog.get("address_space") else 0
    set_limits(prog, prog["cpu_ms"] / 1000.0 + 1, as_bytes)
    reset_signals()
    # The random module reseeded itself in this process already (its at-fork hook): no two
    # programs share a sequence.
    if testing:
        subject_serve(prog, FrameSocket(socket.socket(fileno=3)))
    else:
        subject_run(prog, 3)


def program_module(name):
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    module.__file__ = os.path.join(WORK_DIR, "main.py")
    sys.modules[name] = module
    if name == "__main__":
        sys.modules["__main__"] = module
    return module


def exit_status(exc):
    """The process exit status CPython gives an uncaught SystemExit."""
    code = exc.code
    if code is None:
        return 0
    if isinstance(code, int):
        return code & 0xFF if -(2**63) <= code < 2**63 else 255
    try:
        sys.stderr.write(str(code) + "\n")
    except BaseException:  # noqa: B902 - a broken __str__ or stream
        pass
    return 1


def end_like_python(status):
    """What CPython does at exit: wait for non-daemon threads, run atexit, flush, exit."""
    try:
        if "threading" in sys.modules:
            sys.modules["threading"]._shutdown()
    except BaseException:  # noqa: B902
        pass
    try:
        import atexit
        atexit._run_exitfuncs()
    except BaseException:  # noqa: B902
        pass
    flush_and_exit(status)


def flush_and_exit(status):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: B902
            if stream is sys.stdout and status == 0:
                status = 120  # CPython's status when stdout cannot be flushed at exit
    os._exit(status)


def die_by_sigint():
    """CPython ends an uncaught KeyboardInterrupt by dying of SIGINT."""
    traceback.print_exc()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:  # noqa: B902
            pass
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    os.kill(os.getpid(), signal.SIGINT)
    os._exit(130)


def compile_program(source):
    """The program's code object, or the compiler's message (no program code has run yet)."""
    try:
        return compile(source, "main.py", "exec"), None
    except (SyntaxError, ValueError, RecursionError, MemoryError, OverflowError) as exc:
        return None, "".join(traceback.format_exception_only(type(exc), exc))


def subject_run(prog, events):
    """stdin/stdout and plain runs: the program is __main__. `events` tells R about a program
    that does not compile, and a MemoryError that ends it, without touching its exit status."""
    sys.argv = ["main.py"]
    module = program_module("__main__")
    code, error = compile_program(prog["source"])
    if code is None:
        write_line(events, {"compile": error})
        os._exit(1)
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        end_like_python(exit_status(exc))
    except KeyboardInterrupt:
        die_by_sigint()
    except MemoryError as exc:
        exc.__traceback__ = None
        del exc
        write_line(events, {"memory_error": True})
        try:
            sys.stderr.write("MemoryError\n")
        except BaseException:  # noqa: B902
            pass
        flush_and_exit(1)
    except BaseException:  # noqa: B902 - CPython prints the traceback and exits 1
        traceback.print_exc()
        flush_and_exit(1)
    end_like_python(0)


def write_line(fd, obj):
    try:
        os.write(fd, (json.dumps(obj) + "\n").encode())
    except (OSError, TypeError, ValueError):
        pass


def describe_names(namespace):
    names = {}
    for name, value in list(namespace.items()):
        if name.startswith("__"):
            continue
        if isinstance(value, types.ModuleType):
            names[name] = {"type": "module", "module": value.__name__}
        elif callable(value):
            names[name] = {"type": "callable"}
        else:
            try:
                names[name] = {"type": "value", "value": encode(value)}
            except Unserialisable:
                names[name] = {"type": "opaque"}
    return names


def error_payload(exc):
    if isinstance(exc, MemoryError):
        # Formatting the traceback would need the memory the program just ran out of.
        return {"error": "MemoryError", "message": "", "traceback": "MemoryError"}
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "error": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": "".join(tb)[-3000:],
    }


def subject_serve(prog, chan):
    """Test modes: load the program, then answer calls with plain values. The program ending
    the process (sys.exit, os._exit, a signal) ends it for real: D sees the end, R its status."""
    module = program_module("__crucible_program__")
    code, error = compile_program(prog["source"])
    if code is None:
        send_frame(chan, {"load": "syntax", "message": error, "traceback": ""})
        os._exit(1)
    try:
        exec(code, module.__dict__)
    except SystemExit as exc:
        end_like_python(exit_status(exc))
    except KeyboardInterrupt:
        die_by_sigint()
    except BaseException as exc:  # noqa: B902
        payload = error_payload(exc)
        exc.__traceback__ = None
        del exc
        send_frame(chan, {"load": "error", **payload})
        flush_and_exit(1)
    send_frame(chan, {"load": "ok", "names": describe_names(module.__dict__)})
    ns = module.__dict__
    batch, at = [], 0  # calls D sent ahead, answered one by one (see `Remote`)
    while True:
        if at < len(batch):
            msg, at = batch[at], at + 1
        else:
            try:
                msg = recv_frame(chan)
            except (EOFError, OSError):
                end_like_python(0)
            if "batch" in msg:
                batch, at = msg["batch"], 0
                continue
        try:
            target = ns[msg["name"]]
            args = [decode(a) for a in msg["args"]]
            result = target(*args)
            reply = {"value": encode(result)}
            changed = {}
            for i, arg in enumerate(args):
                if type(arg) in (list, dict, set, bytearray):
                    after = encode(arg)
                    if after != msg["args"][i]:
                        changed[str(i)] = after
            if changed:
                reply["mutated"] = changed
        except SystemExit as exc:
            end_like_python(exit_status(exc))
        except KeyboardInterrupt:
            die_by_sigint()
        except BaseException as exc:  # noqa: B902
            reply = error_payload(exc)
            exc.__traceback__ = None
            del exc
        result = args = None
        try:
            send_frame(chan, reply)
        except (OSError, TypeError, ValueError) as exc:
            send_frame(chan, error_payload(exc))


# ---------------------------------------------------------------- driver
class ProgramError(Exception):
    """An exception the program raised that has no built-in counterpart."""


class ProgramExited(Exception):
    pass


class JudgeBug(Exception):
    """The driver broke its own protocol (a call sent ahead did not come). Never the program's
    doing: it is reported as such."""


class Remote:
    """D's end of the calls. Calls the tests are certain to make next can be sent ahead in one
    frame (`send_ahead`): S answers them one by one as it goes, without waiting for D between
    them, and D takes each answer when its test makes that call. Only one frame of calls is in
    flight at a time: S reads a whole frame before it answers any of it, and D sends the next
    one only after it took every answer of the last, so neither end can block the other on a
    full socket."""

    AHEAD_CALLS = 64
    AHEAD_BYTES = 1 << 20

    def __init__(self, chan):
        self.chan = chan
        self.dead = None
        self.last_traceback = None
        self.queued = []  # [(name, encoded args)] the tests will make, in order, not yet sent
        self.queued_at = 0
        self.in_flight = 0  # sent ahead, answer not yet taken

    def queue(self, calls):
        """Calls (name, encoded args) the tests will make next, in this order, each exactly
        once: they are sent ahead in frames as the tests consume them."""
        self.queued = list(calls)
        self.queued_at = 0

    def taken(self):
        """How many queued calls were answered and taken, or dropped."""
        return self.queued_at - self.in_flight

    def skip(self, count):
        """Drop the next `count` queued calls: their tests ended before making them (an error
        before the call). One already sent ran in S anyway; its answer is read and dropped."""
        for _ in range(count):
            if self.in_flight:
                name = self.queued[self.taken()][0]
                self.in_flight -= 1
                try:
                    self.receive(name)
                except ProgramExited:
                    pass
            elif self.queued_at < len(self.queued):
                self.queued_at += 1

    def drain(self):
        """Drop every queued call not taken (see `skip`)."""
        self.skip(len(self.queued) - self.taken())
        self.queued, self.queued_at = [], 0

    def take(self, name, encoded):
        """S's reply to the next queued call, which must be (name, encoded)."""
        if self.in_flight == 0:
            self.flush()
        if self.queued[self.taken()] != (name, encoded):
            raise JudgeBug("a call sent ahead to the program was not the one the tests made")
        self.in_flight -= 1
        return self.receive(name)

    def flush(self):
        """Send the next frame of queued calls."""
        batch, size = [], 0
        while self.queued_at < len(self.queued) and len(batch) < self.AHEAD_CALLS \
                and (not batch or size < self.AHEAD_BYTES):
            name, encoded = self.queued[self.queued_at]
            batch.append({"name": name, "args": encoded})
            size += len(name) + sum(len(repr(a)) for a in encoded)
            self.queued_at += 1
        if not batch:
            raise JudgeBug("no call was queued")
        self.in_flight = len(batch)
        if self.dead:
            return
        try:
            send_frame(self.chan, {"batch": batch})
        except OSError:
            self.dead = "the program exited or crashed during a call to %s()" % batch[0]["name"]

    def pending(self):
        return self.in_flight > 0 or self.queued_at < len(self.queued)

    def call(self, name, args):
        if self.dead and not self.pending():
            raise ProgramExited(self.dead)
        try:
            encoded = [encode(a) for a in args]
        except Unserialisable as exc:
            raise ProgramError("an argument cannot be passed to the program: %s" % exc)
        if self.pending():
            reply = self.take(name, encoded)
        else:
            try:
                send_frame(self.chan, {"name": name, "args": encoded})
            except OSError:
                self.dead = "the program exited or crashed during a call to %s()" % name
                raise ProgramExited(self.dead)
            reply = self.receive(name)
        return self.answer(reply, args)

    def receive(self, name):
        """S's next reply frame; the program ending makes every later call fail alike."""
        if self.dead:
            raise ProgramExited(self.dead)
        try:
            return recv_frame(self.chan)
        except (EOFError, OSError):
            self.dead = "the program exited or crashed during a call to %s()" % name
            raise ProgramExited(self.dead)

    def answer(self, reply, args):
        if "value" in reply:
            for index, value in reply.get("mutated", {}).items():
                mirror(args[int(index)], decode(value))
            return decode(reply["value"])
        self.last_traceback = reply.get("traceback")
        kind = getattr(builtins, reply["error"], None)
        message = reply.get("message", "")
        if isinstance(kind, type) and issubclass(kind, Exception) and kind is not AssertionError:
            try:
                mirrored = kind(message)
            except Exception:  # noqa: BLE001 - exotic constructors
                mirrored = None
            if mirrored is not None:
                raise mirrored
        raise ProgramError("%s: %s" % (reply["error"], message))


def mirror(original, updated):
    if isinstance(original, list):
        original[:] = updated
    elif isinstance(original, dict):
        original.clear()
        original.update(updated)
    elif isinstance(original, set):
        original.clear()
        original.update(updated)
    elif isinstance(original, bytearray):
        original[:] = updated


def proxy(remote, name):
    def call(*args, **kwargs):
        if kwargs:
            raise ProgramError("keyword arguments are not supported across the sandbox")
        return remote.call(name, args)
    call.__name__ = name
    call.__crucible_proxy__ = name  # the program's name for it (`candidate` is one alias)
    return call


class Reporter:
    def __init__(self, fd):
        self.fd = fd
        self.count = 0
        self.imported = False  # the driver imported a module the program named

    def send(self, obj):
        data = (json.dumps(obj) + "\n").encode()
        while data:
            n = os.write(self.fd, data)
            data = data[n:]

    def test(self, name, status, detail=None):
        self.count += 1
        self.send({"test": name[:200], "status": status, "detail": detail})


def short(value, limit=500):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


class TestSource:
    """Test code with its lines split once. Naming a statement looks up its first line here;
    ast.get_source_segment rescans the whole text on every call, which made a suite of a
    thousand asserts over a large input table quadratic (EvalPlus's plus tier: minutes)."""

    def __init__(self, text):
        self.text = text
        # The line breaks the tokenizer counts (not str.splitlines, which also splits on \f).
        self.lines = re.split("\r\n|\r|\n", text)


def stmt_name(source, node):
    """The statement's first line, as written (for test names and failure messages)."""
    lineno = getattr(node, "lineno", 0)
    if not 0 < lineno <= len(source.lines):
        return "line %d" % lineno
    line = source.lines[lineno - 1].encode()
    end = node.end_col_offset if node.end_lineno == lineno else len(line)
    first = line[node.col_offset:end].decode(errors="replace").strip()
    return (first or "line %d" % lineno)[:160]


def contains_assert(node):
    return any(isinstance(n, ast.Assert) for n in ast.walk(node))


def run_statement(node, source, g, remote, planned=None):
    """Run one statement; returns (status, detail). `planned`: the statement is
    `assert <call> == <literal>` with its call sent ahead (a step of `plan_calls` with its
    literal): the answer is taken and compared with the literal, neither side compiled."""
    try:
        if planned is not None:
            _, name, args, encoded, (right,) = planned
            left = remote.answer(remote.take(name, encoded), args)
            if left == right:
                return "passed", None
            return "wrong_answer", "assertion failed: %s\n  left:  %s\n  right: %s" % (
                stmt_name(source, node), short(left), short(right))
        if isinstance(node, ast.Assert) and isinstance(node.test, ast.Compare) \
                and len(node.test.ops) == 1 and isinstance(node.test.ops[0], ast.Eq):
            left = eval(compile(ast.Expression(node.test.left), "<tests>", "eval"), g)
            right = eval(compile(ast.Expression(node.test.comparators[0]), "<tests>", "eval"), g)
            if left == right:
                return "passed", None
            return "wrong_answer", "assertion failed: %s\n  left:  %s\n  right: %s" % (
                stmt_name(source, node), short(left), short(right))
        module = ast.Module(body=[node], type_ignores=[])
        exec(compile(module, "<tests>", "exec"), g)
        return "passed", None
    except AssertionError as exc:
        msg = "assertion failed: %s" % stmt_name(source, node)
        if str(exc):
            msg += " (%s)" % str(exc)[:300]
        return "wrong_answer", msg
    except ProgramExited as exc:
        return "runtime_error", str(exc)
    except MemoryError:
        return "memory_limit", "MemoryError"
    except BaseException as exc:  # noqa: B902
        detail = "%s: %s" % (type(exc).__name__, str(exc)[:500])
        if remote.last_traceback:
            detail += "\n" + remote.last_traceback
            remote.last_traceback = None
        return "runtime_error", detail


def driver_code(req, remote, loaded, reporter):
    source = TestSource(req["tests"])
    g = {"__name__": "__crucible_tests__", "__builtins__": builtins}
    candidate = req.get("entry_point")
    for name, info in loaded["names"].items():
        # The tests' `abs`, `len` or `all` are Python's: a program's own versions (proxies that
        # answer whatever it likes) must not stand in for them. Only the entry point may bear
        # a builtin's name.
        if name in BUILTIN_NAMES and name != candidate:
            continue
        if info["type"] == "value":
            g[name] = decode(info["value"])
        elif info["type"] == "module":
            if info["module"].split(".")[0] in IMPORT_SIDE_EFFECTS:
                continue
            if info["module"] not in sys.modules:
                # A module the program named, imported here at its request: a long-lived
                # driver must not keep it for another request's tests (it is replaced).
                reporter.imported = True
            try:
                g[name] = __import__(info["module"])
                for part in info["module"].split(".")[1:]:
                    g[name] = getattr(g[name], part)
            except BaseException:
                pass
        else:
            g[name] = proxy(remote, name)
    try:
        tree = ast.parse(source.text)
    except SyntaxError as exc:
        reporter.test("test code", "runtime_error", "the test code does not parse: %s" % exc)
        return
    check = None
    body = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == "check":
            check = node
            continue
        call = node.value if isinstance(node, ast.Expr) else None
        if isinstance(call, ast.Call) and isinstance(call.func, ast.Name) and call.func.id == "check":
            if call.args and isinstance(call.args[0], ast.Name):
                candidate = call.args[0].id
            continue
        body.append(node)
    if not run_block(body, source, g, remote, reporter):
        return
    if check is not None:
        if not candidate:
            reporter.test("check", "runtime_error",
                          "the test code defines check(candidate) but no entry point was given")
            return
        if candidate not in g:
            reporter.test("check", "runtime_error", "the program does not define `%s`" % candidate)
            return
        params = check.args.args
        g[params[0].arg if params else "candidate"] = g[candidate]
        run_block(check.body, source, g, remote, reporter)


def run_block(nodes, source, g, remote, reporter):
    plan, plan_end = plan_calls(nodes, g)
    remote.queue((name, encoded) for _, name, _, encoded, _ in plan)
    steps = {index: step for step, index in enumerate(p[0] for p in plan)}
    try:
        for i, node in enumerate(nodes):
            step = steps.get(i)
            if i >= plan_end:
                remote.drain()  # past the plan: what earlier tests did not take is dropped
            elif step is not None and step > remote.taken():
                remote.skip(step - remote.taken())  # earlier tests raised before their call
            is_test = contains_assert(node)
            planned = plan[step] if step is not None and plan[step][4] is not None else None
            status, detail = run_statement(node, source, g, remote, planned)
            if is_test:
                reporter.test(stmt_name(source, node), status, detail)
            elif status != "passed":
                reporter.test(stmt_name(source, node), status, detail)
                return False
        return True
    finally:
        remote.drain()


# ---------------------------------------------------------------- calls sent ahead
# A test suite is mostly `assert f(<literal>) == <literal>`: each statement makes one call to
# the program, with arguments known before it runs. Such calls are sent to S ahead, in one
# frame, so S answers them back to back instead of D and S waking each other twice per call
# (the tests run exactly as before: each assert still takes its own call's answer, in order).
# A statement qualifies only when the one program call it makes is certain, and certain to
# be the only one: an `assert` whose test calls one program function, unconditionally, with
# literal arguments, before anything that could raise, and otherwise calls only builtins and
# module functions on plain data. So the program sees exactly the calls, in exactly the order,
# it saw before. The plan ends at the first statement that does not qualify (it may call the
# program in ways the plan cannot see); the rest runs as before, one call at a time.
PLAIN_TYPES = frozenset((int, float, complex, str, bytes, bool, type(None)))
CONDITIONAL_NODES = (ast.Lambda, ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp,
                     ast.NamedExpr, ast.Await, ast.Yield, ast.YieldFrom)


def plain_data(value, depth=0):
    t = type(value)
    if t in PLAIN_TYPES:
        return True
    if depth > 8:
        return False
    if t in (list, tuple, set, frozenset):
        return all(plain_data(v, depth + 1) for v in value)
    if t is dict:
        return all(plain_data(k, depth + 1) and plain_data(v, depth + 1) for k, v in value.items())
    return False


def proxy_name(value):
    """The program function a proxy stands for, or None."""
    name = getattr(value, "__crucible_proxy__", None) if type(value) is types.FunctionType else None
    return name if type(name) is str else None


def plan_calls(nodes, g):
    """[(statement index, name, args, encoded args, (literal expected,) or None)] for the
    statements that lead `nodes` and qualify (see above), and the index of the first that does
    not; `expected` is set when the statement is exactly `assert <call> == <literal>`."""
    plan = []
    for index, node in enumerate(nodes):
        call = planned_call(node, g)
        if call is None:
            return plan, index
        if call is NO_CALL:
            continue
        name, args = call
        try:
            encoded = [encode(a) for a in args]
        except Unserialisable:
            return plan, index
        expected = None
        test = node.test
        if isinstance(test, ast.Compare) and len(test.ops) == 1 \
                and isinstance(test.ops[0], ast.Eq) and isinstance(test.left, ast.Call) \
                and isinstance(test.left.func, ast.Name) and proxy_name(g.get(test.left.func.id)):
            try:
                expected = (ast.literal_eval(test.comparators[0]),)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                pass
        plan.append((index, name, args, encoded, expected))
    return plan, len(nodes)


NO_CALL = object()


def planned_call(node, g):
    """(name, args) of the one program call an `assert` makes, NO_CALL when it makes none,
    None when it does not qualify."""
    if not isinstance(node, ast.Assert):
        return None
    if node.msg is not None and not isinstance(node.msg, ast.Constant):
        return None
    scan = CallScan(g)
    if not scan.visit(node.test, False) or len(scan.found) > 1 or (scan.found and scan.risky):
        return None
    return scan.found[0] if scan.found else NO_CALL


class CallScan:
    """Walks an expression in evaluation order. `visit` says whether it can run without calling
    the program other than through the calls it collects in `found` ((name, literal args), each
    made exactly once). `risky`: something that may raise (an operation, a builtin's call) is
    evaluated before the first of those calls, so the statement might end before making it,
    and a call sent ahead would have run when the tests never made it."""

    def __init__(self, g):
        self.g = g
        self.found = []
        self.risky = False

    def visit(self, node, conditional):
        ok = self.node(node, conditional)
        if ok and not self.found and not self.atom(node):
            self.risky = True
        return ok

    def atom(self, node):
        """Evaluating `node` cannot raise: a name the scan accepted, a constant, a module's
        attribute that exists."""
        if isinstance(node, (ast.Name, ast.Constant, ast.expr_context, ast.operator,
                             ast.unaryop, ast.cmpop, ast.boolop)):
            return True
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
            module = self.g.get(node.value.id)
            return isinstance(module, types.ModuleType) and hasattr(module, node.attr)
        return False

    def node(self, node, conditional):
        g = self.g
        if isinstance(node, CONDITIONAL_NODES):
            return False
        if isinstance(node, ast.Call):
            func = node.func
            name = proxy_name(g.get(func.id)) if isinstance(func, ast.Name) else None
            if name:
                if conditional or node.keywords:
                    return False
                args = []
                for arg in node.args:
                    if isinstance(arg, ast.Starred):
                        return False
                    try:
                        args.append(ast.literal_eval(arg))
                    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                        return False
                self.found.append((name, args))
                return True
            if isinstance(func, ast.Name):
                if func.id in g or func.id not in BUILTIN_NAMES:
                    return False
            elif isinstance(func, ast.Attribute):
                if not self.visit(func.value, conditional):
                    return False
            else:
                return False
            return all(self.visit(a, conditional) for a in node.args) and \
                all(self.visit(k.value, conditional) for k in node.keywords)
        if isinstance(node, ast.Name):
            if node.id in g:
                value = g[node.id]
                return isinstance(value, types.ModuleType) or plain_data(value)
            return node.id in BUILTIN_NAMES
        if isinstance(node, ast.BoolOp):
            return self.visit(node.values[0], conditional) and \
                all(self.visit(v, True) for v in node.values[1:])
        if isinstance(node, ast.IfExp):
            return self.visit(node.test, conditional) and self.visit(node.body, True) \
                and self.visit(node.orelse, True)
        if isinstance(node, ast.Compare):
            return self.visit(node.left, conditional) and \
                self.visit(node.comparators[0], conditional) and \
                all(self.visit(c, True) for c in node.comparators[1:])
        if isinstance(node, (ast.expr_context, ast.operator, ast.unaryop, ast.cmpop, ast.boolop)):
            return True
        if not isinstance(node, (ast.Constant, ast.Attribute, ast.Subscript, ast.Slice,
                                 ast.BinOp, ast.UnaryOp, ast.Tuple, ast.List, ast.Set, ast.Dict,
                                 ast.JoinedStr, ast.FormattedValue, ast.Starred)):
            return False
        return all(self.visit(child, conditional) for child in ast.iter_child_nodes(node))


def close_enough(out, exp, atol):
    if isinstance(exp, float) or isinstance(out, float):
        if isinstance(out, (int, float)) and isinstance(exp, (int, float)) \
                and not isinstance(out, bool) and not isinstance(exp, bool):
            if math.isnan(exp):
                return math.isnan(out)
            return math.isclose(out, exp, rel_tol=1e-07, abs_tol=atol)
        return False
    if isinstance(exp, (list, tuple)) and type(out) is type(exp):
        return len(out) == len(exp) and all(close_enough(o, e, atol) for o, e in zip(out, exp))
    if isinstance(exp, dict) and isinstance(out, dict):
        return out.keys() == exp.keys() and all(close_enough(out[k], exp[k], atol) for k in exp)
    return out == exp


def driver_calls(req, remote, loaded, reporter):
    entry = req["entry_point"]
    if entry not in loaded["names"]:
        reporter.test("load", "runtime_error", "the program does not define `%s`" % entry)
        return
    atol = float(req.get("atol") or 0.0)
    # Every case is known up front: the calls are sent ahead (see `Remote`), in order.
    cases = []
    for case in req["cases"]:
        try:
            args = ast.literal_eval(case["args"])
            expected = ast.literal_eval(case["expected"])
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            cases.append(("the test case does not parse: %s" % exc, None, None, None))
            continue
        args = list(args) if isinstance(args, (list, tuple)) else [args]
        try:
            encoded = [encode(a) for a in args]
        except Unserialisable as exc:
            encoded = ProgramError("an argument cannot be passed to the program: %s" % exc)
        cases.append((None, args, expected, encoded))
    remote.queue((entry, encoded) for problem, _, _, encoded in cases
                 if problem is None and type(encoded) is list)
    for index, (problem, args, expected, encoded) in enumerate(cases):
        name = "call %d" % (index + 1)
        if problem is not None:
            reporter.test(name, "runtime_error", problem)
            continue
        try:
            if type(encoded) is not list:
                raise encoded
            out = remote.answer(remote.take(entry, encoded), args)
        except ProgramExited as exc:
            reporter.test(name, "runtime_error", str(exc))
            continue
        except MemoryError:
            remote.last_traceback = None
            reporter.test(name, "memory_limit", "input: %s\nMemoryError" % short(args, 300))
            continue
        except BaseException as exc:  # noqa: B902
            detail = "%s: %s" % (type(exc).__name__, str(exc)[:500])
            if remote.last_traceback:
                detail += "\n" + remote.last_traceback
                remote.last_traceback = None
            reporter.test(name, "runtime_error", "input: %s\n%s" % (short(args, 300), detail))
            continue
        if close_enough(out, expected, atol):
            reporter.test(name, "passed")
        else:
            reporter.test(name, "wrong_answer", "input: %s\nexpected: %s\nactual: %s" % (
                short(args, 300), short(expected), short(out)))


def driver_main(tests, chan, report_fd, state=None):
    """The test thread (of R, or of a long-lived driver). Its report goes to a pipe its process
    reads; closing the channel at the end tells S the tests are over. `state` (long-lived
    driver): whether it imported a module the program named, and a lock released as its
    last act."""
    reporter = Reporter(report_fd)
    try:
        drive(tests, chan, reporter)
    finally:
        try:
            chan.close()
            os.close(report_fd)
        finally:
            if state is not None:
                state["imported"] = reporter.imported
                state["done"].release()


def drive(tests, chan, reporter):
    remote = Remote(chan)
    try:
        loaded = recv_frame(chan)
    except (EOFError, OSError):
        reporter.send({"load": "exited"})
        reporter.send({"subject_ended": True})
        return
    if loaded.get("load") != "ok":
        reporter.send({"load": loaded.get("load"), "message": loaded.get("message"),
                       "traceback": loaded.get("traceback")})
        return
    if tests["mode"] == "calls":
        driver_calls(tests, remote, loaded, reporter)
    else:
        driver_code(tests, remote, loaded, reporter)
    if remote.dead:
        reporter.send({"subject_ended": True})  # R waits for S's status then
    reporter.send({"done": reporter.count})


# ---------------------------------------------------------------- request handler
def wipe_tmp():
    names = os.listdir(WORK_ROOT)
    if not names or (names == ["w"] and not os.listdir(WORK_DIR)):
        return  # the common case: the last program wrote no files
    for name in names:
        path = os.path.join(WORK_ROOT, name)
        try:
            if os.path.isdir(path) and not os.path.islink(path):
                for root, dirs, _ in os.walk(path):
                    for d in dirs:
                        try:
                            os.chmod(os.path.join(root, d), 0o700)
                        except OSError:
                            pass
                os.chmod(path, 0o700)
                shutil.rmtree(path, ignore_errors=True)
            else:
                os.unlink(path)
        except OSError:
            pass


def read_proc(path):
    """A small /proc file's bytes: open, read, close (a buffered file object adds four more
    system calls to each read, and R reads these on every CPU poll)."""
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        data = os.read(fd, 65536)
        while len(data) >= 4096:  # a long seq_file (many children) may come in pieces
            more = os.read(fd, 65536)
            if not more:
                break
            data += more
        return data
    finally:
        os.close(fd)


def children(pid):
    """Direct children of a process (every thread's), from /proc."""
    kids = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return kids
    for tid in tids:
        try:
            kids.extend(int(k) for k in read_proc("/proc/%d/task/%s/children" % (pid, tid)).split())
        except (OSError, ValueError):
            pass
    return kids


def descendants(root):
    found, stack = [], [root]
    while stack:
        for kid in children(stack.pop()):
            found.append(kid)
            stack.append(kid)
    return found


def proc_cpu(pid):
    """CPU seconds of a live (or zombie) process and of the children it has reaped."""
    try:
        fields = read_proc("/proc/%d/stat" % pid).rsplit(b")", 1)[1].split()
        return sum(int(x) for x in fields[11:15]) / CLOCK_TICKS
    except (OSError, IndexError, ValueError):
        return 0.0


def usage_cpu(usage):
    return usage.ru_utime + usage.ru_stime


def kill_descendants():
    """Kill everything below this process and reap it. In the sandbox kill(-1) reaches every
    process but ourselves and PID 1 (signals from inside never reach the namespace's init);
    without one only our own descendants are ours to kill (we are their subreaper)."""
    reaped = []
    for _ in range(1000):
        if SANDBOXED:
            try:
                os.kill(-1, signal.SIGKILL)
            except OSError:
                pass
        else:
            for pid in descendants(os.getpid()):
                try:
                    os.kill(pid, signal.SIGKILL)
                except OSError:
                    pass
        while True:
            try:
                pid, status, usage = os.wait4(-1, 0)
            except ChildProcessError:
                break
            except InterruptedError:
                continue
            reaped.append((pid, status, usage))
        # In the sandbox every process is ours or a descendant's, and a dying process hands
        # its children to us before it can be reaped: no child left means nothing left.
        if SANDBOXED or not descendants(os.getpid()):
            break
    return reaped


class Supervisor:
    """R's view of one run: S's end, the CPU of S and everything it started, D's end."""

    def __init__(self, prog, subject):
        self.subject = subject
        self.cpu_limit = prog["cpu_ms"] / 1000.0
        self.wall_limit = prog["wall_ms"] / 1000.0
        self.subject_status = None
        self.subject_by_judge = False
        self.subject_usage = None
        self.subject_end = None
        self.reaped_cpu = 0.0  # reaped descendants of S (orphans we inherited as subreaper)
        self.peak_kb = 0
        self.killed = None
        self.finishing = False

    def reaped(self, pid, status, usage):
        if pid == self.subject:
            if self.subject_status is None:
                self.subject_status, self.subject_usage = status, usage
                self.subject_end = time.monotonic()
                self.subject_by_judge = self.killed is not None or self.finishing
        else:
            self.reaped_cpu += usage_cpu(usage)
        self.peak_kb = max(self.peak_kb, usage.ru_maxrss)

    def reap(self):
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
            if not pid:
                return
            self.reaped(pid, status, usage)

    def cpu(self):
        """CPU seconds of S and of every process it started, dead or alive."""
        total = self.reaped_cpu
        if self.subject_usage is not None:
            total += usage_cpu(self.subject_usage)
        for pid in descendants(os.getpid()):
            total += proc_cpu(pid)
        return total

    def finish(self):
        """Kill whatever is left of S's tree and reap it all."""
        self.finishing = True
        for pid, status, usage in kill_descendants():
            self.reaped(pid, status, usage)


def request_main(requests, replies):
    """R, forked ahead of its request: forks T (the program's process to be), then reads the
    handler frame (limits and tests) once T has read the program, supervises, replies, ends."""
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    events_r, events_w = os.pipe()  # run modes: S tells of a compile error or a MemoryError
    ready_r, ready_w = os.pipe()
    s_chan, d_chan = socket.socketpair()  # test modes: S answers D's calls
    subject = os.fork()
    if subject == 0:
        try:
            subject_main(requests, ready_w, out_w, err_w, events_w, s_chan)
        finally:
            os._exit(70)
    for fd in (out_w, err_w, events_w, ready_w):
        os.close(fd)
    s_chan.close()
    for fd in JOIN_FDS:
        os.close(fd)
    if os.read(ready_r, 1) != b"j":
        # T could not join the program's cgroup: the worker is broken, not the request.
        _, status = os.waitpid(subject, 0)
        os._exit(72)
    write_frame(replies, {"ready": subject})
    if os.read(ready_r, 1) != b"1":
        # T ended before reading a request: the pipe closed (the worker is stopping) or T
        # failed.
        _, status = os.waitpid(subject, 0)
        stopping = os.WIFEXITED(status) and os.WEXITSTATUS(status) == NO_MORE_REQUESTS
        os._exit(NO_MORE_REQUESTS if stopping else 72)
    os.close(ready_r)
    handler = read_frame_fd(requests)
    started = time.monotonic()
    tests = handler.get("tests")
    rep_r = None
    if tests is not None:
        # D runs as a thread here: a process of its own would cost a fork per request.
        # (`_thread`: R ends with os._exit, so threading's bookkeeping would be wasted work.)
        os.close(events_r)
        events_r = None
        rep_r, rep_w = os.pipe()
        _thread.start_new_thread(driver_main, (tests, FrameSocket(d_chan), rep_w))
    else:
        d_chan.close()
    tests = None
    sup = Supervisor(handler, subject)
    reply = supervise(handler, sup, child_wakeups(), True, started, out_r, err_r, rep_r, events_r)
    write_frame(replies, {"reply": reply})
    os._exit(0)


def child_wakeups():
    """A pipe that becomes readable when a child ends (SIGCHLD), for select."""
    wake_r, wake_w = os.pipe()
    os.set_blocking(wake_r, False)
    os.set_blocking(wake_w, False)
    signal.signal(signal.SIGCHLD, lambda *_: None)
    signal.set_wakeup_fd(wake_w)
    return wake_r


def drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except OSError:
        pass


def supervise(prog, sup, wake_r, drain_wake, started, out_r, err_r, rep_r, events_r):
    """Watch one run through `sup` until it ends or passes a limit, then kill what is left of
    it and build the reply. `wake_r` becomes readable when a process of the run may have
    ended (`drain_wake`: a signal wake-up pipe to empty; else `sup.reap` reads it)."""
    testing = rep_r is not None
    out_cap = prog["output_bytes"]
    # CPU time is counted here every 10 ms, or every 100 ms as a backstop when the executor
    # watches the program's cgroup (it then kills the program there).
    cpu_poll = 0.1 if prog.get("cgroup_watch") else 0.01
    streams = {out_r: bytearray(), err_r: bytearray()}
    for fd in (rep_r, events_r):
        if fd is not None:
            streams[fd] = bytearray()
    open_fds = set(streams)
    cpu = 0.0
    next_cpu = time.monotonic() + cpu_poll  # nothing to count yet
    while True:
        sup.reap()
        now = time.monotonic()
        timeout = cpu_poll
        if testing:
            if rep_r not in open_fds:
                break
        elif sup.subject_status is not None:
            # Output pipes may stay open in the program's children; they die below.
            grace = sup.subject_end + 0.2 - now
            if not open_fds - {events_r} or grace <= 0:
                break
            timeout = min(timeout, grace)
        timeout = max(0.0, min(timeout, started + sup.wall_limit - now))
        ready = select.select(list(open_fds) + [wake_r], [], [], timeout)[0]
        for fd in ready:
            if fd == wake_r:
                if drain_wake:
                    drain(wake_r)
                continue
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
            elif fd in (rep_r, events_r) or len(streams[out_r]) + len(streams[err_r]) <= out_cap:
                streams[fd] += chunk
        now = time.monotonic()
        if now >= next_cpu:
            cpu = sup.cpu()
            next_cpu = now + cpu_poll
        if len(streams[out_r]) + len(streams[err_r]) > out_cap:
            sup.killed = "output"
        elif cpu > sup.cpu_limit:
            sup.killed = "cpu"
        elif now - started > sup.wall_limit:
            sup.killed = "wall"
        if sup.killed:
            break
    if testing and not sup.killed and b'"subject_ended"' in streams[rep_r]:
        # The driver saw S end: wait (briefly) for S to be reapable, for its exit status or
        # signal. Its socket closes before its exit is complete, so the driver can finish
        # first.
        give_up = time.monotonic() + 0.5
        while sup.subject_status is None:
            left = give_up - time.monotonic()
            if left <= 0:
                break
            select.select([wake_r], [], [], left)
            if drain_wake:
                drain(wake_r)
            sup.reap()
    wall = time.monotonic() - started
    sup.finish()
    # Everything that held a pipe is dead: read what is left up to the end. (But for the test
    # thread, which may still be running test code that never ends: read what it wrote.)
    if rep_r in open_fds:
        os.set_blocking(rep_r, False)
    for fd in open_fds:
        while True:
            try:
                chunk = os.read(fd, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            if fd in (rep_r, events_r) or len(streams[out_r]) + len(streams[err_r]) <= out_cap:
                streams[fd] += chunk
    reply = {
        "stdout": bytes(streams[out_r][:out_cap]).decode("latin-1"),
        "stderr": bytes(streams[err_r][-65536:]).decode("latin-1"),
        "wall_ms": int(wall * 1000),
        "killed": sup.killed,
        "cpu_ms": int(max(cpu, sup.cpu()) * 1000),
        "peak_kb": sup.peak_kb,
    }
    status = sup.subject_status
    if status is not None and not sup.subject_by_judge:
        if os.WIFSIGNALED(status):
            reply["signal"] = os.WTERMSIG(status)
        else:
            reply["exit_code"] = os.WEXITSTATUS(status)
    if rep_r is not None:
        reply["report"] = bytes(streams[rep_r]).decode("utf-8", "replace")
    if events_r is not None:
        for line in bytes(streams[events_r]).decode("utf-8", "replace").splitlines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict) and isinstance(event.get("compile"), str):
                reply.setdefault("compile_error", event["compile"])
            elif isinstance(event, dict) and event.get("memory_error") is True:
                reply["memory_error"] = True
    return reply


# ---------------------------------------------------------------- long-lived driver
# A `--trusted` worker serves requests whose test code the judge trusts (a benchmark's tests,
# the user's own; never a model's) and plain runs, which have none. Instead of R per request,
# Z forks one long-lived driver D, and D, before it reads any request, forks C, a clean
# template that never reads a request and never runs test or program code. Per request only
# T is forked (by C, as from R otherwise): one fork and one exit instead of two. D reads the
# tests after T has read the program, runs them in a thread against S, supervises S through
# C's reports and replies. S's memory is a copy of C's, which is older than every request.
# D is replaced (Z forks a new one from its clean state) after a request whose test thread
# outlived the reply, or in which D imported a module because the program named it, so no
# program's import and no test still running meets another request. A D that crashes, hangs
# or is killed ends the worker, as R would.
class TemplateEnded(EOFError):
    """C ended while D needed it: only the program's processes can kill it."""


class Ended:
    """A process C reaped, as C reported it: what `Supervisor.reaped` reads of its usage."""

    def __init__(self, cpu, maxrss):
        self.ru_utime, self.ru_stime, self.ru_maxrss = cpu, 0.0, maxrss


class RemoteSupervisor(Supervisor):
    """D's view of a run whose processes are C's children: C reports each one it reaps."""

    def __init__(self, prog, subject, ctl, template):
        Supervisor.__init__(self, prog, subject)
        self.ctl = ctl
        self.template = template

    def message(self, block):
        """C's next report (None when none is waiting and `block` is false)."""
        try:
            data = self.ctl.recv(4096, 0 if block else socket.MSG_DONTWAIT)
        except BlockingIOError:
            return None
        except ConnectionError:  # C died with our word unread
            raise TemplateEnded("the template process ended")
        if not data:
            raise TemplateEnded("the template process ended")
        msg = json.loads(data)
        if "pid" in msg:
            self.reaped(msg["pid"], msg["status"], Ended(msg["cpu"], msg["rss"]))
        return msg

    def reap(self):
        while self.message(False) is not None:
            pass

    def cpu(self):
        total = self.reaped_cpu
        if self.subject_usage is not None:
            total += usage_cpu(self.subject_usage)
        for pid in descendants(self.template):
            total += proc_cpu(pid)
        return total

    def finish(self):
        self.finishing = True
        try:
            self.ctl.sendall(b"k")
        except ConnectionError:
            raise TemplateEnded("the template process ended")
        while "killed" not in self.message(True):
            pass


def template_main(requests, ctl):
    """C: on D's `s` it forks the next request's T and hands D T's pid and the run's pipe ends
    (SCM_RIGHTS); it reaps T, S and every orphan of theirs (it is their subreaper) and reports
    each end to D; on `k` it kills everything below it, reaps it and says `killed`."""
    LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    wake_r = child_wakeups()

    def report(pid, status, usage):
        ctl.sendall(json.dumps({"pid": pid, "status": status, "cpu": usage_cpu(usage),
                                "rss": usage.ru_maxrss}).encode())

    def reap_waiting():
        while True:
            try:
                pid, status, usage = os.wait4(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if not pid:
                return
            report(pid, status, usage)

    while True:
        ready = select.select([ctl, wake_r], [], [])[0]
        if wake_r in ready:
            drain(wake_r)
            reap_waiting()
        if ctl not in ready:
            continue
        cmd = ctl.recv(1)
        if not cmd:
            os._exit(0)  # D ended
        if cmd == b"k":
            for _ in range(1000):
                kids = descendants(os.getpid())
                if not kids:
                    break
                for pid in kids:
                    try:
                        os.kill(pid, signal.SIGKILL)
                    except OSError:
                        pass
                # Wait only for children killed above: an orphan that came to us since is
                # alive, and is killed on the next round.
                killed = set(kids)
                for pid in children(os.getpid()):
                    if pid in killed:
                        try:
                            _, status, usage = os.wait4(pid, 0)
                        except ChildProcessError:
                            continue
                        report(pid, status, usage)
                reap_waiting()
            reap_waiting()
            ctl.sendall(b'{"killed":true}')
        elif cmd == b"s":
            fork_subject(requests, ctl)


def fork_subject(requests, ctl):
    """C forks T with the run's pipes, and hands D its ends."""
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    events_r, events_w = os.pipe()
    ready_r, ready_w = os.pipe()
    s_chan, d_chan = socket.socketpair()
    pid = os.fork()
    if pid == 0:
        try:
            ctl.close()
            # C's SIGCHLD wake-up is not the program's.
            signal.set_wakeup_fd(-1)
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            subject_main(requests, ready_w, out_w, err_w, events_w, s_chan)
        finally:
            os._exit(70)
    socket.send_fds(ctl, [b"%d" % pid], [out_r, err_r, events_r, ready_r, d_chan.fileno()])
    for fd in (out_r, out_w, err_r, err_w, events_r, events_w, ready_r, ready_w):
        os.close(fd)
    s_chan.close()
    d_chan.close()


def driver_process_main(requests, replies):
    """D: forks C before anything else, then serves requests until one leaves something behind
    (it then ends with REPLACE_DRIVER and Z forks another) or the request pipe closes."""
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    ctl, ctl_c = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    template = os.fork()
    if template == 0:
        try:
            ctl.close()
            template_main(requests, ctl_c)
        finally:
            os._exit(70)
    ctl_c.close()
    for fd in JOIN_FDS:
        os.close(fd)  # C keeps them for each T
    try:
        while serve_trusted(requests, replies, ctl, template):
            pass
    except TemplateEnded:
        _, status = os.waitpid(template, 0)
        if os.WIFSIGNALED(status):
            # The program's processes (the only others that may signal C) killed it.
            write_frame(replies, {"lost": "the judge's template process was killed by signal "
                                          "%d" % os.WTERMSIG(status)})
            os._exit(73)
        raise
    os._exit(REPLACE_DRIVER)


def subject_end(ctl, template, subject):
    """T's exit status, from C's report (T ended before its request)."""
    sup = RemoteSupervisor({"cpu_ms": 0, "wall_ms": 0}, subject, ctl, template)
    give_up = time.monotonic() + 5
    while sup.subject_status is None and time.monotonic() < give_up:
        if select.select([ctl], [], [], 0.1)[0]:
            sup.reap()
    return sup.subject_status


def serve_trusted(requests, replies, ctl, template):
    """One request in D. Returns whether D may serve another."""
    try:
        ctl.sendall(b"s")
        while True:
            msg, fds, _, _ = socket.recv_fds(ctl, 4096, 5)
            if fds or not msg:
                break
            # A process of the last request reaped after its end: nothing to account.
    except ConnectionError:
        raise TemplateEnded("the template process ended")
    if len(fds) != 5:
        raise TemplateEnded("the template process did not fork the program's process")
    subject = int(msg)
    out_r, err_r, events_r, ready_r, d_fd = fds
    if os.read(ready_r, 1) != b"j":
        os._exit(72)  # T could not join the program's cgroup: the worker is broken
    write_frame(replies, {"ready": subject})
    if os.read(ready_r, 1) != b"1":
        # T ended before reading a request: the pipe closed (the worker is stopping) or T failed.
        status = subject_end(ctl, template, subject)
        stopping = status is not None and os.WIFEXITED(status) \
            and os.WEXITSTATUS(status) == NO_MORE_REQUESTS
        os._exit(NO_MORE_REQUESTS if stopping else 72)
    os.close(ready_r)
    handler = read_frame_fd(requests)
    started = time.monotonic()
    tests = handler.pop("tests", None)
    rep_r = state = None
    if tests is not None:
        os.close(events_r)
        events_r = None
        rep_r, rep_w = os.pipe()
        state = {"imported": False, "done": _thread.allocate_lock()}
        state["done"].acquire()
        chan = FrameSocket(socket.socket(fileno=d_fd))
        _thread.start_new_thread(driver_main, (tests, chan, rep_w, state))
        chan = None
    else:
        os.close(d_fd)
    tests = None
    sup = RemoteSupervisor(handler, subject, ctl, template)
    reply = supervise(handler, sup, ctl.fileno(), False, started, out_r, err_r, rep_r, events_r)
    for fd in (out_r, err_r, rep_r, events_r):
        if fd is not None:
            os.close(fd)
    # The test thread ends soon after S (its calls fail); test code that still runs (a loop
    # in the tests) must not meet another request, nor a module the program made D import.
    clean = state is None or (state["done"].acquire(True, 1.0) and not state["imported"])
    write_frame(replies, {"reply": reply})
    write_frame(replies, {"end": 0})
    return clean


# ---------------------------------------------------------------- zygote
def wait_for(child):
    """The child's wait status, reaping whatever else ends meanwhile."""
    while True:
        try:
            pid, raw = os.waitpid(-1, 0)
        except ChildProcessError:
            return 0
        if pid == child:
            return raw


def main():
    # Forked children would otherwise touch (and copy) every preloaded object in their first
    # garbage collection.
    import gc
    gc.collect()
    gc.freeze()
    # One malloc arena: D, a thread of R, would otherwise map and fault in a fresh arena of its
    # own in every request. Then give the freed heap back, so each fork copies fewer page-table
    # entries and each exit unmaps fewer pages.
    LIBC.mallopt(M_ARENA_MAX, 1)
    LIBC.malloc_trim(0)
    for sig in IGNORED_SIGNALS:
        signal.signal(sig, signal.SIG_IGN)
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    if not SANDBOXED:
        # Orphans of a request come to us (in the sandbox they come to PID 1, which we are).
        LIBC.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.write(replies, b"READY\n")
    os.dup2(null, 2)  # nobody reads the sandbox's stderr: a full pipe would block us
    while TRUSTED:
        driver = os.fork()
        if driver == 0:
            try:
                driver_process_main(requests, replies)
            except BaseException as exc:  # noqa: B902 - the executor must hear of it
                try:
                    write_frame(replies, {"error": "%s: %s" % (type(exc).__name__, exc)})
                except BaseException:  # noqa: B902
                    pass
            finally:
                os._exit(70)
        status = wait_for(driver)
        kill_descendants()  # C and whatever is left of the last request
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == REPLACE_DRIVER:
            continue  # it finished its last request: a fresh D from this clean state
        if not (os.WIFEXITED(status) and os.WEXITSTATUS(status) == NO_MORE_REQUESTS):
            write_frame(replies, {"end": status})
        return
    while True:
        # R is forked ahead of its request, from this clean state, and reads the request
        # itself: the zygote never reads a byte of one.
        handler = os.fork()
        if handler == 0:
            try:
                request_main(requests, replies)
            except BaseException as exc:  # noqa: B902 - the executor must hear of it
                try:
                    write_frame(replies, {"error": "%s: %s" % (type(exc).__name__, exc)})
                except BaseException:  # noqa: B902
                    pass
            finally:
                os._exit(70)
        status = wait_for(handler)
        kill_descendants()  # nothing of a request survives into the next one
        if os.WIFEXITED(status) and os.WEXITSTATUS(status) == NO_MORE_REQUESTS:
            return
        write_frame(replies, {"end": status})
        if status != 0:
            # R did not finish the exchange: what is left in the request pipe is not ours to
            # read. The executor replaces this worker.
            return


if __name__ == "__main__":
    main()
