"""TLS ended in our own process: daphne with a `wss://` / `https://` listener that asks for client certificates.

`python -m csms.serve` runs `serve()` when TLS_CERT_FILE and TLS_KEY_FILE are
set (csms/serve.py). It is daphne's own command line, in this process, with
a `server_class` that adds one listener on TLS_PORT at the `-b` address:

- Its TLS context is twisted's `CertificateOptions` (TLS 1.2 or newer,
  twisted's cipher choice) with the server certificate and the
  intermediates that follow it in TLS_CERT_FILE.
- It *requests* a client certificate and accepts whatever is presented, or
  none: OpenSSL still makes the client prove it holds the certificate's key
  (CertificateVerify), but whether the certificate is any good is the
  application's question (`chargepoints.security.client_certificate_verify`
  for security profile 3), so a bad one is refused with the HTTP 403 of
  every refusal and recorded as a security event instead of failing the
  handshake unseen. Profile 1 and 2 charge points are not asked to have one.
- daphne puts neither `scheme` in a WebSocket scope nor any certificate in
  any scope: `TlsServer.create_application` adds `scheme` ("wss" or "ws")
  and, for TLS connections, the ASGI TLS extension
  (`scope["extensions"]["tls"]`, https://asgi.readthedocs.io/en/latest/specs/tls.html)
  with `client_cert_chain`: PEM strings, the client's certificate first.

Without TLS configured csms/serve.py runs the same command line with csms.server.Server.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass

import daphne.server  # noqa: F401 - first of twisted: installs the asyncio reactor (daphne.server says why)
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, load_pem_private_key
from daphne.cli import DEFAULT_HOST, CommandLineInterface
from OpenSSL import SSL, crypto
from twisted.internet import reactor
from twisted.internet.endpoints import SSL4ServerEndpoint
from twisted.internet.interfaces import ISSLTransport
from twisted.internet.protocol import Factory
from twisted.internet.ssl import CertificateOptions, TLSVersion

from csms.server import Server

logger = logging.getLogger("csms.tls")

# ASGI TLS extension: tls_version as the protocol's two-byte code.
TLS_VERSIONS = {"TLSv1.2": 0x0303, "TLSv1.3": 0x0304}


class TlsConfigurationError(Exception):
    """TLS_CERT_FILE / TLS_KEY_FILE cannot be used; the message says which and why."""


@dataclass(frozen=True)
class TlsListen:
    """Where and with what to serve TLS: `host` (IP address to bind), `port`, PEM `cert_file` (+ chain) and `key_file`."""

    host: str
    port: int
    cert_file: str
    key_file: str


def _accept_any_certificate(connection, certificate, error_number, depth, preverify_ok) -> bool:
    # The handshake accepts any client certificate: the application checks it
    # and records a refusal (see the module docstring).
    return True


def certificate_options(cert_file: str, key_file: str) -> CertificateOptions:
    """A server TLS context: `cert_file` (PEM: the certificate, then its intermediates), `key_file` (PEM, unencrypted).

    Requests, but does not require, a client certificate and accepts any.
    Raises TlsConfigurationError when a file cannot be read, holds no
    certificate or key, or the key is not the certificate's.
    """
    try:
        with open(cert_file, "rb") as f:
            certificates = x509.load_pem_x509_certificates(f.read())
    except (OSError, ValueError) as exc:
        raise TlsConfigurationError(f"TLS_CERT_FILE {cert_file}: {exc}") from exc
    try:
        with open(key_file, "rb") as f:
            key = load_pem_private_key(f.read(), password=None)
    except (OSError, ValueError, TypeError) as exc:
        raise TlsConfigurationError(f"TLS_KEY_FILE {key_file}: {exc}") from exc
    leaf, *chain = (crypto.X509.from_cryptography(c) for c in certificates)
    options = CertificateOptions(
        privateKey=crypto.PKey.from_cryptography_key(key),
        certificate=leaf,
        extraCertChain=chain,
        raiseMinimumTo=TLSVersion.TLSv1_2,
    )
    try:
        # Built once and cached by CertificateOptions: every connection uses this context.
        context = options.getContext()
    except SSL.Error as exc:
        raise TlsConfigurationError(f"TLS_KEY_FILE {key_file} is not the key of TLS_CERT_FILE {cert_file}: {exc}") from exc
    context.set_verify(SSL.VERIFY_PEER, _accept_any_certificate)
    # Twisted's ALPN callback answers a client that offers no protocol it
    # knows (curl and browsers offer h2 first) with a fatal alert; daphne
    # speaks HTTP/1.1 here, and with no ALPN match the handshake goes on without one.
    context.set_alpn_select_callback(_alpn_select)
    return options


def _alpn_select(connection, offered: list[bytes]):
    return b"http/1.1" if b"http/1.1" in offered else SSL.NO_OVERLAPPING_PROTOCOLS


class _HttpFactoryOf(Factory):
    """Builds the protocols of `server.http_factory`, which daphne makes only once `Server.run` has begun."""

    def __init__(self, server: Server):
        self.server = server

    def buildProtocol(self, addr):
        return self.server.http_factory.buildProtocol(addr)


def _transport(protocol):
    # A WebSocket protocol holds the connection's transport; an HTTP request reaches it through its channel.
    transport = getattr(protocol, "transport", None)
    if transport is None:
        transport = getattr(getattr(protocol, "channel", None), "transport", None)
    return transport


def tls_scope_extension(transport) -> dict | None:
    """The ASGI TLS extension of a connection: {"client_cert_chain": [PEM …], "tls_version": int | None, …}; None without TLS.

    `client_cert_chain` is the client's certificate first, then the
    intermediates it sent ([] when it sent none); not verified.
    """
    if transport is None or not ISSLTransport.providedBy(transport):
        return None
    chain: list[x509.Certificate] = []
    peer = transport.getPeerCertificate()
    if peer is not None:
        chain.append(peer.to_cryptography())
        handle = transport.getHandle()
        # On a server OpenSSL's peer chain leaves the client's certificate out; add what else it sent.
        for certificate in handle.get_peer_cert_chain(as_cryptography=True) or []:
            if certificate != chain[0]:
                chain.append(certificate)
    version = transport.getHandle().get_protocol_version_name()
    return {
        "server_cert": None,
        "client_cert_chain": [c.public_bytes(Encoding.PEM).decode("ascii") for c in chain],
        "client_cert_name": None,
        "client_cert_error": None,
        "tls_version": TLS_VERSIONS.get(version),
        "cipher_suite": None,
    }


class TlsServer(Server):
    """Our daphne Server (csms/server.py: graceful shutdown) with one more listener, TLS on `tls.port`, and TLS facts in every scope."""

    def __init__(self, *args, tls: TlsListen, **kwargs):
        super().__init__(*args, **kwargs)
        self.tls = tls
        self.tls_options = certificate_options(tls.cert_file, tls.key_file)

    def run(self):
        # Bound before daphne's endpoints, reported as theirs: a port in use makes
        # listen_error abort the start (exit status 1) before the reactor runs.
        endpoint = SSL4ServerEndpoint(reactor, self.tls.port, self.tls_options, interface=self.tls.host)
        listener = endpoint.listen(_HttpFactoryOf(self))
        listener.addCallback(self._tls_listening)
        listener.addCallback(self.listen_success)
        listener.addErrback(self.listen_error)
        self.listeners.append(listener)
        super().run()

    def _tls_listening(self, port):
        logger.info("Serving TLS (wss://, https://) on %s:%s", self.tls.host, self.tls.port)
        return port

    def create_application(self, protocol, scope):
        transport = _transport(protocol)
        extension = tls_scope_extension(transport)
        if scope.get("type") == "websocket":
            scope["scheme"] = "wss" if extension is not None else "ws"
        if extension is not None:
            scope.setdefault("extensions", {})["tls"] = extension
        return super().create_application(protocol, scope)


class TlsCommandLineInterface(CommandLineInterface):
    """daphne's command line, serving TLS on `tls_port` at the `-b` address (daphne's 127.0.0.1 when none) as well."""

    def __init__(self, *, cert_file: str, key_file: str, tls_port: int):
        super().__init__()
        self.cert_file, self.key_file, self.tls_port = cert_file, key_file, tls_port

    def run(self, args):
        parsed = self.parser.parse_args(args)
        tls = TlsListen(host=parsed.host or DEFAULT_HOST, port=self.tls_port, cert_file=self.cert_file, key_file=self.key_file)
        self.server_class = functools.partial(TlsServer, tls=tls)
        super().run(args)


def serve(args: list[str], *, cert_file: str, key_file: str, tls_port: int) -> None:
    """Run daphne with `args` (its command line without the executable) plus TLS; returns when the server stops.

    Exits (SystemExit) with a message naming the file for unusable
    certificate or key files, with status 1 (as daphne does) when a port
    cannot be bound.
    """
    try:
        TlsCommandLineInterface(cert_file=cert_file, key_file=key_file, tls_port=tls_port).run(args)
    except TlsConfigurationError as exc:
        raise SystemExit(f"csms.serve: {exc}") from None
