"""A kombu transport for RabbitMQ that takes the socket's bytes in large pieces.

py-amqp reads each frame with three exact-size recv calls (header, payload, end octet), so a
delivery (method, header and body frames) costs nine system calls, each releasing and taking
back the GIL: 15% of the analytics process under full ingest. This transport keeps what one
recv returned and cuts frames out of it. Plain TCP only; TLS keeps py-amqp's own transport.
Stdlib, kombu and py-amqp only: analytics uses it too.

Celery's event loop reads until a read would block (kombu calls drain_events(timeout=0)
again after each success), so frames left in the buffer are taken before it waits on the
socket again.
"""
from __future__ import annotations

import errno
import socket
import struct
from urllib.parse import urlsplit

from amqp.exceptions import UnexpectedFrame
from amqp.transport import TCPTransport
from kombu.transport import pyamqp

# What one recv may take: about a hundred deliveries of a purchase; below glibc's mmap
# threshold, so the buffer recv allocates comes from the heap.
CHUNK_BYTES = 64 * 1024
FRAME_HEADER = struct.Struct(">BHI")  # type, channel, payload size
FRAME_END = 0xCE
_NOT_FATAL = (errno.EAGAIN, errno.EINTR)


class ChunkedTCPTransport(TCPTransport):
    def _setup_transport(self) -> None:
        super()._setup_transport()
        self._received = bytearray()  # bytes recv returned that no frame took yet

    def read_frame(self, unpack=None):
        """(type, channel, payload) of the next frame.

        A timeout or an error mid-frame leaves what was received in place, so the next call
        carries on where this one stopped.
        """
        received = self._received
        while len(received) < FRAME_HEADER.size:
            self._receive()
        frame_type, channel, size = FRAME_HEADER.unpack_from(received)
        end = FRAME_HEADER.size + size
        while len(received) <= end:
            self._receive()
        payload = bytes(received[FRAME_HEADER.size:end])
        frame_end = received[end]
        del received[: end + 1]  # from the front of a bytearray: no copy of the rest
        if frame_end != FRAME_END:
            raise UnexpectedFrame(f"Received frame_end {frame_end:#04x} while expecting 0xce")
        return frame_type, channel, payload

    def _receive(self) -> None:
        try:
            data = self.sock.recv(CHUNK_BYTES)
        except socket.timeout:
            raise
        except OSError as exc:
            if exc.errno not in _NOT_FATAL:
                self.connected = False
            raise
        if not data:
            self.connected = False
            raise OSError("Server unexpectedly closed connection")
        self._received += data


def plain_amqp(url: str) -> bool:
    """Whether every node of a broker URL list is plain AMQP: amqps:// needs kombu's own
    SSL transport class, which switches TLS on."""
    return all(urlsplit(node).scheme in ("amqp", "pyamqp") for node in url.split(";"))


class _ChunkedConnection(pyamqp.Connection):
    def Transport(self, host, connect_timeout, ssl=False, read_timeout=None,
                  write_timeout=None, socket_settings=None, **kwargs):
        if ssl:
            return super().Transport(host, connect_timeout, ssl=ssl, read_timeout=read_timeout,
                                     write_timeout=write_timeout,
                                     socket_settings=socket_settings, **kwargs)
        return ChunkedTCPTransport(host, connect_timeout=connect_timeout,
                                   read_timeout=read_timeout, write_timeout=write_timeout,
                                   socket_settings=socket_settings, **kwargs)


class ChunkedReadsTransport(pyamqp.Transport):
    """kombu's py-amqp transport with ChunkedTCPTransport underneath: pass as transport=."""

    Connection = _ChunkedConnection
