"""A WebTransport echo client on aioquic, for pingpong's interop tests.

    python aioquic_echo_client.py PORT PATH

Connects to 127.0.0.1:PORT (certificate not verified: loopback tests only),
opens a session on PATH, sends a datagram and a unidirectional stream (with
FIN), and prints `datagram echoed|missing` and `uni echoed|missing`. Like
Chromium, and unlike wtransport, aioquic opens QPACK encoder and decoder
streams, which is what the test exercises.
"""

import asyncio
import ssl
import sys

from aioquic.asyncio import connect
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import stream_is_unidirectional

WAIT_S = 2.0


class EchoClient(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.http = H3Connection(self._quic, enable_webtransport=True)
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


async def main(port: int, path: str) -> None:
    configuration = QuicConfiguration(
        alpn_protocols=H3_ALPN,
        is_client=True,
        verify_mode=ssl.CERT_NONE,
        max_datagram_frame_size=65536,
    )
    async with connect(
        "127.0.0.1", port, configuration=configuration, create_protocol=EchoClient
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
        status = await asyncio.wait_for(client.status, WAIT_S)
        print(f"status {status.decode()}", flush=True)
        uni_payload = b"aioquic uni echo"
        datagram_payload = b"aioquic datagram echo"
        stream = client.http.create_webtransport_stream(session, is_unidirectional=True)
        client._quic.send_stream_data(stream, uni_payload, end_stream=True)
        client.http.send_datagram(session, datagram_payload)
        client.transmit()
        deadline = asyncio.get_running_loop().time() + WAIT_S
        while asyncio.get_running_loop().time() < deadline:
            if datagram_payload in client.datagrams and uni_payload in client.uni.values():
                break
            await asyncio.sleep(0.02)
        found = datagram_payload in client.datagrams
        print("datagram " + ("echoed" if found else "missing"))
        found = uni_payload in client.uni.values()
        print("uni " + ("echoed" if found else "missing"))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: aioquic_echo_client.py PORT PATH")
    asyncio.run(main(int(sys.argv[1]), sys.argv[2]))
