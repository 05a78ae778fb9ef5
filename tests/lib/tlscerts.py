"""tlscerts: certificates for TLS tests, made at test time by the openssl
command (stdlib only).

    from tlscerts import Pki
    pki = Pki(directory)                       # a CA: pki.ca (PEM)
    crt, key = pki.server("srv", serial=0x1001)   # CN localhost, SAN 127.0.0.1
    crt, key = pki.client("dev", "00AA33-Box-SN1") # CN given, optional SANs
    other = Pki(directory, "other")            # an untrusted CA

EC P-256 keys (quick to make; an RSA server key on request); every certificate valid for a day.
"""
import os
import shutil
import subprocess


def have_openssl():
    return shutil.which("openssl") is not None


class Pki:
    def __init__(self, directory, name="ca"):
        self.dir = directory
        self.name = name
        self.ca = os.path.join(directory, name + ".pem")
        self.ca_key = os.path.join(directory, name + ".key")
        self._run(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                   "-nodes", "-keyout", self.ca_key, "-out", self.ca, "-days", "1",
                   "-subj", "/O=acsd tests/CN=%s test CA" % name,
                   "-addext", "basicConstraints=critical,CA:TRUE",
                   "-addext", "keyUsage=critical,keyCertSign,cRLSign"])

    def _run(self, args):
        p = subprocess.run(["openssl"] + args, capture_output=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError("openssl %s: %s" % (" ".join(args), p.stderr.decode()))
        return p.stdout

    def _issue(self, base, cn, serial, exts, rsa=False):
        key = os.path.join(self.dir, base + ".key")
        csr = os.path.join(self.dir, base + ".csr")
        crt = os.path.join(self.dir, base + ".pem")
        ext = os.path.join(self.dir, base + ".ext")
        with open(ext, "w") as f:
            f.write("\n".join(exts) + "\n")
        kind = ["rsa:2048"] if rsa else ["ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        self._run(["req", "-new", "-newkey"] + kind + ["-nodes", "-keyout", key, "-out", csr, "-subj", "/O=acsd tests/CN=%s" % cn])
        self._run(["x509", "-req", "-in", csr, "-CA", self.ca, "-CAkey", self.ca_key,
                   "-set_serial", str(serial), "-days", "1", "-out", crt, "-extfile", ext])
        return crt, key

    def server(self, base, serial=0x1001, rsa=False):
        """rsa: an RSA key (RSA key exchange possible) instead of EC."""
        return self._issue(base, "localhost", serial, [
            "basicConstraints=CA:FALSE", "keyUsage=digitalSignature,keyEncipherment",
            "extendedKeyUsage=serverAuth", "subjectAltName=DNS:localhost,IP:127.0.0.1"], rsa)

    def client(self, base, cn, sans=(), serial=0x2001):
        exts = ["basicConstraints=CA:FALSE", "keyUsage=digitalSignature",
                "extendedKeyUsage=clientAuth"]
        if sans:
            exts.append("subjectAltName=" + ",".join(sans))
        return self._issue(base, cn, serial, exts)

    def serial_of(self, crt):
        """The certificate's serial number as upper-case hex (openssl's)."""
        out = self._run(["x509", "-in", crt, "-noout", "-serial"]).decode()
        return out.strip().split("=", 1)[1].lstrip("0") or "0"
