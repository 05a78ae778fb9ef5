"""ports: loopback ports for the servers a test starts (stdlib only).

free_port() picks a random port below the kernel's ephemeral range
(/proc/sys/net/ipv4/ip_local_port_range, 32768-60999 by default) that binds
now. A port bound to 0 and closed again, as tests did before, comes from
that ephemeral range: between the pick and the server's own bind, any
outgoing connection of another test running at the same time (cpesim opens
thousands) can be given it, and the server fails with "Address already in
use". Below the range only another server can take it, and a random pick
among 12,000 ports makes that unlikely."""
import random
import socket

SPAN = 12000  # ports below the ephemeral range the picks come from


def _ephemeral_low():
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            return int(f.read().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


def _binds(host, port):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        s.bind((host, port))
        return True
    except OSError:
        return False
    finally:
        s.close()


def free_port(host="127.0.0.1"):
    """A loopback port no server holds now, outside the ephemeral range."""
    low = _ephemeral_low()
    first = max(1024, low - SPAN)
    if low - 1 > first:
        for _ in range(200):
            port = random.randint(first, low - 1)
            if _binds(host, port):
                return port
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)  # no room below: the kernel's pick
    s.bind((host, 0))
    port = s.getsockname()[1]
    s.close()
    return port
