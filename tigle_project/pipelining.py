"""HTTP/1.1 pipelining in the web worker: a client may send its next request before the
answer, and what gunicorn's parser has already read off the socket is where the worker's
epoll cannot see it.

After each answer the worker asks next_request_buffered(); a connection holding a next
request goes straight back to the threads instead of waiting in the epoll for an event that
never comes.

A body the app did not read (a 413, a 404) is read past before the next
request, and may still be on its way when the answer goes (sent after `Expect: 100-continue`,
or just late). gunicorn's parser would wait for it, and then for a next request, in a request
thread, which an idle client would hold until the stall limit. So a chunked body is read as
far as it has arrived before the answer (chunked_body_drained), and the answer closes the
connection when that was not all of it: its end is unknown without reading. A Content-Length
body left unread goes back to the epoll with its connection; when more of it comes, a thread
reads what has arrived without waiting (body_drain) and puts the connection back again, or
closes it if the client ended it mid-body.
"""
from __future__ import annotations

import io
import os
import socket
import ssl

from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.workers.gthread import TConn

# Past this much of an unread body, the connection closes instead: a client streaming a
# large body fast would otherwise keep the thread reading.
DRAIN_MAX_BYTES = 1 << 20


def next_request_buffered(conn: TConn) -> bool:
    """Whether bytes of a next request are already read off the socket: in the parser's
    buffer or decrypted inside a TLS socket, past what is left of the last request's body
    (the parser skips that before the next request)."""
    parser = conn.parser
    if parser is None or parser.mesg is None:
        return False
    pending = getattr(conn.sock, "pending", None)  # ssl.SSLSocket's
    held = parser.unreader.buf.seek(0, os.SEEK_END) + (pending() if pending else 0)
    reader = parser.mesg.body.reader
    if isinstance(reader, LengthReader):
        return held > reader.length
    return held > 0  # a chunked body read to its end (chunked_body_drained)


def chunked_body_drained(req, sock: socket.socket) -> bool:
    """Read the rest of a chunked body the app left, as far as it has arrived; whether that
    was all of it. Other bodies: True (their length is known)."""
    reader = req.body.reader
    if not isinstance(reader, ChunkedReader) or reader.parser is None:
        return True
    sock.setblocking(False)
    try:
        drained = 0
        while chunk := req.body.read(8192):
            drained += len(chunk)
            if drained > DRAIN_MAX_BYTES:
                return False
        return True
    except Exception:  # noqa: BLE001 - it would block (the rest is still coming; TLS's
        return False   # SSLWantReadError too) or the body is malformed: the answer closes
    finally:
        sock.setblocking(True)


def body_left_unread(conn: TConn) -> bool:
    """Whether the last request's Content-Length body is not all read yet."""
    parser = conn.parser
    if parser is None or parser.mesg is None:
        return False
    reader = parser.mesg.body.reader
    return isinstance(reader, LengthReader) and reader.length > 0


def body_drain(conn: TConn) -> bool:
    """Read what has arrived of the last request's Content-Length body, without waiting for
    the rest; False when the connection is to close: the client ended it mid-body, or sent
    more than DRAIN_MAX_BYTES of it at once.

    Not through gunicorn's Body.read: on a socket that would block, LengthReader drops what
    it had gathered without counting it, and the next request would be read as body."""
    reader = conn.parser.mesg.body.reader
    unreader = reader.unreader
    held = unreader.buf.getvalue()  # read off the socket with the headers or a last body
    unreader.buf = io.BytesIO()
    if len(held) >= reader.length:
        unreader.unread(held[reader.length:])  # a next request's first bytes
        reader.length = 0
        return True
    reader.length -= len(held)
    sock = conn.sock
    sock.setblocking(False)
    try:
        drained = 0
        while reader.length > 0:
            try:
                # No more than the body: a next request's bytes stay in the socket.
                data = sock.recv(min(reader.length, 65536))
            except (BlockingIOError, ssl.SSLWantReadError):
                return True  # the rest is still coming
            if not data:
                return False
            reader.length -= len(data)
            drained += len(data)
            if drained > DRAIN_MAX_BYTES:
                return False
        return True
    except OSError:  # reset
        return False
    finally:
        sock.setblocking(True)
