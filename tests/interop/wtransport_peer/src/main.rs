//! An independent WebTransport peer for pingpong's interop tests, on the
//! `wtransport` crate (the stack of the original Rust client).
//!
//! ```text
//! wtransport_peer client URL HASH echo|pingpong COUNT
//! wtransport_peer server CERT.pem KEY.pem
//! ```
//!
//! The client prints one line per check (`bidi 20/20`) and exits 0 when every
//! check passed. The server is an echo server on `/echo` in the manner of the
//! GoogleChrome WebTransport samples; it prints `listening on PORT`.

use anyhow::{anyhow, bail, Context, Result};
use std::time::{Duration, SystemTime, UNIX_EPOCH};
use tokio::io::AsyncReadExt;
use tokio::time::timeout;
use wtransport::endpoint::IncomingSession;
use wtransport::tls::Sha256Digest;
use wtransport::{ClientConfig, Connection, Endpoint, Identity, ServerConfig};

const WAIT: Duration = Duration::from_secs(5);
const MAX_ECHO: usize = 1 << 20;

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("client") if args.len() == 5 => client(&args[1], &args[2], &args[3], &args[4]).await,
        Some("server") if args.len() == 3 => server(&args[1], &args[2]).await,
        _ => Err(anyhow!(
            "usage: wtransport_peer client URL HASH echo|pingpong COUNT | server CERT KEY"
        )),
    };
    if let Err(error) = result {
        eprintln!("error: {error:#}");
        std::process::exit(1);
    }
}

fn parse_hash(hex: &str) -> Result<Sha256Digest> {
    let hex = hex.replace(':', "");
    if hex.len() != 64 {
        bail!("certificate hash must be 64 hex digits");
    }
    let mut bytes = [0u8; 32];
    for (i, byte) in bytes.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).context("bad hex")?;
    }
    Ok(Sha256Digest::new(bytes))
}

async fn client(url: &str, hash: &str, protocol: &str, count: &str) -> Result<()> {
    let count: u64 = count.parse().context("COUNT")?;
    let config = ClientConfig::builder()
        .with_bind_default()
        .with_server_certificate_hashes([parse_hash(hash)?])
        .max_idle_timeout(Some(Duration::from_secs(10)))?
        .build();
    let connection = timeout(WAIT, Endpoint::client(config)?.connect(url))
        .await
        .context("connect timed out")?
        .context("connect")?;
    println!("connected {url}");
    let streams = |r: Result<Echoed>| r.map(|t| (t.matched, Some(t.ended)));
    let plain = |r: Result<u64>| r.map(|matched| (matched, None));
    let checks = match protocol {
        "echo" => vec![
            ("bidi", streams(echo_bidi(&connection, count).await)),
            ("bidi-per-message", streams(echo_bidi_per_message(&connection, count).await)),
            ("uni", streams(echo_uni(&connection, count).await)),
            ("datagram", plain(echo_datagrams(&connection, count).await)),
        ],
        "pingpong" => vec![
            ("stream", plain(pingpong_stream(&connection, count).await)),
            ("stream-per-ping", plain(pingpong_stream_per_ping(&connection, count).await)),
            ("datagram", plain(pingpong_datagrams(&connection, count).await)),
        ],
        other => bail!("unknown protocol {other}"),
    };
    connection.close(0u32.into(), b"done");
    let mut failed = 0;
    for (name, result) in checks {
        match result {
            Ok((matched, ended)) => {
                let ended_text = ended.map(|e| format!(" ended {e}/{count}")).unwrap_or_default();
                let ok = matched == count && ended.is_none_or(|e| e == count);
                if !ok {
                    failed += 1;
                }
                println!("{name} {matched}/{count}{ended_text}{}", if ok { "" } else { " FAILED" });
            }
            Err(error) => {
                failed += 1;
                println!("{name} FAILED: {error:#}");
            }
        }
    }
    // Let the CONNECTION_CLOSE leave before the process does.
    tokio::time::sleep(Duration::from_millis(50)).await;
    if failed > 0 {
        bail!("{failed} check(s) failed");
    }
    Ok(())
}

/// A payload that names its message and when it was sent, then filler.
fn payload(kind: &str, seq: u64, size: usize) -> Vec<u8> {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let mut bytes = format!("wtransport {kind} seq={seq} t={ms} ").into_bytes();
    let mut i = 0u8;
    while bytes.len() < size {
        bytes.push(b'a' + i % 26);
        i = i.wrapping_add(1);
    }
    bytes
}

