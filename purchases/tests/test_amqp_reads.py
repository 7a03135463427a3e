"""The chunked transport cuts the same frames out of a socket as py-amqp, however the bytes come."""
import random
import socket

import pytest
from amqp.exceptions import UnexpectedFrame

from purchases.amqp_reads import FRAME_END, FRAME_HEADER, ChunkedTCPTransport, plain_amqp


def frame(frame_type: int, channel: int, payload: bytes, end: int = FRAME_END) -> bytes:
    return FRAME_HEADER.pack(frame_type, channel, len(payload)) + payload + bytes([end])


@pytest.fixture
def pair():
    ours, peer = socket.socketpair()
    transport = ChunkedTCPTransport("127.0.0.1:5672")  # not connected: the socket is ours
    transport.sock = ours
    transport._setup_transport()
    transport.connected = True
    yield transport, peer
    ours.close()
    peer.close()


@pytest.mark.parametrize("seed", range(5))
def test_it_reads_the_frames_sent_whatever_the_pieces_they_arrive_in(pair, seed):
    transport, peer = pair
    generator = random.Random(seed)
    frames = [(generator.choice((1, 2, 3, 8)), generator.randint(0, 3),
               generator.randbytes(generator.choice((0, 1, 7, 300, 70_000))))
              for _ in range(40)]
    wire = b"".join(frame(*one) for one in frames)
    read = []
    position = 0
    while len(read) < len(frames):
        if position < len(wire):  # a piece at a time, at most what the socket buffer takes
            size = generator.randint(1, 20_000)
            peer.sendall(wire[position:position + size])
            position += size
        try:
            transport.sock.settimeout(0.01)
            while len(read) < len(frames):
                read.append(transport.read_frame())
        except socket.timeout:  # the rest of a frame is not sent yet: carry on later
            pass
    assert read == frames
    assert all(isinstance(payload, bytes) for _, _, payload in read)


def test_a_timeout_mid_frame_keeps_the_part_received(pair):
    transport, peer = pair
    whole = frame(3, 1, b'{"v": 1}')
    peer.sendall(whole[:9])
    transport.sock.settimeout(0.05)
    with pytest.raises(socket.timeout):
        transport.read_frame()
    peer.sendall(whole[9:])
    assert transport.read_frame() == (3, 1, b'{"v": 1}')


def test_a_frame_without_its_end_octet_is_refused(pair):
    transport, peer = pair
    peer.sendall(frame(1, 0, b"abc", end=0x00))
    with pytest.raises(UnexpectedFrame):
        transport.read_frame()


def test_a_closed_peer_marks_the_transport_disconnected(pair):
    transport, peer = pair
    peer.sendall(frame(1, 0, b"abc")[:5])
    peer.close()
    with pytest.raises(OSError):
        transport.read_frame()
    assert transport.connected is False


@pytest.mark.parametrize("url, plain", [
    ("amqp://guest:guest@127.0.0.1:5672//", True),
    ("pyamqp://a;amqp://b", True),
    ("amqps://a:5671//", False),
    ("amqp://a;amqps://b", False),
    ("filesystem://", False),
])
def test_only_plain_amqp_urls_get_the_chunked_transport(url, plain):
    assert plain_amqp(url) is plain
