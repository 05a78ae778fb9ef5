"""prosody: a throwaway Prosody (Debian's package) for tests (stdlib only).

    with Prosody(tmpdir, "cwmp.test") as xmpp:
        xmpp.register("acs", "secret")
        ... xmpp.port ...

Listens for clients on a free loopback port, s2s and HTTP off, accounts in
a data directory under tmpdir, created with prosodyctl. With tls=True it
makes a self-signed certificate for the domain (openssl) and requires TLS
of every client (STARTTLS): acsd then needs --xmpp-tls trusted, and
--xmpp-tls required (the default, which verifies the certificate) refuses
it. unavailable() says why the tests must skip (no prosody installed)."""
import os
import shutil
import socket
import subprocess
import time

CONFIG = """-- a throwaway Prosody for acsd's tests
run_as_root = true
pidfile = "{dir}/prosody.pid"
data_path = "{dir}/data"
certificates = "{dir}/certs"
log = {{ info = "{dir}/prosody.log" }}
modules_enabled = {{ "roster"; "saslauth"; "disco"; "ping"; "posix"{tls_module} }}
modules_disabled = {{ "s2s"{no_tls} }}
authentication = "internal_plain"
c2s_require_encryption = {require}
allow_unencrypted_plain_auth = {plain}{ssl}
c2s_ports = {{ {port} }}
c2s_interfaces = {{ "127.0.0.1" }}
c2s_direct_tls_ports = {{ }}
legacy_ssl_ports = {{ }}
s2s_ports = {{ }}
component_ports = {{ }}
http_ports = {{ }}
https_ports = {{ }}
VirtualHost "{domain}"
"""


def unavailable():
    for b in ("prosody", "prosodyctl"):
        if not shutil.which(b):
            return "%s not installed (apt-get install prosody)" % b
    return None


from ports import free_port as _free_port  # noqa: E402


class Prosody:
    def __init__(self, tmpdir, domain, tls=False):
        self.dir = os.path.join(tmpdir, "prosody")
        self.domain = domain
        self.port = _free_port()
        self.proc = None
        os.makedirs(os.path.join(self.dir, "data"))
        os.makedirs(os.path.join(self.dir, "certs"))
        self.config = os.path.join(self.dir, "prosody.cfg.lua")
        ssl = ""
        if tls:
            key, crt = (os.path.join(self.dir, "certs", domain + e) for e in (".key", ".crt"))
            subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                            "ec_paramgen_curve:prime256v1", "-nodes", "-days",
                            "2", "-subj", "/CN=" + domain, "-addext",
                            "subjectAltName=DNS:" + domain, "-keyout", key, "-out", crt],
                           check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                           timeout=60)
            ssl = '\nssl = {{ key = "{}"; certificate = "{}" }}'.format(key, crt)
        with open(self.config, "w") as f:
            f.write(CONFIG.format(dir=self.dir, port=self.port, domain=domain,
                                  tls_module='; "tls"' if tls else "",
                                  no_tls="" if tls else '; "tls"',
                                  require="true" if tls else "false",
                                  plain="false" if tls else "true", ssl=ssl))

    def register(self, user, password):
        p = subprocess.run(["prosodyctl", "--config", self.config, "register", user, self.domain,
                            password], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, timeout=30)
        if p.returncode != 0:
            raise RuntimeError("prosodyctl register %s: %s" % (user, p.stdout))

    def start(self):
        self.out = open(os.path.join(self.dir, "stdout.log"), "w")
        self.proc = subprocess.Popen(["prosody", "--config", self.config, "-F"],
                                     stdin=subprocess.DEVNULL, stdout=self.out,
                                     stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError("prosody exited: %s" % self.log())
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("prosody did not listen on %d: %s" % (self.port, self.log()))

    def log(self):
        try:
            with open(os.path.join(self.dir, "prosody.log")) as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        # killed: a throwaway server has nothing to save, and a SIGTERM waits
        # for its clients' streams to close (seconds)
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if getattr(self, "out", None):
            self.out.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
