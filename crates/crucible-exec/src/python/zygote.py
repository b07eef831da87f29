# Crucible's Python worker ("zygote"). It runs as PID 1 of a sandbox, preloads the standard
# modules benchmark programs use, and for each request forks:
#   S, the subject: runs the untrusted program; in test modes it only answers calls with plain,
#      serialised values over a socket;
#   D, the driver: runs the test code (checks, asserts, call cases) against proxies of the
#      program's functions and reports each test's outcome on a pipe only D holds.
# The program never sees D's memory, the test code or the report pipe, so it cannot forge a
# pass: sys.exit/os._exit in S only make D's calls fail, patched builtins and always-equal or
# frame-walking objects live in S, and only plain values cross. After each request the zygote
# kills every other process in its PID namespace and wipes /tmp.
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
import time
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

# The worker's scratch space, wiped after every request. Inside the sandbox it is the private
# tmpfs /tmp; without a sandbox (--no-sandbox) the executor points TMPDIR at a fresh private
# directory. Never wipe a shared directory.
WORK_ROOT = os.path.realpath(os.environ.get("TMPDIR") or "/tmp")
if os.getpid() != 1 and WORK_ROOT in ("/", "/tmp", "/var/tmp", "/root", "/home", "/dev/shm"):
    sys.stderr.write("crucible worker: refusing to use shared directory %s\n" % WORK_ROOT)
    sys.exit(2)
WORK_DIR = os.path.join(WORK_ROOT, "w")
PR_SET_DUMPABLE = 4
MAX_DEPTH = 200
MAX_MESSAGE = 256 << 20


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


def recv_exact(sock, n):
    chunks = []
    while n:
        chunk = sock.recv(min(n, 1 << 20))
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


def recv_frame(sock):
    (n,) = struct.unpack("<I", recv_exact(sock, 4))
    if n > MAX_MESSAGE:
        raise EOFError
    return json.loads(recv_exact(sock, n))


def read_exact_fd(fd, n):
    chunks = []
    while n:
        chunk = os.read(fd, n)
        if not chunk:
            raise EOFError
        chunks.append(chunk)
        n -= len(chunk)
    return b"".join(chunks)


# ---------------------------------------------------------------- child setup
def limit_child(req, cpu_seconds, as_bytes):
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    os.setsid()
    cpu = max(1, int(math.ceil(cpu_seconds)))
    resource.setrlimit(resource.RLIMIT_CPU, (cpu, cpu + 1))
    if as_bytes:
        resource.setrlimit(resource.RLIMIT_AS, (as_bytes, as_bytes))
    resource.setrlimit(resource.RLIMIT_STACK, (64 << 20, 64 << 20))
    resource.setrlimit(resource.RLIMIT_FSIZE, (req["file_size_bytes"],) * 2)
    resource.setrlimit(resource.RLIMIT_NOFILE, (req["open_files"],) * 2)
    random.seed()


def place_fds(mapping):
    """dup2 each (fd -> number) and close every other descriptor."""
    high = [os.dup(fd) for fd, _ in mapping]
    for h, (_, target) in zip(high, mapping):
        os.dup2(h, target, inheritable=True)
    keep = max(t for _, t in mapping) + 1
    os.closerange(keep, 65536)


# ---------------------------------------------------------------- subject
def program_module(name):
    module = types.ModuleType(name)
    module.__dict__["__builtins__"] = builtins
    module.__file__ = os.path.join(WORK_DIR, "main.py")
    sys.modules[name] = module
    if name == "__main__":
        sys.modules["__main__"] = module
    return module