/// How long to wait for a stream's end (FIN) once its bytes are back.
const FIN_WAIT: Duration = Duration::from_millis(300);

/// Counts of one stream check: bytes echoed intact, and streams the peer ended.
#[derive(Default)]
struct Echoed {
    matched: u64,
    ended: u64,
}

/// Reads `expected.len()` bytes, then waits briefly for the end of the stream.
async fn read_echo(recv: &mut wtransport::RecvStream, expected: &[u8], tally: &mut Echoed) -> Result<()> {
    let mut back = vec![0; expected.len()];
    timeout(WAIT, recv.read_exact(&mut back)).await.context("no echo")??;
    if back == expected {
        tally.matched += 1;
    }
    let mut rest = [0u8; 1];
    if let Ok(Ok(None)) = timeout(FIN_WAIT, recv.read(&mut rest)).await {
        tally.ended += 1;
    }
    Ok(())
}

async fn echo_bidi(connection: &Connection, count: u64) -> Result<Echoed> {
    let (mut send, mut recv) = connection.open_bi().await?.await?;
    let mut tally = Echoed::default();
    for seq in 1..=count {
        let sent = payload("bidi", seq, 100);
        send.write_all(&sent).await?;
        let mut back = vec![0; sent.len()];
        timeout(WAIT, recv.read_exact(&mut back)).await.context("no echo")??;
        if back == sent {
            tally.matched += 1;
        }
    }
    send.finish().await?;
    let mut rest = [0u8; 1];
    if let Ok(Ok(None)) = timeout(FIN_WAIT, recv.read(&mut rest)).await {
        tally.ended = count; // one stream carried them all
    }
    Ok(tally)
}

async fn echo_bidi_per_message(connection: &Connection, count: u64) -> Result<Echoed> {
    let mut tally = Echoed::default();
    for seq in 1..=count {
        let (mut send, mut recv) = connection.open_bi().await?.await?;
        let sent = payload("bidi-per-message", seq, 100);
        send.write_all(&sent).await?;
        send.finish().await?;
        read_echo(&mut recv, &sent, &mut tally).await?;
    }
    Ok(tally)
}

async fn echo_uni(connection: &Connection, count: u64) -> Result<Echoed> {
    let mut tally = Echoed::default();
    for seq in 1..=count {
        let mut send = connection.open_uni().await?.await?;
        let sent = payload("uni", seq, 100);
        send.write_all(&sent).await?;
        send.finish().await?;
        let mut recv = timeout(WAIT, connection.accept_uni())
            .await
            .context("no uni stream back")??;
        read_echo(&mut recv, &sent, &mut tally).await?;
    }
    Ok(tally)
}

/// Sends `make(seq)` as a datagram until `check` accepts a datagram back
/// (three tries: datagrams are unreliable even on loopback).
async fn datagram_round_trips(
    connection: &Connection,
    count: u64,
    make: impl Fn(u64) -> Vec<u8>,
    check: impl Fn(u64, &[u8]) -> bool,
) -> Result<u64> {
    let mut matched = 0;
    'next: for seq in 1..=count {
        let sent = make(seq);
        for _ in 0..3 {
            connection.send_datagram(&sent)?;
            let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
            while let Ok(received) = tokio::time::timeout_at(deadline, connection.receive_datagram()).await {
                if check(seq, &received?.payload()) {
                    matched += 1;
                    continue 'next;
                }
            }
        }
    }
    Ok(matched)
}

async fn echo_datagrams(connection: &Connection, count: u64) -> Result<u64> {
    datagram_round_trips(
        connection,
        count,
        |seq| payload("datagram", seq, 100),
        |seq, back| back.starts_with(format!("wtransport datagram seq={seq} ").as_bytes()),
    )
    .await
}

// --- pingpong's codec, written from docs/protocol.md -------------------------

const PING: u8 = 0x01;
const PONG: u8 = 0x02;
const FINAL: u8 = 0x01;
const HEADER: usize = 19;

fn ping_message(seq: u64, flags: u8, size: usize) -> Vec<u8> {
    let ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs_f64() * 1000.0;
    let mut bytes = vec![1, PING, flags];
    bytes.extend_from_slice(&seq.to_be_bytes());
    bytes.extend_from_slice(&ms.to_be_bytes());
    bytes.resize(size.max(HEADER), 0x5a);
    bytes
}

