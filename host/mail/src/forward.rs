//! Forwarding: an SMTP client to the next hop, a retry schedule with
//! exponential backoff, and bounces (RFC 3464 delivery status
//! notifications to the envelope sender).
//!
//! Crash safety: before a delivery the spool's `.sending` marker is made
//! durable; the message file is removed only after the next hop's `250`
//! to the final dot. A delivery that fails before the dot was sent drops
//! its marker again. A marker found when a delivery starts therefore
//! means that an earlier delivery may have reached the next hop (a crash
//! or a lost reply after the dot): the message is sent again and the log
//! says it may be duplicated.

use crate::config::{ForwardConfig, StartTls};
use crate::metrics::Metrics;
use crate::mime;
use crate::smtp::{Line, read_line};
use crate::spool::{Envelope, Spool, Stage};
use std::collections::{HashMap, HashSet};
use std::io;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio::time::Instant;

/// Why a delivery failed.
#[derive(Debug)]
struct Failure {
    /// A 5xx answer: trying again will not help.
    permanent: bool,
    /// The final dot was sent: the next hop may have the message.
    after_dot: bool,
    /// The connection is no longer usable.
    broken: bool,
    /// What happened.
    detail: String,
}

impl Failure {
    fn io(after_dot: bool, e: impl std::fmt::Display) -> Self {
        Self {
            broken: true,
            permanent: false,
            after_dot,
            detail: e.to_string(),
        }
    }
}

/// The recipients a transaction did not deliver to, with the reply.
#[derive(Debug, Default)]
struct Refused {
    /// 4xx: to try again.
    now: Vec<(String, String)>,
    /// 5xx: to bounce.
    ever: Vec<(String, String)>,
}

/// Every recipient of `envelope`, failed for `detail`.
fn every(envelope: &Envelope, detail: &str) -> Vec<(String, String)> {
    envelope
        .rcpt_to
        .iter()
        .map(|r| (r.clone(), detail.to_string()))
        .collect()
}

/// Messages one connection carries at most before it is closed.
const MAX_PER_CONNECTION: usize = 50;

#[derive(Debug, Clone, Copy)]
struct Retry {
    attempts: u32,
    next: Instant,
}

/// The forwarding stage.
#[derive(Debug)]
pub struct Forwarder {
    config: ForwardConfig,
    hostname: String,
    spool: Arc<Spool>,
    metrics: Arc<Metrics>,
    retries: Mutex<HashMap<String, Retry>>,
    busy: Mutex<HashSet<String>>,
    done: Notify,
    tls: Option<NextHopTls>,
    stopping: std::sync::atomic::AtomicBool,
}

/// STARTTLS to the next hop: the connector (trusting `forward.tls_ca`)
/// and the name its certificate must carry.
struct NextHopTls {
    connector: tokio_rustls::TlsConnector,
    name: rustls_pki_types::ServerName<'static>,
}

