"""simtest: what the cpesim tests share (stdlib only). Not a test itself:
tests/CMakeLists.txt registers test_cpesim.py, test_cpesim_rpcs.py and
test_durability.py by name."""
import os
import socket
import time

HERE = os.path.dirname(os.path.abspath(__file__))


class Fail(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Fail(msg)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    p = s.getsockname()[1]
    s.close()
    return p


def bin_path(name):
    d = os.environ.get("ACS_BIN_DIR") or os.path.join(HERE, "..", "..", "build", "bin")
    return os.path.join(d, name)


def wait_for(what, cond, timeout=60.0, step=0.05):
    """cond() until it is true (returned), within timeout seconds."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            v = cond()
            if v:
                return v
        except (OSError, ValueError, KeyError) as e:
            last = e
        time.sleep(step)
    raise Fail("timed out waiting for %s%s" % (what, " (%s)" % last if last else ""))
