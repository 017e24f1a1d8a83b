//! The SMTP server side (RFC 5321) with SIZE (RFC 1870), 8BITMIME (RFC
//! 6152), PIPELINING (RFC 2920), ENHANCEDSTATUSCODES (RFC 2034) and
//! STARTTLS (RFC 3207).
//!
//! A session is a small explicit state machine ([`State`]): greeting →
//! `EHLO`/`HELO` → `MAIL` → `RCPT`... → `DATA` → back to greeted. Every
//! input is bounded: the length of a line, the number of commands of a
//! session, the recipients of a message, the message size (a message
//! over `SIZE` is read to its end and refused with `552`), the time a
//! client may stay silent. A message is answered `250` only after the
//! spool has it durably ([`crate::spool`]).

use crate::config::{Network, SmtpConfig};
use crate::metrics::Metrics;
use crate::mime;
use crate::spool::{Envelope, Spool, Stage};
use std::collections::HashSet;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, mpsc};
use tokio_rustls::TlsAcceptor;

/// One line read with a bound.
#[derive(Debug, PartialEq, Eq)]
pub enum Line {
    /// A line, its line ending included.
    Full,
    /// The line was longer than allowed; it was read to its end and
    /// dropped.
    TooLong,
    /// The peer closed the connection (what was read of an unfinished
    /// line is in the buffer).
    Eof,
}

/// Reads one line (to LF) into `out` (cleared first), at most `max`
/// bytes; a longer line is consumed to its LF without being kept.
pub async fn read_line<R: AsyncBufReadExt + Unpin>(
    r: &mut R,
    max: usize,
    out: &mut Vec<u8>,
) -> io::Result<Line> {
    out.clear();
    let mut too_long = false;
    loop {
        let buf = r.fill_buf().await?;
        if buf.is_empty() {
            return Ok(Line::Eof);
        }
        let (chunk, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(p) => (buf.get(..=p).unwrap_or(buf), true),
            None => (buf, false),
        };
        let n = chunk.len();
        if !too_long && out.len() + n <= max {
            out.extend_from_slice(chunk);
        } else {
            too_long = true;
            out.clear();
        }
        r.consume(n);
        if done {
            return Ok(if too_long { Line::TooLong } else { Line::Full });
        }
    }
}

/// What the server shares with every session.
pub struct Server {
    /// `[smtp]`.
    pub config: SmtpConfig,
    /// The allowed client networks.
    pub networks: Vec<Network>,
    /// STARTTLS, when configured.
    pub tls: Option<TlsAcceptor>,
    /// The spool.
    pub spool: Arc<Spool>,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Where the ids of new messages go (the signer).
    pub queued: mpsc::UnboundedSender<String>,
    /// With `unknown_sender = "refuse"`: the addresses that sign; a
    /// message none of whose From/Sender addresses is here gets `550`.
    pub refuse_unless: Option<HashSet<String>>,
}

impl std::fmt::Debug for Server {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Server")
            .field("config", &self.config)
            .field("starttls", &self.tls.is_some())
            .finish_non_exhaustive()
    }
}

