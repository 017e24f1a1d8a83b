//! Just enough RFC 5322 / MIME for the relay: the header block split into
//! fields as they are (folding kept), the sender addresses of `From` and
//! `Sender`, the split into routing headers and the MIME entity that is
//! signed, and the RFC 5322 date.

/// One header field, its raw bytes with the folded lines and the final
/// line ending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Field<'a> {
    /// The name as written.
    pub name: &'a str,
    /// The whole field, name to line ending included.
    pub raw: &'a [u8],
}

impl Field<'_> {
    /// The value unfolded, without the name and colon, trimmed.
    pub fn value(&self) -> String {
        let raw = String::from_utf8_lossy(self.raw);
        let value = raw.split_once(':').map_or("", |(_, v)| v);
        value
            .replace("\r\n", "")
            .replace('\n', "")
            .trim()
            .to_string()
    }

    /// Whether it is a MIME field that belongs to the entity.
    pub fn is_mime(&self) -> bool {
        let n = self.name.to_ascii_lowercase();
        n.starts_with("content-") || n == "mime-version"
    }
}

/// A message split at the blank line that ends its header block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message<'a> {
    /// The header fields in order.
    pub fields: Vec<Field<'a>>,
    /// Everything after the blank line.
    pub body: &'a [u8],
}

/// Splits `message`; a message without a blank line is all header, one
/// that starts with a line that is no field is all body.
pub fn parse(message: &[u8]) -> Message<'_> {
    let mut fields = Vec::new();
    let mut pos = 0;
    while pos < message.len() {
        let rest = message.get(pos..).unwrap_or_default();
        if rest.starts_with(b"\r\n") || rest.starts_with(b"\n") {
            let skip = if rest.starts_with(b"\r\n") { 2 } else { 1 };
            return Message {
                fields,
                body: message.get(pos + skip..).unwrap_or_default(),
            };
        }
        // One field: this line and the continuation lines after it.
        let mut end = pos;
        loop {
            let line_end = message
                .get(end..)
                .unwrap_or_default()
                .iter()
                .position(|&b| b == b'\n')
                .map_or(message.len(), |p| end + p + 1);
            end = line_end;
            match message.get(end) {
                Some(b' ') | Some(b'\t') => continue,
                _ => break,
            }
        }
        let raw = message.get(pos..end).unwrap_or_default();
        let name = raw
            .iter()
            .position(|&b| b == b':')
            .and_then(|c| std::str::from_utf8(raw.get(..c)?).ok())
            .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_graphic()));
        match name {
            Some(name) => fields.push(Field { name, raw }),
            None if fields.is_empty() => {
                return Message {
                    fields,
                    body: message,
                };
            }
            // A broken line inside the header block: kept as a field of
            // no name, so nothing is lost.
            None => fields.push(Field { name: "", raw }),
        }
        pos = end;
    }
    Message { fields, body: &[] }
}

impl Message<'_> {
    /// The addresses of every `name` field (comma-separated mailboxes,
    /// `Display <addr>` or a bare `addr`), lower case.
    pub fn addresses(&self, name: &str) -> Vec<String> {
        self.fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(name))
            .flat_map(|f| mailboxes(&f.value()))
            .collect()
    }

    /// The MIME entity the signature covers: the message's `Content-*`
    /// fields as they are, the blank line, the body as it is.
    pub fn entity(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 256);
        let entity_fields = self
            .fields
            .iter()
            .filter(|f| f.is_mime() && !f.name.eq_ignore_ascii_case("mime-version"));
        for f in entity_fields {
            out.extend_from_slice(f.raw);
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(self.body);
        out
    }

    /// The routing fields (everything but MIME fields), as they are.
    pub fn outer_fields(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for f in self.fields.iter().filter(|f| !f.is_mime()) {
            out.extend_from_slice(f.raw);
            if !f.raw.ends_with(b"\n") {
                out.extend_from_slice(b"\r\n");
            }
        }
        out
    }
}

/// The addresses in a mailbox list.
fn mailboxes(value: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut current = String::new();
    let mut quoted = false;
    let mut angle = 0usize;
    for c in value.chars() {
        match c {
            '"' => quoted = !quoted,
            '<' if !quoted => angle += 1,
            '>' if !quoted => angle = angle.saturating_sub(1),
            ',' if !quoted && angle == 0 => {
                out.extend(address_of(&current));
                current.clear();
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    out.extend(address_of(&current));
    out
}

fn address_of(mailbox: &str) -> Option<String> {
    let inner = match (mailbox.rfind('<'), mailbox.rfind('>')) {
        (Some(a), Some(b)) if a < b => mailbox.get(a + 1..b)?,
        _ => mailbox,
    };
    // A bare address may carry a comment: "a@b (Alice)".
    let inner = inner.split('(').next()?.trim();
    (inner.contains('@') && !inner.contains(char::is_whitespace))
        .then(|| inner.to_ascii_lowercase())
}

/// The RFC 5322 date of Unix second `unix`, in UTC.
pub fn rfc5322_date(unix: u64) -> String {
    let days = unix / 86_400;
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days, for days since 1970-01-01.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let weekday = WEEKDAYS.get((days % 7) as usize).copied().unwrap_or("Mon");
    let month_name = MONTHS.get((month - 1) as usize).copied().unwrap_or("Jan");
    format!(
        "{weekday}, {day:02} {month_name} {year} {:02}:{:02}:{:02} +0000",
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

/// Unix seconds now.
pub fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn fields_fold_and_split_into_routing_and_entity() {
        let m = b"From: \"Doe, J\" <J@Example.org>, b@x.y\r\nSubject: a\r\n b\r\nContent-Type: text/plain;\r\n\tcharset=utf-8\r\nMIME-Version: 1.0\r\n\r\nbody\xff\r\n";
        let p = parse(m);
        assert_eq!(p.fields.len(), 4);
        assert_eq!(p.addresses("from"), ["j@example.org", "b@x.y"]);
        assert_eq!(p.fields[1].value(), "a b");
        assert_eq!(
            p.entity(),
            b"Content-Type: text/plain;\r\n\tcharset=utf-8\r\n\r\nbody\xff\r\n"
        );
        assert_eq!(
            p.outer_fields(),
            b"From: \"Doe, J\" <J@Example.org>, b@x.y\r\nSubject: a\r\n b\r\n"
        );
        assert_eq!(parse(b"no header here\r\n").body, b"no header here\r\n");
        assert_eq!(
            parse(b"Sender: s@t.u (S)\r\n\r\n").addresses("Sender"),
            ["s@t.u"]
        );
    }

    #[test]
    fn dates_are_rfc5322() {
        assert_eq!(rfc5322_date(0), "Thu, 01 Jan 1970 00:00:00 +0000");
        assert_eq!(
            rfc5322_date(1_709_210_096),
            "Thu, 29 Feb 2024 12:34:56 +0000"
        );
    }
}