impl std::fmt::Debug for NextHopTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NextHopTls")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl Forwarder {
    /// A forwarder to `config.next_hop`, greeting as `hostname`.
    pub fn new(
        config: ForwardConfig,
        hostname: String,
        spool: Arc<Spool>,
        metrics: Arc<Metrics>,
    ) -> Result<Self, String> {
        let tls = match config.starttls {
            StartTls::Off => None,
            StartTls::Required => {
                let ca = config
                    .tls_ca
                    .as_deref()
                    .ok_or("forward.starttls = \"required\" needs forward.tls_ca")?;
                let roots = sam_client::read_pem_certificates(ca).map_err(|e| e.to_string())?;
                let mut client =
                    (*sam_client::tls_config(roots, None).map_err(|e| e.to_string())?).clone();
                client.alpn_protocols.clear();
                let host = match &config.tls_name {
                    Some(n) => n.clone(),
                    None => config
                        .next_hop
                        .rsplit_once(':')
                        .map_or(config.next_hop.clone(), |(h, _)| {
                            h.trim_matches(['[', ']']).to_string()
                        }),
                };
                let name = rustls_pki_types::ServerName::try_from(host.clone())
                    .map_err(|e| format!("forward.tls_name {host:?}: {e}"))?;
                Some(NextHopTls {
                    connector: tokio_rustls::TlsConnector::from(Arc::new(client)),
                    name,
                })
            }
        };
        Ok(Self {
            tls,
            config,
            hostname,
            spool,
            metrics,
            retries: Mutex::default(),
            busy: Mutex::default(),
            done: Notify::new(),
            stopping: std::sync::atomic::AtomicBool::new(false),
        })
    }

    /// Delivers what `outgoing` holds, woken by `ready` and once a second
    /// for the retries.
    pub async fn run(self: Arc<Self>, mut ready: mpsc::UnboundedReceiver<String>) {
        let slots = Arc::new(Semaphore::new(self.config.concurrency));
        loop {
            let now = Instant::now();
            let due: Vec<String> = {
                let retries = self.retries.lock().unwrap_or_else(PoisonError::into_inner);
                let busy = self.busy.lock().unwrap_or_else(PoisonError::into_inner);
                self.spool
                    .list(Stage::Outgoing)
                    .unwrap_or_default()
                    .into_iter()
                    .filter(|id| {
                        !busy.contains(id) && retries.get(id).is_none_or(|r| r.next <= now)
                    })
                    .collect()
            };
            if self.stopping.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            // Spread over the free slots; each slot sends its share over
            // one connection.
            let free = slots.available_permits().max(1);
            let per = due.len().div_ceil(free).clamp(1, MAX_PER_CONNECTION);
            for chunk in due.chunks(per) {
                let Ok(permit) = Arc::clone(&slots).try_acquire_owned() else {
                    break;
                };
                let chunk = chunk.to_vec();
                self.busy
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .extend(chunk.iter().cloned());
                let me = Arc::clone(&self);
                tokio::spawn(async move {
                    me.deliver_chunk(&chunk).await;
                    let mut busy = me.busy.lock().unwrap_or_else(PoisonError::into_inner);
                    for id in &chunk {
                        busy.remove(id);
                    }
                    drop(busy);
                    drop(permit);
                    me.done.notify_one();
                });
            }
            // Woken by a new message or a finished delivery; else a second.
            tokio::select! {
                got = ready.recv() => {
                    if got.is_none() {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                    }
                }
                () = self.done.notified() => {}
                () = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
            while ready.try_recv().is_ok() {}
        }
    }

    /// Starts no more deliveries and waits up to `grace` for those under
    /// way; whether they all ended. (One cut off after its final dot is
    /// re-sent at the next start and logged as possibly duplicated.)
    pub async fn stop(&self, grace: Duration) -> bool {
        self.stopping
            .store(true, std::sync::atomic::Ordering::Relaxed);
        let end = Instant::now() + grace;
        while Instant::now() < end {
            if self
                .busy
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .is_empty()
            {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    /// Delivers `ids` over one connection; when the connection cannot be
    /// made or breaks, the rest wait for the next round.
    async fn deliver_chunk(&self, ids: &[String]) {
        let mut conn = None;
        for id in ids {
            if !self.deliver(id, &mut conn).await {
                break;
            }
        }
        if let Some(c) = conn {
            c.quit().await;
        }
    }

    /// One message over `conn` (connected first if `None`); `false` when
    /// no connection could be made.
    async fn deliver(&self, id: &str, conn: &mut Option<Conn>) -> bool {
        if self.spool.contains(Stage::Incoming, id) {
            // The signer has not yet dropped the unsigned copy; were this
            // delivered now and the relay killed before that, the copy
            // would be signed and sent again without a word.
            return true;
        }
        let (envelope, message) = match self.spool.load(Stage::Outgoing, id) {
            Ok(m) => m,
            Err(e) => {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::error!(id, "cannot read the spooled message: {e}");
                }
                return true;
            }
        };
        match self.spool.mark_sending(id) {
            Ok(true) => {
                Metrics::inc(&self.metrics.possibly_duplicated);
                tracing::warn!(
                    id,
                    "POSSIBLY DUPLICATED: an earlier delivery of this message may have reached the next hop (crash or lost reply after the data); sending it again"
                );
            }
            Ok(false) => {}
            Err(e) => {
                tracing::error!(id, "cannot write the delivery marker, not delivering: {e}");
                self.defer(id, &envelope, &message, "spool marker").await;
                return true;
            }
        }
        let c = match conn {
            Some(c) => c,
            None => match self.connect().await {
                Ok(c) => conn.insert(c),
                Err(f) => {
                    let _ = self.spool.unmark_sending(id);
                    self.defer(id, &envelope, &message, &f.detail).await;
                    return false;
                }
            },
        };
        let result = c.transact(&envelope, &message).await;
        if let Err(f) = &result
            && (f.broken || !c.reset().await)
        {
            *conn = None;
        }
        match result {
            Ok(refused) => self.delivered(id, envelope, &message, refused).await,
            Err(f) => {
                if !f.after_dot {
                    let _ = self.spool.unmark_sending(id);
                }
                if f.permanent {
                    tracing::warn!(
                        id,
                        "the next hop refused the message for good: {}",
                        f.detail
                    );
                    let all = every(&envelope, &f.detail);
                    self.bounce(id, &envelope, &message, &all, true);
                } else {
                    self.defer(id, &envelope, &message, &f.detail).await;
                }
            }
        }
        true
    }

    /// The transaction ended; `refused` are the recipients the next hop
    /// did not take. Those refused for good are bounced; those refused
    /// for now stay in the spool (its envelope rewritten to them alone)
    /// and are tried again; the message goes when nobody is left.
    async fn delivered(&self, id: &str, envelope: Envelope, message: &[u8], refused: Refused) {
        let took = envelope.rcpt_to.len() - refused.now.len() - refused.ever.len();
        if took > 0 {
            Metrics::inc(&self.metrics.forwarded);
            tracing::info!(
                id,
                next_hop = self.config.next_hop,
                recipients = took,
                "forwarded"
            );
        }
        if !refused.ever.is_empty() {
            tracing::warn!(id, refused = ?refused.ever, "recipients refused for good");
            self.bounce(id, &envelope, message, &refused.ever, false);
        }
        if refused.now.is_empty() {
            if let Err(e) = self.spool.remove(Stage::Outgoing, id) {
                tracing::error!(id, "delivered but cannot remove it from the spool: {e}");
            }
            self.retries
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .remove(id);
            return;
        }
        let detail = refused
            .now
            .first()
            .map(|(_, d)| d.clone())
            .unwrap_or_default();
        let rest = Envelope {
            rcpt_to: refused.now.into_iter().map(|(r, _)| r).collect(),
            ..envelope
        };
        if took > 0 || !refused.ever.is_empty() {
            // Those who got it must not get it again: the spool keeps
            // only the others (a crash before this line re-sends to all,
            // which the marker reports).
            if let Err(e) = self.spool.store(Stage::Outgoing, &rest, message) {
                tracing::error!(id, "cannot rewrite the envelope: {e}");
            }
        }
        let _ = self.spool.unmark_sending(id);
        self.defer(id, &rest, message, &detail).await;
    }

    /// A temporary failure: schedules the next attempt, or bounces when
    /// the message is older than `bounce_after_secs`.
    async fn defer(&self, id: &str, envelope: &Envelope, message: &[u8], detail: &str) {
        Metrics::inc(&self.metrics.deferred);
        let age = mime::unix_now().saturating_sub(envelope.accepted_unix);
        if age >= self.config.bounce_after_secs {
            tracing::warn!(id, age, "undeliverable for too long: bouncing ({detail})");
            self.bounce(id, envelope, message, &every(envelope, detail), true);
            return;
        }
        let mut retries = self.retries.lock().unwrap_or_else(PoisonError::into_inner);
        let attempts = retries.get(id).map_or(0, |r| r.attempts) + 1;
        let wait = self
            .config
            .retry_initial_secs
            .saturating_mul(1u64 << (attempts - 1).min(30))
            .min(self.config.retry_max_secs.max(1));
        retries.insert(
            id.to_string(),
            Retry {
                attempts,
                next: Instant::now() + Duration::from_secs(wait),
            },
        );
        tracing::info!(id, attempts, retry_in_secs = wait, "deferred: {detail}");
    }

    /// Queues a DSN to the envelope sender for the `failed` recipients
    /// (with why), and drops the message if `remove`.
    fn bounce(
        &self,
        id: &str,
        envelope: &Envelope,
        message: &[u8],
        failed: &[(String, String)],
        remove: bool,
    ) {
        let detail = failed.first().map_or("", |(_, d)| d.as_str());
        Metrics::inc(&self.metrics.bounced);
        if envelope.mail_from.is_empty() {
            tracing::warn!(
                id,
                "a bounce could not be delivered; dropped (null sender): {detail}"
            );
        } else {
            let dsn_id = self.spool.new_id();
            let dsn = dsn(&self.hostname, &dsn_id, envelope, message, failed);
            let dsn_envelope = Envelope {
                id: dsn_id.clone(),
                mail_from: String::new(),
                rcpt_to: vec![envelope.mail_from.clone()],
                eight_bit: envelope.eight_bit,
                accepted_unix: mime::unix_now(),
                client: "bounce".into(),
            };
            if let Err(e) = self.spool.store(Stage::Outgoing, &dsn_envelope, &dsn) {
                tracing::error!(id, "cannot queue the bounce, keeping the message: {e}");
                return;
            }
            tracing::info!(id, dsn_id, to = envelope.mail_from, "bounced");
        }
        if !remove {
            return;
        }
        self.retries
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(id);
        if let Err(e) = self.spool.remove(Stage::Outgoing, id) {
            tracing::error!(id, "cannot remove the bounced message: {e}");
        }
    }

    /// A greeted connection to the next hop (TLS when required).
    async fn connect(&self) -> Result<Conn, Failure> {
        let timeout = Duration::from_secs(self.config.timeout_secs);
        let tcp = tokio::time::timeout(timeout, TcpStream::connect(&self.config.next_hop))
            .await
            .map_err(|_| Failure::io(false, "connect timed out"))?
            .map_err(|e| Failure::io(false, format!("connect {}: {e}", self.config.next_hop)))?;
        let _ = tcp.set_nodelay(true);
        let mut c = Client {
            r: BufReader::new(tcp),
            timeout,
            ehlo: Vec::new(),
        };
        c.expect(None, 220, false).await?;
        c.ehlo = c.ehlo(&self.hostname).await?;
        let Some(tls) = &self.tls else {
            return Ok(Conn::Plain(c));
        };
        if !c.ehlo.iter().any(|e| e == "STARTTLS") {
            return Err(Failure::io(
                false,
                "forward.starttls = \"required\" but the next hop offers no STARTTLS",
            ));
        }
        c.expect(Some("STARTTLS"), 220, false).await?;
        // What the next hop sent before the handshake is dropped with the buffer.
        let tcp = c.r.into_inner();
        let stream = tokio::time::timeout(timeout, tls.connector.connect(tls.name.clone(), tcp))
            .await
            .map_err(|_| Failure::io(false, "TLS handshake timed out"))?
            .map_err(|e| Failure::io(false, format!("TLS with the next hop: {e}")))?;
        let mut c = Client {
            r: BufReader::new(stream),
            timeout,
            ehlo: Vec::new(),
        };
        c.ehlo = c.ehlo(&self.hostname).await?;
        Ok(Conn::Tls(Box::new(c)))
    }

    /// MAIL, RCPT..., DATA on a greeted connection; the connection is
    /// ready for the next transaction afterwards unless it broke.
    async fn transact<S: AsyncRead + AsyncWrite + Unpin>(
        c: &mut Client<S>,
        envelope: &Envelope,
        message: &[u8],
    ) -> Result<Refused, Failure> {
        let timeout = c.timeout;
        let eight_bit_ok = c.ehlo.iter().any(|e| e == "8BITMIME");
        let mut mail = format!("MAIL FROM:<{}>", envelope.mail_from);
        if envelope.eight_bit {
            if !eight_bit_ok {
                return Err(Failure {
                    permanent: true,
                    after_dot: false,
                    broken: false,
                    detail: "554 5.6.3 the next hop does not take 8-bit mail (no 8BITMIME)".into(),
                });
            }
            mail.push_str(" BODY=8BITMIME");
        }
        c.expect(Some(&mail), 250, false).await?;
        let mut refused = Refused::default();
        for rcpt in &envelope.rcpt_to {
            let (code, text) = c.command(&format!("RCPT TO:<{rcpt}>"), false).await?;
            let detail = format!("RCPT: {}", text.trim_end().replace('\n', " "));
            match code {
                250 | 251 => {}
                500..=599 => refused.ever.push((rcpt.clone(), detail)),
                _ => refused.now.push((rcpt.clone(), detail)),
            }
        }
        if refused.now.len() + refused.ever.len() == envelope.rcpt_to.len() {
            c.expect(Some("RSET"), 250, false).await?;
            return Ok(refused);
        }
        c.expect(Some("DATA"), 354, false).await?;
        let mut data = Vec::with_capacity(message.len() + message.len() / 64 + 8);
        for line in message.split_inclusive(|&b| b == b'\n') {
            if line.starts_with(b".") {
                data.push(b'.');
            }
            data.extend_from_slice(line);
        }
        if !data.ends_with(b"\n") {
            data.extend_from_slice(b"\r\n");
        }
        data.extend_from_slice(b".\r\n");
        tokio::time::timeout(timeout, c.r.get_mut().write_all(&data))
            .await
            .map_err(|_| Failure::io(true, "timed out sending the data"))?
            .map_err(|e| Failure::io(true, e))?;
        c.expect(None, 250, true).await?;
        Ok(refused)
    }
}

struct Client<S> {
    r: BufReader<S>,
    timeout: Duration,
    /// The EHLO keywords, upper case (empty after HELO).
    ehlo: Vec<String>,
}

/// A connection to the next hop, plain or TLS.
enum Conn {
    Plain(Client<TcpStream>),
    Tls(Box<Client<tokio_rustls::client::TlsStream<TcpStream>>>),
}

impl Conn {
    async fn transact(&mut self, envelope: &Envelope, message: &[u8]) -> Result<Refused, Failure> {
        match self {
            Self::Plain(c) => Forwarder::transact(c, envelope, message).await,
            Self::Tls(c) => Forwarder::transact(c.as_mut(), envelope, message).await,
        }
    }

    /// RSET after a refused transaction; whether the connection is usable.
    async fn reset(&mut self) -> bool {
        match self {
            Self::Plain(c) => c.expect(Some("RSET"), 250, false).await.is_ok(),
            Self::Tls(c) => c.expect(Some("RSET"), 250, false).await.is_ok(),
        }
    }

    async fn quit(mut self) {
        let _ = match &mut self {
            Self::Plain(c) => c.command("QUIT", true).await,
            Self::Tls(c) => c.command("QUIT", true).await,
        };
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Client<S> {
    /// EHLO (HELO if refused); the EHLO keywords in upper case.
    async fn ehlo(&mut self, hostname: &str) -> Result<Vec<String>, Failure> {
        let (code, text) = self.command(&format!("EHLO {hostname}"), false).await?;
        if code == 250 {
            return Ok(text
                .lines()
                .skip(1)
                .filter_map(|l| l.get(4..)?.split_whitespace().next())
                .map(str::to_ascii_uppercase)
                .collect());
        }
        self.expect(Some(&format!("HELO {hostname}")), 250, false)
            .await?;
        Ok(Vec::new())
    }

    /// Sends `line` (if any) and reads the reply: (code, text).
    async fn command(&mut self, line: &str, after_dot: bool) -> Result<(u16, String), Failure> {
        let timeout = self.timeout;
        let exchange = async {
            let w = self.r.get_mut();
            w.write_all(format!("{line}\r\n").as_bytes()).await?;
            self.reply().await
        };
        tokio::time::timeout(timeout, exchange)
            .await
            .map_err(|_| Failure::io(after_dot, format!("no reply to {line}")))?
            .map_err(|e| Failure::io(after_dot, e))
    }

    async fn reply(&mut self) -> io::Result<(u16, String)> {
        let mut text = String::new();
        let mut line = Vec::new();
        for _ in 0..100 {
            match read_line(&mut self.r, 4096, &mut line).await? {
                Line::Full => {}
                Line::TooLong => return Err(io::Error::other("reply line too long")),
                Line::Eof => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "the next hop closed",
                    ));
                }
            }
            let l = String::from_utf8_lossy(&line);
            let l = l.trim_end();
            text.push_str(l);
            text.push('\n');
            let code = l
                .get(..3)
                .and_then(|c| c.parse::<u16>().ok())
                .ok_or_else(|| io::Error::other(format!("bad reply {l:?}")))?;
            if l.as_bytes().get(3) != Some(&b'-') {
                return Ok((code, text));
            }
        }
        Err(io::Error::other("reply of more than 100 lines"))
    }

    /// Sends `line` (or only reads, for the greeting and the end of
    /// data) and wants `want`: 4xx is temporary, 5xx permanent.
    async fn expect(
        &mut self,
        line: Option<&str>,
        want: u16,
        after_dot: bool,
    ) -> Result<(), Failure> {
        let (code, text) = match line {
            Some(l) => self.command(l, after_dot).await?,
            None => tokio::time::timeout(self.timeout, self.reply())
                .await
                .map_err(|_| Failure::io(after_dot, "no reply"))?
                .map_err(|e| Failure::io(after_dot, e))?,
        };
        if code == want {
            return Ok(());
        }
        let what = line.map_or("(reply)", |l| l.split(':').next().unwrap_or(l));
        Err(Failure {
            broken: false,
            permanent: (500..600).contains(&code),
            after_dot,
            detail: format!("{what}: {}", text.trim_end()),
        })
    }
}

/// The delivery status notification (RFC 3464) of a failed message.
fn dsn(
    hostname: &str,
    dsn_id: &str,
    envelope: &Envelope,
    message: &[u8],
    failed: &[(String, String)],
) -> Vec<u8> {
    let boundary = format!("sam-mail-dsn-{dsn_id}");
    let now = mime::unix_now();
    let one_line = |d: &str| d.replace(['\r', '\n'], " ");
    let detail_line = one_line(failed.first().map_or("", |(_, d)| d.as_str()));
    let mut out = format!(
        "From: Mail Delivery System <MAILER-DAEMON@{hostname}>\r\n\
         To: <{to}>\r\n\
         Subject: Undelivered Mail Returned to Sender\r\n\
         Date: {date}\r\n\
         Message-ID: <{dsn_id}@{hostname}>\r\n\
         Auto-Submitted: auto-replied\r\n\
         MIME-Version: 1.0\r\n\
         Content-Type: multipart/report; report-type=delivery-status; boundary=\"{boundary}\"\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: text/plain; charset=us-ascii\r\n\
         \r\n\
         Your message (queue id {id}) could not be delivered by {hostname}.\r\n\
         Last error: {detail_line}\r\n\
         \r\n\
         --{boundary}\r\n\
         Content-Type: message/delivery-status\r\n\
         \r\n\
         Reporting-MTA: dns; {hostname}\r\n\
         Arrival-Date: {arrival}\r\n\
         \r\n",
        to = envelope.mail_from,
        date = mime::rfc5322_date(now),
        id = envelope.id,
        arrival = mime::rfc5322_date(envelope.accepted_unix),
    );
    for (rcpt, detail) in failed {
        // A 5xx reply is a permanent failure; anything else ran out of time.
        let status = if detail.contains(" 5.") || detail.contains(": 5") || detail.starts_with('5')
        {
            "5.0.0"
        } else {
            "4.4.7"
        };
        out.push_str(&format!(
            "Final-Recipient: rfc822; {rcpt}\r\nAction: failed\r\nStatus: {status}\r\nDiagnostic-Code: smtp; {}\r\n\r\n",
            one_line(detail)
        ));
    }
    out.push_str(&format!(
        "--{boundary}\r\nContent-Type: text/rfc822-headers\r\n\r\n"
    ));
    let mut bytes = out.into_bytes();
    for f in mime::parse(message).fields {
        bytes.extend_from_slice(f.raw);
    }
    bytes.extend_from_slice(format!("\r\n--{boundary}--\r\n").as_bytes());
    bytes
}
