"""A WebTransport echo server on aioquic (the stack of the original Python
server), for pingpong's interop tests.

    python aioquic_echo_server.py CERT.pem KEY.pem

Serves /echo in the manner of the GoogleChrome WebTransport samples: a
bidirectional stream echoes its bytes on itself, a unidirectional stream is
answered on a new one once it ends, every datagram is returned. Binds
127.0.0.1 on a free port and prints `listening on PORT`. On stderr, each
unidirectional stream echoed is logged with the ids of the QPACK encoder and
decoder streams its peer had opened (`None` for none).
"""

import asyncio
import sys

from aioquic.asyncio import QuicConnectionProtocol, serve
from aioquic.h3.connection import H3_ALPN, H3Connection
from aioquic.h3.events import (
    DatagramReceived,
    H3Event,
    HeadersReceived,
    WebTransportStreamDataReceived,
)
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.connection import stream_is_unidirectional
from aioquic.quic.events import ProtocolNegotiated, QuicEvent

MAX_UNI_BYTES = 1 << 20


class EchoProtocol(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._http: H3Connection | None = None
        self._sessions: set[int] = set()
        self._uni: dict[int, bytearray] = {}

    def quic_event_received(self, event: QuicEvent) -> None:
        if isinstance(event, ProtocolNegotiated) and event.alpn_protocol in H3_ALPN:
            self._http = H3Connection(self._quic, enable_webtransport=True)
        if self._http is not None:
            for h3_event in self._http.handle_event(event):
                self._h3_event(h3_event)

    def _h3_event(self, event: H3Event) -> None:
        assert self._http is not None
        if isinstance(event, HeadersReceived):
            headers = dict(event.headers)
            if (
                headers.get(b":method") == b"CONNECT"
                and headers.get(b":protocol") == b"webtransport"
                and headers.get(b":path") == b"/echo"
            ):
                self._sessions.add(event.stream_id)
                self._http.send_headers(
                    event.stream_id,
                    [(b":status", b"200"), (b"sec-webtransport-http3-draft", b"draft02")],
                )
            else:
                self._http.send_headers(
                    event.stream_id, [(b":status", b"404")], end_stream=True
                )
        elif isinstance(event, DatagramReceived):
            if event.stream_id in self._sessions:
                self._http.send_datagram(event.stream_id, event.data)
        elif isinstance(event, WebTransportStreamDataReceived):
            if event.session_id not in self._sessions:
                return
            if not stream_is_unidirectional(event.stream_id):
                self._quic.send_stream_data(
                    event.stream_id, event.data, end_stream=event.stream_ended
                )
            else:
                buffer = self._uni.setdefault(event.stream_id, bytearray())
                buffer += event.data
                if len(buffer) > MAX_UNI_BYTES:
                    self._uni.pop(event.stream_id)
                    self._quic.stop_stream(event.stream_id, 0)
                elif event.stream_ended:
                    data = self._uni.pop(event.stream_id)
                    # Which HTTP/3 streams the peer opened before this one,
                    # for the tests (Deno 2.9.6 stalls behind QPACK ones).
                    print(
                        "uni stream after peer QPACK streams:"
                        f" encoder {self._http._peer_encoder_stream_id},"
                        f" decoder {self._http._peer_decoder_stream_id}",
                        file=sys.stderr,
                        flush=True,
                    )
                    reply = self._http.create_webtransport_stream(
                        event.session_id, is_unidirectional=True
                    )
                    self._quic.send_stream_data(reply, bytes(data), end_stream=True)
        self.transmit()


async def main(cert: str, key: str) -> None:
    configuration = QuicConfiguration(
        alpn_protocols=H3_ALPN,
        is_client=False,
        max_datagram_frame_size=65536,
    )
    configuration.load_cert_chain(cert, key)
    server = await serve(
        "127.0.0.1", 0, configuration=configuration, create_protocol=EchoProtocol
    )
    # serve() has no public accessor for the bound port.
    port = server._transport.get_extra_info("sockname")[1]
    print(f"listening on {port}", flush=True)
    await asyncio.Future()


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: aioquic_echo_server.py CERT.pem KEY.pem")
    try:
        asyncio.run(main(sys.argv[1], sys.argv[2]))
    except KeyboardInterrupt:
        pass