fn frame(message: &[u8]) -> Vec<u8> {
    let len = message.len() as u64;
    let mut bytes = match len {
        0..=0x3f => vec![len as u8],
        0x40..=0x3fff => ((len as u16) | 0x4000).to_be_bytes().to_vec(),
        _ => ((len as u32) | 0x8000_0000).to_be_bytes().to_vec(),
    };
    bytes.extend_from_slice(message);
    bytes
}

/// True when `pong` answers `ping`: type PONG, and every other byte repeated.
fn is_pong_for(ping: &[u8], pong: &[u8]) -> bool {
    pong.len() == ping.len() && pong[0] == 1 && pong[1] == PONG && pong[2..] == ping[2..]
}

async fn read_frame(recv: &mut wtransport::RecvStream) -> Result<Vec<u8>> {
    let mut first = [0u8; 1];
    recv.read_exact(&mut first).await?;
    let size = 1usize << (first[0] >> 6);
    let mut rest = vec![0u8; size - 1];
    recv.read_exact(&mut rest).await?;
    let mut len = (first[0] & 0x3f) as u64;
    for byte in rest {
        len = len * 256 + byte as u64;
    }
    if len > 65_536 {
        bail!("frame of {len} bytes");
    }
    let mut message = vec![0u8; len as usize];
    recv.read_exact(&mut message).await?;
    Ok(message)
}

async fn pingpong_stream(connection: &Connection, count: u64) -> Result<u64> {
    let (mut send, mut recv) = connection.open_bi().await?.await?;
    let mut matched = 0;
    for seq in 1..=count {
        let ping = ping_message(seq, 0, 64);
        send.write_all(&frame(&ping)).await?;
        let pong = timeout(WAIT, read_frame(&mut recv)).await.context("no PONG")??;
        if is_pong_for(&ping, &pong) {
            matched += 1;
        }
    }
    send.finish().await?;
    Ok(matched)
}

async fn pingpong_stream_per_ping(connection: &Connection, count: u64) -> Result<u64> {
    let mut matched = 0;
    for seq in 1..=count {
        let (mut send, mut recv) = connection.open_bi().await?.await?;
        let ping = ping_message(seq, FINAL, 64);
        send.write_all(&frame(&ping)).await?;
        send.finish().await?;
        let pong = timeout(WAIT, read_frame(&mut recv)).await.context("no PONG")??;
        if is_pong_for(&ping, &pong) {
            matched += 1;
        }
    }
    Ok(matched)
}

async fn pingpong_datagrams(connection: &Connection, count: u64) -> Result<u64> {
    datagram_round_trips(
        connection,
        count,
        |seq| ping_message(seq, 0, 64),
        |seq, back| {
            back.len() == 64 && back[0] == 1 && back[1] == PONG && back[3..11] == seq.to_be_bytes()
        },
    )
    .await
}

// --- echo server -------------------------------------------------------------

async fn server(cert: &str, key: &str) -> Result<()> {
    let identity = Identity::load_pemfiles(cert, key).await.context("loading PEM files")?;
    let config = ServerConfig::builder()
        .with_bind_default(0)
        .with_identity(identity)
        .max_idle_timeout(Some(Duration::from_secs(30)))?
        .build();
    let endpoint = Endpoint::server(config)?;
    println!("listening on {}", endpoint.local_addr()?.port());
    loop {
        let incoming = endpoint.accept().await;
        tokio::spawn(async move {
            if let Err(error) = serve_session(incoming).await {
                eprintln!("session ended: {error:#}");
            }
        });
    }
}

async fn serve_session(incoming: IncomingSession) -> Result<()> {
    let request = incoming.await?;
    if request.path() != "/echo" {
        request.not_found().await;
        return Ok(());
    }
    let connection = request.accept().await?;
    loop {
        tokio::select! {
            stream = connection.accept_bi() => {
                let (mut send, mut recv) = stream?;
                tokio::spawn(async move {
                    let _ = tokio::io::copy(&mut recv, &mut send).await;
                    let _ = send.finish().await;
                });
            }
            stream = connection.accept_uni() => {
                let mut recv = stream?;
                let connection = connection.clone();
                tokio::spawn(async move {
                    let _ = async {
                        let mut bytes = Vec::new();
                        (&mut recv).take(MAX_ECHO as u64).read_to_end(&mut bytes).await?;
                        let mut send = connection.open_uni().await?.await?;
                        send.write_all(&bytes).await?;
                        send.finish().await?;
                        anyhow::Ok(())
                    }
                    .await;
                });
            }
            datagram = connection.receive_datagram() => {
                let _ = connection.send_datagram(datagram?.payload());
            }
        }
    }
}
