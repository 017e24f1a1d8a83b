//! Counters for Prometheus (`/metrics`) and `/healthz`, on a small plain
//! HTTP/1.1 listener: one request per connection, GET only.

use crate::spool::{Spool, Stage};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

/// The relay's counters (monotonic since start).
#[derive(Debug, Default)]
pub struct Metrics {
    /// Messages answered `250`.
    pub accepted: AtomicU64,
    /// Messages refused at SMTP time (size, sender, sequence...).
    pub refused: AtomicU64,
    /// Messages signed.
    pub signed: AtomicU64,
    /// Messages passed unsigned (unknown sender).
    pub unsigned: AtomicU64,
    /// Messages not signed because the certificate is not valid now.
    pub certificate_invalid: AtomicU64,
    /// SADs sent to samd (one per key and batch).
    pub sads: AtomicU64,
    /// Batches that samd or the IdP refused (retried).
    pub signing_failures: AtomicU64,
    /// Messages the next hop took.
    pub forwarded: AtomicU64,
    /// Delivery attempts that failed temporarily.
    pub deferred: AtomicU64,
    /// Messages given up and bounced to their sender.
    pub bounced: AtomicU64,
    /// Deliveries re-made after a crash (the next hop may have them twice).
    pub possibly_duplicated: AtomicU64,
    /// Each signing address and its certificate's notAfter (Unix
    /// seconds), set at start.
    pub certificates: std::sync::Mutex<Vec<(String, u64)>>,
}

impl Metrics {
    /// Adds one to `counter`.
    pub fn inc(counter: &AtomicU64) {
        counter.fetch_add(1, Ordering::Relaxed);
    }

    /// The Prometheus text exposition.
    pub fn render(&self, spool: &Spool) -> String {
        let mut out = String::new();
        let counters: [(&str, &AtomicU64, &str); 11] = [
            (
                "accepted",
                &self.accepted,
                "Messages answered 250 (durably spooled).",
            ),
            (
                "refused",
                &self.refused,
                "Messages refused during the SMTP session.",
            ),
            (
                "signed",
                &self.signed,
                "Messages signed as S/MIME by a key in the SAM.",
            ),
            (
                "unsigned",
                &self.unsigned,
                "Messages passed unsigned: no key for the sender.",
            ),
            (
                "certificate_invalid",
                &self.certificate_invalid,
                "Messages not signed: the sender's certificate is expired or not yet valid.",
            ),
            (
                "sads",
                &self.sads,
                "SADs sent to samd (one per key and batch).",
            ),
            (
                "signing_failures",
                &self.signing_failures,
                "Batches samd or the IdP refused.",
            ),
            (
                "forwarded",
                &self.forwarded,
                "Messages the next hop accepted.",
            ),
            (
                "deferred",
                &self.deferred,
                "Delivery attempts that failed temporarily.",
            ),
            (
                "bounced",
                &self.bounced,
                "Messages given up and bounced to the sender.",
            ),
            (
                "possibly_duplicated",
                &self.possibly_duplicated,
                "Deliveries repeated after a crash during a delivery.",
            ),
        ];
        for (name, value, help) in counters {
            out.push_str(&format!(
                "# HELP sam_mail_{name}_total {help}\n# TYPE sam_mail_{name}_total counter\nsam_mail_{name}_total {}\n",
                value.load(Ordering::Relaxed)
            ));
        }
        out.push_str(
            "# HELP sam_mail_certificate_expires_in_seconds Seconds until the sender's certificate expires (negative: expired).\n# TYPE sam_mail_certificate_expires_in_seconds gauge\n",
        );
        let now = crate::mime::unix_now() as i64;
        let certificates = self
            .certificates
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone();
        for (address, not_after) in certificates {
            let address = address.replace(['"', '\\', '\n'], "_");
            out.push_str(&format!(
                "sam_mail_certificate_expires_in_seconds{{address=\"{address}\"}} {}\n",
                not_after as i64 - now
            ));
        }
        out.push_str(
            "# HELP sam_mail_queue_size Messages in the spool.\n# TYPE sam_mail_queue_size gauge\n",
        );
        for stage in [Stage::Incoming, Stage::Outgoing] {
            let label = if stage == Stage::Incoming {
                "incoming"
            } else {
                "outgoing"
            };
            out.push_str(&format!(
                "sam_mail_queue_size{{stage=\"{label}\"}} {}\n",
                spool.count(stage)
            ));
        }
        out
    }
}

/// Serves `/metrics` and `/healthz` on `listener` until the task ends.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>, spool: Arc<Spool>) {
    loop {
        let Ok((mut conn, _)) = listener.accept().await else {
            continue;
        };
        let metrics = Arc::clone(&metrics);
        let spool = Arc::clone(&spool);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 2048];
            let mut len = 0;
            // The request head only; bounded in size and time.
            let read = tokio::time::timeout(Duration::from_secs(5), async {
                while len < buf.len() {
                    let n = conn.read(buf.get_mut(len..).unwrap_or_default()).await?;
                    if n == 0 {
                        break;
                    }
                    len += n;
                    if buf
                        .get(..len)
                        .is_some_and(|b| b.windows(4).any(|w| w == b"\r\n\r\n"))
                    {
                        break;
                    }
                }
                Ok::<_, std::io::Error>(())
            })
            .await;
            if !matches!(read, Ok(Ok(()))) {
                return;
            }
            let head = String::from_utf8_lossy(buf.get(..len).unwrap_or_default()).into_owned();
            let target = head.split_whitespace().take(2).collect::<Vec<_>>();
            let (status, body) = match target.as_slice() {
                ["GET", "/metrics"] => ("200 OK", metrics.render(&spool)),
                ["GET", "/healthz"] => ("200 OK", "ok\n".to_string()),
                ["GET", _] => ("404 Not Found", "not found\n".to_string()),
                _ => ("405 Method Not Allowed", "GET only\n".to_string()),
            };
            let answer = format!(
                "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = conn.write_all(answer.as_bytes()).await;
            let _ = conn.shutdown().await;
        });
    }
}
