"""The production transport: JSON over HTTPS with mutual TLS, to every node in parallel.

A node that is down, slow or presents the wrong certificate yields an error *result* for that
node with a clear message; it never hangs the job or the other nodes' calls.
"""

from __future__ import annotations

import contextvars
import errno
import socket
import ssl
import weakref
from typing import Any

import aiohttp

from gnt import certs, node_certs
from gnt.errors import RpcError
from gnt.rpc.transport import RpcResult, Target, offline_result, result_from_body

CONNECT_TIMEOUT = 5.0
#: how long a node may leave sent data unacknowledged before its connection counts as dead (TCP_USER_TIMEOUT)
UNACKED_TIMEOUT = 10.0
#: connections kept per node (and so at most this many pooled ones made before a node's certificate changed)
POOL_PER_HOST = 16

#: the certificate digests the node being called may present (Target.cert_digests); empty: any the CA signed
_EXPECTED: contextvars.ContextVar[tuple[str, ...]] = contextvars.ContextVar("gnt_rpc_expected_certs", default=())


class PeerNotListed(aiohttp.ClientConnectionError):
    """The node presented a CA-signed certificate that is not the one the cluster lists for it."""

    def __init__(self, digest: str) -> None:
        super().__init__(digest)
        self.digest = digest


def _peer_digest(conn: Any) -> str:
    transport = conn.transport
    sslobj = transport.get_extra_info("ssl_object") if transport is not None else None
    der = sslobj.getpeercert(binary_form=True) if sslobj is not None else None
    return node_certs.digest_der(der) if der else ""


class _DeadPeerConnector(aiohttp.TCPConnector):
    """Pooled connections that give up on a node which stopped acknowledging what was sent.

    A node that loses power leaves the master a kept-alive connection nothing answers on (no RST
    ever comes): without this, the next call on it waits its whole procedure timeout (30 s and
    more) instead of the few seconds a fresh connect takes to fail. TCP_USER_TIMEOUT only counts
    unacknowledged data, so a procedure the node takes minutes to answer is not cut short.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the digest of the certificate each open connection's peer presented in its handshake (taken once:
        #: a TLS peer cannot change certificate on an open connection, so a pooled one is checked from here)
        self._peer_digests: weakref.WeakKeyDictionary[Any, str] = weakref.WeakKeyDictionary()

    async def connect(self, *args: Any, **kwargs: Any) -> Any:
        """A connection to a node that presents a certificate the cluster lists for it (when it lists one).

        TLS has checked only that the node's certificate chains to the cluster CA, which every node's
        does: a stolen or renewed-away node certificate would pass. The check runs for every request,
        on the connection the request goes out on, before it is sent (it may carry a key pair), against
        the list the request's Target carries (the config's, at the call). A pooled connection whose
        peer's certificate is no longer listed (the node switched to a renewed certificate, or the list
        changed under it) is closed and the next one tried, so a renewal never fails a call; a fresh
        connection presenting an unlisted certificate ends the attempt (another handshake would show
        the same certificate).
        """
        expected = _EXPECTED.get()
        digest = ""
        for _ in range(POOL_PER_HOST + 1):
            conn = await super().connect(*args, **kwargs)
            proto = conn.protocol
            known = self._peer_digests.get(proto) if proto is not None else None
            if known is None:
                digest = self._fresh(conn)
                if proto is not None:
                    self._peer_digests[proto] = digest
            else:
                digest = known
            if not expected or digest in expected:
                return conn
            conn.close()
            if known is None:
                break
        raise PeerNotListed(digest)

    @staticmethod
    def _fresh(conn: Any) -> str:
        """Set a new connection's dead-peer timeout; the digest of the certificate its peer presented."""
        sock = conn.transport.get_extra_info("socket") if conn.transport is not None else None
        if sock is not None and hasattr(socket, "TCP_USER_TIMEOUT") and sock.family != socket.AF_UNIX:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_USER_TIMEOUT, int(UNACKED_TIMEOUT * 1000))
        return _peer_digest(conn)


