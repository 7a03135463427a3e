"""HTTP/1.1 pipelining in the web worker: a client may send its next request before the
answer, and what gunicorn's parser has already read off the socket is where the worker's
epoll cannot see it.

After each answer the worker asks next_request_buffered(); a connection holding a next
request goes straight back to the threads instead of waiting in the epoll for an event that
never comes. A chunked body the app did not read is the one case where the end of a request
is unknown without reading more: chunked_body_drained() reads what has arrived, without
waiting, and the answer closes the connection when that was not all of it.
"""
from __future__ import annotations

import os
import socket

from gunicorn.http.body import ChunkedReader, LengthReader
from gunicorn.workers.gthread import TConn


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
        while req.body.read(8192):
            pass
        return True
    except Exception:  # noqa: BLE001 - it would block (the rest is still coming; TLS's
        return False   # SSLWantReadError too) or the body is malformed: the answer closes
    finally:
        sock.setblocking(True)