impl Server {
    /// Accepts sessions on `listener` for ever.
    pub async fn run(self: Arc<Self>, listener: TcpListener) {
        let sessions = Arc::new(Semaphore::new(self.config.max_sessions));
        loop {
            let (tcp, peer) = match listener.accept().await {
                Ok(c) => c,
                Err(e) => {
                    tracing::warn!("accept: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            };
            let server = Arc::clone(&self);
            let Ok(permit) = Arc::clone(&sessions).try_acquire_owned() else {
                tokio::spawn(async move {
                    let mut tcp = tcp;
                    let _ = tcp
                        .write_all(b"421 4.3.2 too many sessions, try later\r\n")
                        .await;
                });
                continue;
            };
            tokio::spawn(async move {
                if let Err(e) = server.session(tcp, peer).await {
                    tracing::debug!(%peer, "session ended: {e}");
                }
                drop(permit);
            });
        }
    }

    async fn session(&self, mut tcp: TcpStream, peer: SocketAddr) -> io::Result<()> {
        let _ = tcp.set_nodelay(true);
        if !self.networks.iter().any(|n| n.contains(peer.ip())) {
            tracing::warn!(%peer, "client not in smtp.allowed_networks; refused");
            tcp.write_all(b"554 5.7.1 your network may not submit here\r\n")
                .await?;
            return Ok(());
        }
        let greeting = format!("220 {} ESMTP sam-mail\r\n", self.config.hostname);
        tcp.write_all(greeting.as_bytes()).await?;
        let mut state = State::new(peer);
        let reader = BufReader::new(tcp);
        match self.commands(reader, &mut state).await? {
            End::Quit => Ok(()),
            End::StartTls(reader) => {
                let Some(tls) = &self.tls else {
                    return Ok(());
                };
                // RFC 3207 §4.2: whatever the client sent after STARTTLS
                // before the handshake is dropped with the buffer.
                let tcp = reader.into_inner();
                let stream = tls.accept(tcp).await?;
                state = State::new(peer);
                state.tls = true;
                match self.commands(BufReader::new(stream), &mut state).await? {
                    End::Quit | End::StartTls(_) => Ok(()),
                }
            }
        }
    }

    /// The command loop; replies are written when no more input is
    /// buffered, so a pipelining client gets them in one go.
    async fn commands<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        mut reader: BufReader<S>,
        state: &mut State,
    ) -> io::Result<End<S>> {
        let c = &self.config;
        let idle = Duration::from_secs(c.idle_timeout_secs);
        let mut line = Vec::new();
        let mut out = Vec::new();
        let mut commands = 0usize;
        loop {
            if reader.buffer().is_empty() && !out.is_empty() {
                reader.get_mut().write_all(&out).await?;
                reader.get_mut().flush().await?;
                out.clear();
            }
            let read =
                tokio::time::timeout(idle, read_line(&mut reader, c.max_line_bytes, &mut line))
                    .await;
            let kind = match read {
                Ok(r) => r?,
                Err(_) => {
                    out.extend_from_slice(b"421 4.4.2 idle too long, closing\r\n");
                    reader.get_mut().write_all(&out).await?;
                    return Ok(End::Quit);
                }
            };
            commands += 1;
            if commands > c.max_commands {
                out.extend_from_slice(b"421 4.7.0 too many commands, closing\r\n");
                reader.get_mut().write_all(&out).await?;
                return Ok(End::Quit);
            }
            match kind {
                Line::Eof => return Ok(End::Quit),
                Line::TooLong => {
                    out.extend_from_slice(b"500 5.5.2 line too long\r\n");
                    continue;
                }
                Line::Full => {}
            }
            let text = String::from_utf8_lossy(&line);
            let text = text.trim_end_matches(['\r', '\n']);
            let (verb, arg) = match text.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
                None => (text.to_ascii_uppercase(), ""),
            };
            match verb.as_str() {
                "EHLO" | "HELO" if arg.is_empty() => {
                    out.extend_from_slice(b"501 5.5.4 a domain or address is needed\r\n");
                }
                "EHLO" => {
                    state.greet(arg);
                    out.extend_from_slice(self.ehlo_reply(state).as_bytes());
                }
                "HELO" => {
                    state.greet(arg);
                    out.extend_from_slice(format!("250 {}\r\n", c.hostname).as_bytes());
                }
                "MAIL" => out.extend_from_slice(self.mail(state, arg).as_bytes()),
                "RCPT" => out.extend_from_slice(self.rcpt(state, arg).as_bytes()),
                "DATA" => {
                    if !arg.is_empty() {
                        out.extend_from_slice(b"501 5.5.4 DATA takes no argument\r\n");
                    } else if state.mail_from.is_none() {
                        out.extend_from_slice(b"503 5.5.1 MAIL first\r\n");
                    } else if state.rcpt_to.is_empty() {
                        out.extend_from_slice(b"503 5.5.1 RCPT first\r\n");
                    } else {
                        out.extend_from_slice(b"354 end data with <CRLF>.<CRLF>\r\n");
                        reader.get_mut().write_all(&out).await?;
                        reader.get_mut().flush().await?;
                        out.clear();
                        let reply = self.data(&mut reader, state).await?;
                        out.extend_from_slice(reply.as_bytes());
                        state.reset();
                    }
                }
                "RSET" => {
                    state.reset();
                    out.extend_from_slice(b"250 2.0.0 reset\r\n");
                }
                "NOOP" => out.extend_from_slice(b"250 2.0.0 ok\r\n"),
                "VRFY" => out.extend_from_slice(b"252 2.5.0 not verified\r\n"),
                "HELP" => out.extend_from_slice(
                    b"214 2.0.0 EHLO HELO MAIL RCPT DATA RSET NOOP QUIT STARTTLS\r\n",
                ),
                "QUIT" => {
                    out.extend_from_slice(b"221 2.0.0 bye\r\n");
                    reader.get_mut().write_all(&out).await?;
                    reader.get_mut().flush().await?;
                    let _ = reader.get_mut().shutdown().await;
                    return Ok(End::Quit);
                }
                "STARTTLS" => {
                    if self.tls.is_none() || state.tls {
                        out.extend_from_slice(b"502 5.5.1 STARTTLS not offered\r\n");
                    } else if !arg.is_empty() {
                        out.extend_from_slice(b"501 5.5.4 STARTTLS takes no argument\r\n");
                    } else if state.mail_from.is_some() {
                        out.extend_from_slice(b"503 5.5.1 not inside a transaction\r\n");
                    } else {
                        out.extend_from_slice(b"220 2.0.0 ready to start TLS\r\n");
                        reader.get_mut().write_all(&out).await?;
                        reader.get_mut().flush().await?;
                        return Ok(End::StartTls(reader));
                    }
                }
                _ => out.extend_from_slice(b"500 5.5.1 command not recognized\r\n"),
            }
        }
    }

    fn ehlo_reply(&self, state: &State) -> String {
        let c = &self.config;
        let mut lines = vec![
            c.hostname.clone(),
            format!("SIZE {}", c.max_message_bytes),
            "8BITMIME".into(),
            "PIPELINING".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.tls.is_some() && !state.tls {
            lines.push("STARTTLS".into());
        }
        let last = lines.len() - 1;
        lines
            .iter()
            .enumerate()
            .map(|(i, l)| format!("250{}{l}\r\n", if i == last { ' ' } else { '-' }))
            .collect()
    }

    fn mail(&self, state: &mut State, arg: &str) -> String {
        if state.helo.is_none() {
            return "503 5.5.1 EHLO or HELO first\r\n".into();
        }
        if state.mail_from.is_some() {
            return "503 5.5.1 nested MAIL command\r\n".into();
        }
        let Some((path, params)) = path_arg(arg, "FROM:") else {
            return "501 5.5.4 syntax: MAIL FROM:<address>\r\n".into();
        };
        if !path.is_empty() && !plausible_address(&path) {
            return "553 5.1.7 bad sender address\r\n".into();
        }
        let mut eight_bit = false;
        for p in params.split_whitespace() {
            let (k, v) = p.split_once('=').unwrap_or((p, ""));
            match k.to_ascii_uppercase().as_str() {
                "SIZE" => match v.parse::<u64>() {
                    Ok(n) if n > self.config.max_message_bytes as u64 => {
                        Metrics::inc(&self.metrics.refused);
                        return format!(
                            "552 5.3.4 message size exceeds fixed limit of {} bytes\r\n",
                            self.config.max_message_bytes
                        );
                    }
                    Ok(_) => {}
                    Err(_) => return "501 5.5.4 SIZE needs a number\r\n".into(),
                },
                "BODY" => match v.to_ascii_uppercase().as_str() {
                    "8BITMIME" => eight_bit = true,
                    "7BIT" => eight_bit = false,
                    _ => return "501 5.5.4 BODY is 7BIT or 8BITMIME\r\n".into(),
                },
                _ => return format!("555 5.5.4 parameter {k} not supported\r\n"),
            }
        }
        state.mail_from = Some(path);
        state.eight_bit = eight_bit;
        "250 2.1.0 sender ok\r\n".into()
    }

    fn rcpt(&self, state: &mut State, arg: &str) -> String {
        if state.mail_from.is_none() {
            return "503 5.5.1 MAIL first\r\n".into();
        }
        let Some((path, params)) = path_arg(arg, "TO:") else {
            return "501 5.5.4 syntax: RCPT TO:<address>\r\n".into();
        };
        if !params.trim().is_empty() {
            return "555 5.5.4 RCPT parameters not supported\r\n".into();
        }
        if !plausible_address(&path) {
            return "553 5.1.3 bad recipient address\r\n".into();
        }
        let domain = path
            .rsplit_once('@')
            .map(|(_, d)| d.to_ascii_lowercase())
            .unwrap_or_default();
        let accepted = self
            .config
            .accepted_domains
            .iter()
            .any(|d| d == "*" || d.eq_ignore_ascii_case(&domain));
        if !accepted {
            return format!("550 5.7.1 relaying to {domain} denied\r\n");
        }
        if state.rcpt_to.len() >= self.config.max_recipients {
            return "452 4.5.3 too many recipients\r\n".into();
        }
        state.rcpt_to.push(path);
        "250 2.1.5 recipient ok\r\n".into()
    }

    /// Reads the message to the lone dot (dot-unstuffing), then spools it.
    async fn data<S: AsyncRead + AsyncWrite + Unpin>(
        &self,
        reader: &mut BufReader<S>,
        state: &State,
    ) -> io::Result<String> {
        let c = &self.config;
        let idle = Duration::from_secs(c.idle_timeout_secs);
        let id = self.spool.new_id();
        let received = format!(
            "Received: from {} ({})\r\n\tby {} (sam-mail) with {} id {id};\r\n\t{}\r\n",
            state.helo.as_deref().unwrap_or("unknown"),
            state.peer.ip(),
            c.hostname,
            if state.tls { "ESMTPS" } else { "ESMTP" },
            mime::rfc5322_date(mime::unix_now()),
        );
        let mut message = received.into_bytes();
        // SIZE counts the client's bytes, not the Received field added here.
        let ours = message.len();
        let mut line = Vec::new();
        let (mut too_big, mut too_long) = (false, false);
        loop {
            let kind =
                match tokio::time::timeout(idle, read_line(reader, c.max_line_bytes, &mut line))
                    .await
                {
                    Ok(r) => r?,
                    Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "idle in DATA")),
                };
            match kind {
                Line::Eof => {
                    return Err(io::Error::new(io::ErrorKind::UnexpectedEof, "EOF in DATA"));
                }
                Line::TooLong => {
                    too_long = true;
                    continue;
                }
                Line::Full => {}
            }
            if line == b".\r\n" || line == b".\n" {
                break;
            }
            let content = line.strip_prefix(b".").unwrap_or(&line);
            if message.len() - ours + content.len() > c.max_message_bytes {
                too_big = true;
            }
            if !too_big {
                message.extend_from_slice(content);
            }
        }
        if too_big {
            Metrics::inc(&self.metrics.refused);
            return Ok(format!(
                "552 5.3.4 message size exceeds fixed limit of {} bytes\r\n",
                c.max_message_bytes
            ));
        }
        if too_long {
            Metrics::inc(&self.metrics.refused);
            return Ok("500 5.5.2 line too long in message\r\n".into());
        }
        if let Some(signing) = &self.refuse_unless {
            let parsed = mime::parse(&message);
            let mut senders = parsed.addresses("From");
            senders.extend(parsed.addresses("Sender"));
            if !senders.iter().any(|s| signing.contains(s)) {
                Metrics::inc(&self.metrics.refused);
                tracing::info!(id, ?senders, "refused: no signing key for the sender");
                return Ok("550 5.7.1 no signing key for this sender\r\n".into());
            }
        }
        let envelope = Envelope {
            id: id.clone(),
            mail_from: state.mail_from.clone().unwrap_or_default(),
            rcpt_to: state.rcpt_to.clone(),
            eight_bit: state.eight_bit,
            accepted_unix: mime::unix_now(),
            client: format!(
                "{} {}",
                state.peer.ip(),
                state.helo.as_deref().unwrap_or("")
            ),
        };
        let spool = Arc::clone(&self.spool);
        let stored =
            tokio::task::spawn_blocking(move || spool.store(Stage::Incoming, &envelope, &message))
                .await
                .map_err(io::Error::other)
                .and_then(|r| r);
        match stored {
            Ok(()) => {
                Metrics::inc(&self.metrics.accepted);
                tracing::info!(
                    id,
                    from = state.mail_from.as_deref().unwrap_or(""),
                    rcpts = state.rcpt_to.len(),
                    "accepted"
                );
                let _ = self.queued.send(id.clone());
                Ok(format!("250 2.0.0 ok: queued as {id}\r\n"))
            }
            Err(e) => {
                tracing::error!(id, "spool write failed: {e}");
                Ok("451 4.3.0 could not queue the message, try later\r\n".into())
            }
        }
    }
}