def subject_run(req):
    """stdin/stdout and plain runs: the program is __main__."""
    sys.argv = ["main.py"]
    module = program_module("__main__")
    try:
        code = compile(req["source"], "main.py", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        traceback.print_exc(limit=0)
        sys.stderr.flush()
        os._exit(3)
    try:
        exec(code, module.__dict__)
    except SystemExit as e:
        code = e.code
        if code is None:
            code = 0
        elif not isinstance(code, int):
            sys.stderr.write(str(code) + "\n")
            code = 1
        flush_and_exit(code)
    except MemoryError:
        sys.stderr.write("MemoryError\n")
        flush_and_exit(4)
    except BaseException:
        traceback.print_exc()
        flush_and_exit(1)
    flush_and_exit(0)


def flush_and_exit(code):
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except BaseException:
            pass
    os._exit(code)


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
    tb = traceback.format_exception(type(exc), exc, exc.__traceback__)
    return {
        "error": type(exc).__name__,
        "message": str(exc)[:2000],
        "traceback": "".join(tb)[-3000:],
    }


def subject_serve(req, chan):
    """Test modes: load the program, then answer calls with plain values."""
    module = program_module("__crucible_program__")
    try:
        code = compile(req["source"], "main.py", "exec")
    except (SyntaxError, ValueError, RecursionError, MemoryError) as exc:
        send_frame(chan, {"load": "syntax", **error_payload(exc)})
        flush_and_exit(3)
    try:
        exec(code, module.__dict__)
    except BaseException as exc:  # noqa: B902 - SystemExit at import is a failure too
        send_frame(chan, {"load": "error", **error_payload(exc)})
        flush_and_exit(1)
    send_frame(chan, {"load": "ok", "names": describe_names(module.__dict__)})
    ns = module.__dict__
    while True:
        try:
            msg = recv_frame(chan)
        except (EOFError, OSError):
            flush_and_exit(0)
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
        except BaseException as exc:  # noqa: B902
            reply = error_payload(exc)
        try:
            send_frame(chan, reply)
        except (OSError, TypeError, ValueError) as exc:
            send_frame(chan, error_payload(exc))


# ---------------------------------------------------------------- driver
class ProgramError(Exception):
    """An exception the program raised that has no built-in counterpart."""


class ProgramExited(Exception):
    pass


class Remote:
    def __init__(self, chan):
        self.chan = chan
        self.dead = None
        self.last_traceback = None

    def call(self, name, args):
        if self.dead:
            raise ProgramExited(self.dead)
        try:
            encoded = [encode(a) for a in args]
        except Unserialisable as exc:
            raise ProgramError("an argument cannot be passed to the program: %s" % exc)
        try:
            send_frame(self.chan, {"name": name, "args": encoded})
            reply = recv_frame(self.chan)
        except (EOFError, OSError):
            self.dead = "the program exited or crashed during a call to %s()" % name
            raise ProgramExited(self.dead)
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
    return call


class Reporter:
    def __init__(self, fd):
        self.fd = fd
        self.count = 0

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


def run_statement(node, source, g, remote):
    """Run one statement; returns (status, detail)."""
    try:
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
    for name, info in loaded["names"].items():
        if info["type"] == "value":
            g[name] = decode(info["value"])
        elif info["type"] == "module":
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
    candidate = req.get("entry_point")
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
    for node in nodes:
        is_test = contains_assert(node)
        status, detail = run_statement(node, source, g, remote)
        if is_test:
            reporter.test(stmt_name(source, node), status, detail)
        elif status != "passed":
            reporter.test(stmt_name(source, node), status, detail)
            return False
    return True


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
    for index, case in enumerate(req["cases"]):
        name = "call %d" % (index + 1)
        try:
            args = ast.literal_eval(case["args"])
            expected = ast.literal_eval(case["expected"])
        except (ValueError, SyntaxError, MemoryError, RecursionError) as exc:
            reporter.test(name, "runtime_error", "the test case does not parse: %s" % exc)
            continue
        if not isinstance(args, (list, tuple)):
            args = [args]
        try:
            out = remote.call(entry, list(args))
        except ProgramExited as exc:
            reporter.test(name, "runtime_error", str(exc))
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


def driver_main(req, chan, report_fd):
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                signal.SIGALRM, signal.SIGPIPE, signal.SIGQUIT):
        signal.signal(sig, signal.SIG_IGN)
    reporter = Reporter(report_fd)
    remote = Remote(chan)
    try:
        loaded = recv_frame(chan)
    except (EOFError, OSError):
        reporter.send({"load": "exited"})
        os._exit(0)
    if loaded.get("load") != "ok":
        reporter.send({"load": loaded.get("load"), "message": loaded.get("message"),
                       "traceback": loaded.get("traceback")})
        os._exit(0)
    if req["mode"] == "calls":
        driver_calls(req, remote, loaded, reporter)
    else:
        driver_code(req, remote, loaded, reporter)
    reporter.send({"done": reporter.count})
    os._exit(0)


