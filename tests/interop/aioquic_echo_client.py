"""A WebTransport echo client on aioquic, for pingpong's interop tests.

    python aioquic_echo_client.py PORT PATH [STREAMS [WAIT_S]]

Connects to 127.0.0.1:PORT (certificate not verified: loopback tests only),
opens a session on PATH, sends a datagram and a unidirectional stream (with
FIN), and prints `datagram echoed|missing` and `uni echoed|missing`, as found
within WAIT_S seconds (default 2).

STREAMS names the HTTP/3 unidirectional streams the client opens when the
connection starts, comma-separated, in order: `control` (always first), then
any of `encoder` and `decoder` (QPACK, RFC 9204 section 4.2) and `reserved`
(type 0x21, RFC 9114 section 6.2.3, left open). The default,
`control,encoder,decoder`, is stock aioquic. Leaving out a QPACK stream is
allowed when it would carry nothing (RFC 9204 section 4.2): the client then
announces a dynamic table of 0 (no decoder stream) or uses only the static
table (no encoder stream), and fails on any write to a stream it left out.
"""

import asyncio
import functools
import ssl
import sys

import pylsqpack

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import (
    H3_ALPN,
    FrameType,
    H3Connection,
    StreamType,
    encode_frame,
    encode_settings,
    encode_uint_var,
)
from aioquic.h3.events import (
    DatagramReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import QuicConnection, stream_is_unidirectional

DEFAULT_WAIT_S = 2.0
STOCK_STREAMS = "control,encoder,decoder"
RESERVED_STREAM_TYPE = 0x21


class _OmittedStreamSink:
    """The QuicConnection as H3Connection sees it, where a QPACK stream left
    out (its id None) takes empty writes only."""

    def __init__(self, quic: QuicConnection) -> None:
        self._quic = quic
        # Set on a write to a stream left out; an exception raised here would
        # only be logged by asyncio, so main() checks this instead.
        self.misuse: str | None = None

    def __getattr__(self, name: str):
        return getattr(self._quic, name)

    def send_stream_data(self, stream_id, data: bytes, end_stream=False) -> None:
        if stream_id is None:
            if data or end_stream:
                self.misuse = f"{len(data)} bytes for a QPACK stream left out"
            return
        self._quic.send_stream_data(stream_id, data, end_stream)


class _StaticTableEncoder:
    """A QPACK encoder that never uses the dynamic table, so it has nothing
    to send on an encoder stream, whatever table the peer allows."""

    def __init__(self) -> None:
        self._encoder = pylsqpack.Encoder()

    def __getattr__(self, name: str):
        return getattr(self._encoder, name)

    def apply_settings(self, max_table_capacity: int, blocked_streams: int) -> bytes:
        return self._encoder.apply_settings(max_table_capacity=0, blocked_streams=0)


class ChosenStreamsH3Connection(H3Connection):
    """An H3Connection that opens only the unidirectional streams named."""

    def __init__(self, quic: QuicConnection, streams: list[str]) -> None:
        self._chosen = streams
        super().__init__(_OmittedStreamSink(quic), enable_webtransport=True)

    def _init_connection(self) -> None:
        if self._chosen[0] != "control" or not set(self._chosen) <= {
            "control",
            "encoder",
            "decoder",
            "reserved",
        }:
            raise ValueError(f"bad STREAMS: {','.join(self._chosen)}")
        if "decoder" not in self._chosen:
            # No decoder stream: a dynamic table of 0, so none is needed.
            self._max_table_capacity = 0
            self._blocked_streams = 0
            self._decoder = pylsqpack.Decoder(0, 0)
        if "encoder" not in self._chosen:
            self._encoder = _StaticTableEncoder()
        for name in self._chosen:
            if name == "control":
                self._local_control_stream_id = self._create_uni_stream(
                    StreamType.CONTROL
                )
                self._sent_settings = self._get_local_settings()
                self._quic.send_stream_data(
                    self._local_control_stream_id,
                    encode_frame(
                        FrameType.SETTINGS, encode_settings(self._sent_settings)
                    ),
                )
                if self._max_push_id is not None:
                    self._quic.send_stream_data(
                        self._local_control_stream_id,
                        encode_frame(
                            FrameType.MAX_PUSH_ID, encode_uint_var(self._max_push_id)
                        ),
                    )
            elif name == "encoder":
                self._local_encoder_stream_id = self._create_uni_stream(
                    StreamType.QPACK_ENCODER
                )
            elif name == "decoder":
                self._local_decoder_stream_id = self._create_uni_stream(
                    StreamType.QPACK_DECODER
                )
            else:
                stream = self._create_uni_stream(RESERVED_STREAM_TYPE)
                self._quic.send_stream_data(stream, b"padding")


class EchoClient(QuicConnectionProtocol):
    def __init__(self, *args, streams: list[str], **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.http = ChosenStreamsH3Connection(self._quic, streams)
        self.status: asyncio.Future = asyncio.get_running_loop().create_future()
        self.datagrams: list[bytes] = []
        self.uni: dict[int, bytearray] = {}

    def quic_event_received(self, event) -> None:
        for h3_event in self.http.handle_event(event):
            if isinstance(h3_event, HeadersReceived) and not self.status.done():
                self.status.set_result(dict(h3_event.headers).get(b":status"))
            elif isinstance(h3_event, DatagramReceived):
                self.datagrams.append(h3_event.data)
            elif isinstance(
                h3_event, WebTransportStreamDataReceived
            ) and stream_is_unidirectional(h3_event.stream_id):
                self.uni.setdefault(h3_event.stream_id, bytearray()).extend(
                    h3_event.data
                )


async def main(port: int, path: str, streams: list[str], wait_s: float) -> None:
    configuration = QuicConfiguration(
        alpn_protocols=H3_ALPN,
        is_client=True,
        verify_mode=ssl.CERT_NONE,
        max_datagram_frame_size=65536,
    )
    async with connect(
        "127.0.0.1",
        port,
        configuration=configuration,
        create_protocol=functools.partial(EchoClient, streams=streams),
    ) as client:
        session = client._quic.get_next_available_stream_id()
        client.http.send_headers(
            session,
            [
                (b":method", b"CONNECT"),
                (b":scheme", b"https"),
                (b":authority", f"127.0.0.1:{port}".encode()),
                (b":path", path.encode()),
                (b":protocol", b"webtransport"),
            ],
        )
        client.transmit()
        status = await asyncio.wait_for(client.status, wait_s)
        print(f"status {status.decode()}", flush=True)
        uni_payload = b"aioquic uni echo"
        datagram_payload = b"aioquic datagram echo"
        stream = client.http.create_webtransport_stream(session, is_unidirectional=True)
        client._quic.send_stream_data(stream, uni_payload, end_stream=True)
        client.http.send_datagram(session, datagram_payload)
        client.transmit()
        deadline = asyncio.get_running_loop().time() + wait_s
        while asyncio.get_running_loop().time() < deadline:
            if datagram_payload in client.datagrams and uni_payload in client.uni.values():
                break
            await asyncio.sleep(0.02)
        found = datagram_payload in client.datagrams
        print("datagram " + ("echoed" if found else "missing"))
        found = uni_payload in client.uni.values()
        print("uni " + ("echoed" if found else "missing"))
        if client.http._quic.misuse:
            sys.exit(client.http._quic.misuse)


if __name__ == "__main__":
    if len(sys.argv) not in (3, 4, 5):
        sys.exit("usage: aioquic_echo_client.py PORT PATH [STREAMS [WAIT_S]]")
    chosen = (sys.argv[3] if len(sys.argv) > 3 else STOCK_STREAMS).split(",")
    wait = float(sys.argv[4]) if len(sys.argv) > 4 else DEFAULT_WAIT_S
    asyncio.run(main(int(sys.argv[1]), sys.argv[2], chosen, wait))