/// How a command loop ended.
enum End<S> {
    /// The session is over.
    Quit,
    /// The client asked for TLS: the connection, its buffer to be dropped.
    StartTls(BufReader<S>),
}

/// A session's state.
#[derive(Debug)]
struct State {
    peer: SocketAddr,
    tls: bool,
    helo: Option<String>,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
    eight_bit: bool,
}

impl State {
    fn new(peer: SocketAddr) -> Self {
        Self {
            peer,
            tls: false,
            helo: None,
            mail_from: None,
            rcpt_to: Vec::new(),
            eight_bit: false,
        }
    }

    /// EHLO/HELO: a new greeting ends any transaction (RFC 5321 §4.1.4).
    fn greet(&mut self, name: &str) {
        let name: String = name
            .split_whitespace()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(255)
            .collect();
        self.helo = Some(name);
        self.reset();
    }

    fn reset(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
        self.eight_bit = false;
    }
}

/// `FROM:<path> params` → (path, params); the keyword is matched without
/// regard to case, a space after the colon tolerated.
fn path_arg<'a>(arg: &'a str, keyword: &str) -> Option<(String, &'a str)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg.get(keyword.len()..)?.trim_start();
    let rest = rest.strip_prefix('<')?;
    let end = rest.find('>')?;
    let path = rest.get(..end)?.to_string();
    Some((path, rest.get(end + 1..).unwrap_or("")))
}