# ---------------------------------------------------------------- zygote
def wipe_tmp():
    for name in os.listdir(WORK_ROOT):
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


def kill_others(groups=()):
    """Kill every other process of the sandbox. Only PID 1 may use kill(-1): without a PID
    namespace (--no-sandbox) that would signal everything the user owns, so there only the
    children's process groups are killed."""
    if os.getpid() == 1:
        try:
            os.kill(-1, signal.SIGKILL)
        except OSError:
            pass
        while True:
            try:
                os.waitpid(-1, 0)
            except ChildProcessError:
                return
            except InterruptedError:
                continue
    for group in groups:
        try:
            os.killpg(group, signal.SIGKILL)
        except OSError:
            pass
        try:
            os.waitpid(group, 0)
        except (ChildProcessError, InterruptedError):
            pass
    try:
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass
    except ChildProcessError:
        pass


def proc_cpu(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return 0.0


def handle(req):
    mode = req["mode"]
    cpu_limit = req["cpu_ms"] / 1000.0
    wall_limit = req["wall_ms"] / 1000.0
    out_cap = req["output_bytes"]
    as_bytes = req["memory_bytes"] + (128 << 20)
    wipe_tmp()
    os.makedirs(WORK_DIR, exist_ok=True)
    os.chdir(WORK_DIR)
    stdin_path = os.path.join(WORK_ROOT, ".stdin")
    with open(stdin_path, "wb") as f:
        f.write(req.get("stdin", "").encode("utf-8", "surrogateescape"))
    stdin_fd = os.open(stdin_path, os.O_RDONLY)
    os.unlink(stdin_path)
    out_r, out_w = os.pipe()
    err_r, err_w = os.pipe()
    testing = mode in ("code", "calls")
    rep_r = None
    if testing:
        s_chan, d_chan = socket.socketpair()
        rep_r, rep_w = os.pipe()
    started = time.monotonic()
    subject = os.fork()
    if subject == 0:
        try:
            mapping = [(stdin_fd, 0), (out_w, 1), (err_w, 2)]
            if testing:
                mapping.append((s_chan.fileno(), 3))
            place_fds(mapping)
            limit_child(req, cpu_limit, as_bytes)
            if testing:
                subject_serve(req, socket.socket(fileno=3))
            else:
                subject_run(req)
        finally:
            os._exit(70)
    driver = None
    if testing:
        driver = os.fork()
        if driver == 0:
            try:
                null = os.open("/dev/null", os.O_RDWR)
                place_fds([(null, 0), (null, 1), (null, 2), (d_chan.fileno(), 3), (rep_w, 4)])
                limit_child(req, cpu_limit * 2 + 5, 0)
                driver_main(req, socket.socket(fileno=3), 4)
            finally:
                os._exit(70)
        s_chan.close()
        d_chan.close()
        os.close(rep_w)
    os.close(stdin_fd)
    os.close(out_w)
    os.close(err_w)
    streams = {out_r: bytearray(), err_r: bytearray()}
    if testing:
        streams[rep_r] = bytearray()
    open_fds = set(streams)
    killed = None
    subject_status = subject_usage = None
    subject_exit_time = None
    driver_done = driver is None
    cpu_seen = 0.0
    while True:
        if subject_status is None:
            pid, status, usage = os.wait4(subject, os.WNOHANG)
            if pid:
                subject_status, subject_usage = status, usage
                subject_exit_time = time.monotonic()
        if not driver_done:
            pid, _, _ = os.wait4(driver, os.WNOHANG)
            driver_done = bool(pid)
        if testing:
            if driver_done and rep_r not in open_fds:
                break
        elif subject_status is not None:
            # Output pipes may stay open in leftover children; they die below.
            if not open_fds or time.monotonic() - subject_exit_time > 0.2:
                break
        if killed:
            break
        if open_fds:
            ready, _, _ = select.select(list(open_fds), [], [], 0.01)
        else:
            ready = []
            time.sleep(0.005)
        for fd in ready:
            chunk = os.read(fd, 1 << 16)
            if not chunk:
                open_fds.discard(fd)
                continue
            if fd == rep_r or len(streams[out_r]) + len(streams[err_r]) <= out_cap:
                streams[fd] += chunk
        if subject_status is None:
            cpu_seen = proc_cpu(subject)
        if len(streams[out_r]) + len(streams[err_r]) > out_cap:
            killed = "output"
        elif subject_status is None and cpu_seen > cpu_limit:
            killed = "cpu"
        elif time.monotonic() - started > wall_limit:
            killed = "wall"
    wall = time.monotonic() - started
    peak_kb = 0
    if subject_status is None:
        try:
            with open("/proc/%d/status" % subject) as f:
                for line in f:
                    if line.startswith("VmHWM:"):
                        peak_kb = int(line.split()[1])
        except (OSError, ValueError):
            pass
    kill_others([p for p in (subject, driver) if p])
    if testing:
        # Read what the driver wrote before it was stopped.
        while True:
            try:
                chunk = os.read(rep_r, 1 << 16)
            except OSError:
                break
            if not chunk:
                break
            streams[rep_r] += chunk
    reply = {
        "stdout": bytes(streams[out_r][:out_cap]).decode("latin-1"),
        "stderr": bytes(streams[err_r][-65536:]).decode("latin-1"),
        "wall_ms": int(wall * 1000),
        "killed": killed,
    }
    if subject_status is not None:
        if os.WIFSIGNALED(subject_status):
            reply["signal"] = os.WTERMSIG(subject_status)
        else:
            reply["exit_code"] = os.WEXITSTATUS(subject_status)
        reply["cpu_ms"] = int((subject_usage.ru_utime + subject_usage.ru_stime) * 1000)
        reply["peak_kb"] = subject_usage.ru_maxrss
    else:
        reply["cpu_ms"] = int(cpu_seen * 1000)
        reply["peak_kb"] = peak_kb
    if testing:
        reply["report"] = bytes(streams[rep_r]).decode("utf-8", "replace")
    for fd in streams:
        try:
            os.close(fd)
        except OSError:
            pass
    os.chdir("/")
    wipe_tmp()
    return reply


def main():
    # Forked children would otherwise touch (and copy) every preloaded object in their first
    # garbage collection.
    import gc
    gc.collect()
    gc.freeze()
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2,
                signal.SIGPIPE, signal.SIGQUIT, signal.SIGALRM):
        signal.signal(sig, signal.SIG_IGN)
    LIBC.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)
    requests = os.dup(0)
    replies = os.dup(1)
    null = os.open("/dev/null", os.O_RDWR)
    os.dup2(null, 0)
    os.dup2(null, 1)
    os.write(replies, b"READY\n")
    while True:
        try:
            (n,) = struct.unpack("<I", read_exact_fd(requests, 4))
            req = json.loads(read_exact_fd(requests, n))
        except EOFError:
            return
        try:
            reply = handle(req)
        except BaseException as exc:  # noqa: B902 - the worker must answer
            kill_others()
            reply = {"worker_error": "%s: %s" % (type(exc).__name__, exc)}
        data = json.dumps(reply).encode()
        os.write(replies, struct.pack("<I", len(data)))
        view = memoryview(data)
        while view:
            view = view[os.write(replies, view):]


if __name__ == "__main__":
    main()