class HttpsTransport:
    """Calls nodes over pooled mutual-TLS connections.

    The pool is bound to the certificate it was made with: when the key pair or the trust file
    changes (gnt-cluster renew-crypto), the next call opens a new pool with the new files, and the
    old pool is left to finish the calls already on it (it is closed with the transport).
    """

    def __init__(self, pem_path: str, port: int) -> None:
        self._pem_path = pem_path
        self.port = port
        self._session: aiohttp.ClientSession | None = None
        self._identity: tuple[object, ...] | None = None
        self._retired: list[aiohttp.ClientSession] = []

    def _get_session(self) -> aiohttp.ClientSession:
        identity = certs.files_identity(self._pem_path)
        if self._session is not None and not self._session.closed and identity != self._identity:
            self._retired.append(self._session)  # calls in flight on it finish; new ones use the new files
            self._session = None
        if self._session is None or self._session.closed:
            ctx = certs.client_context(self._pem_path)
            connector = _DeadPeerConnector(ssl=ctx, limit=0, limit_per_host=POOL_PER_HOST, keepalive_timeout=30)
            self._session = aiohttp.ClientSession(connector=connector)
            self._identity = identity
        return self._session

    async def close(self) -> None:
        for session in [*self._retired, self._session]:
            if session is not None:
                await session.close()
        self._retired.clear()

    async def call(self, target: Target, procedure: str, payload: dict[str, Any], timeout: float) -> RpcResult:
        if target.offline:
            return offline_result(target)
        name = target.name
        url = f"https://{target.address}:{self.port}/{procedure}"
        limits = aiohttp.ClientTimeout(total=timeout, sock_connect=min(CONNECT_TIMEOUT, timeout))
        expected = _EXPECTED.set(target.cert_digests)
        try:
            async with self._get_session().post(url, json=payload, timeout=limits) as resp:
                if resp.status != 200:
                    text = (await resp.text())[:200]
                    return RpcResult(name, error=RpcError(f"Node {name}: HTTP {resp.status}: {text}"))
                body = await resp.json()
        except aiohttp.ServerTimeoutError:  # the connect timed out (no sock_read limit is set): nothing answers there
            connect = min(CONNECT_TIMEOUT, timeout)
            return RpcResult(
                name,
                error=RpcError(
                    f"Error while contacting node {name} ({target.address}): no answer to connecting"
                    f" within {connect:g}s; is the node up?"
                ),
            )
        except TimeoutError:
            return RpcResult(name, error=RpcError(f"Node {name} did not answer '{procedure}' in {timeout:g}s"))
        except PeerNotListed as err:
            return RpcResult(
                name,
                error=RpcError(
                    f"Node {name} ({target.address}) presents a certificate the cluster does not list for it"
                    f" (SHA-256 {err.digest[:16]}...); not calling it (it may be an impostor): set it up"
                    f" again over SSH with gnt-node add --readd {name}"
                ),
            )
        except (aiohttp.ClientSSLError, ssl.SSLError) as err:
            return RpcResult(
                name,
                error=RpcError(
                    f"TLS handshake with node {name} ({target.address}) failed: {_short(err)};"
                    " it does not hold this cluster's certificate"
                ),
            )
        except (aiohttp.ClientError, OSError, ValueError) as err:
            reason = _why(err)
            return RpcResult(name, error=RpcError(f"Error while contacting node {name} ({target.address}): {reason}"))
        finally:
            _EXPECTED.reset(expected)
        return result_from_body(name, body)


#: what a connection error says about the node, by errno: a refused connection means the host is
#: up without a daemon; the others mean the host itself is down or cut off
_ERRNO_REASONS = {
    errno.ECONNREFUSED: "connection refused; is gnt-noded running there?",
    errno.EHOSTUNREACH: "host unreachable; is the node up?",
    errno.ENETUNREACH: "network unreachable; is the node up?",
    errno.ETIMEDOUT: "connection timed out; is the node up?",
}


def _why(err: BaseException) -> str:
    """One line on why a node could not be reached, naming the likely cause."""
    code = getattr(err, "errno", None)
    cause = err.__cause__ or err.__context__
    if code not in _ERRNO_REASONS and isinstance(cause, OSError):
        code = cause.errno
    if code in _ERRNO_REASONS:
        return _ERRNO_REASONS[code]
    return _short(err) + "; is gnt-noded running there?"


def _short(err: BaseException) -> str:
    text = str(err) or type(err).__name__
    if "Connect call failed" in text or "Cannot connect" in text:
        return "connection refused"
    return text.splitlines()[0][:200]