fn plausible_address(path: &str) -> bool {
    match path.rsplit_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && path.len() <= 254
                && path
                    .bytes()
                    .all(|b| b.is_ascii_graphic() && b != b'<' && b != b'>')
        }
        None => false,
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_bounded() {
        let mut r = BufReader::with_capacity(4, &b"abc\r\n0123456789\r\nend"[..]);
        let mut out = Vec::new();
        assert_eq!(read_line(&mut r, 8, &mut out).await.unwrap(), Line::Full);
        assert_eq!(out, b"abc\r\n");
        assert_eq!(read_line(&mut r, 8, &mut out).await.unwrap(), Line::TooLong);
        assert!(out.is_empty());
        assert_eq!(read_line(&mut r, 8, &mut out).await.unwrap(), Line::Eof);
        assert_eq!(out, b"end");
    }

    #[test]
    fn paths_parse() {
        assert_eq!(
            path_arg("from:<a@b.c> SIZE=10", "FROM:"),
            Some(("a@b.c".into(), " SIZE=10"))
        );
        assert_eq!(path_arg("FROM: <>", "FROM:"), Some((String::new(), "")));
        assert_eq!(path_arg("FROM a@b", "FROM:"), None);
        assert!(plausible_address("a@b.c"));
        assert!(!plausible_address("a b@c"));
        assert!(!plausible_address("@c"));
    }
}
