//! Scanning a reply in place: message headers read, data rows skipped by their length, the
//! row count, the SQLSTATE and ReadyForQuery found (see the parent module).

use super::WireError;

/// What a reply came to.
#[derive(Debug, Default)]
pub(super) struct Reply {
    /// Data rows seen.
    pub(super) data_rows: u64,
    /// The row count of the last CommandComplete that carried one.
    pub(super) tag_rows: Option<u64>,
    pub(super) error: Option<(String, String)>,
}

/// The reading of one reply into the wire's buffer, shared by the two ways of reading.
#[derive(Debug, Default)]
pub(super) struct Reading {
    scan: Scanner,
    reply: Reply,
    /// Bytes at the start of the buffer that hold an incomplete message.
    pub(super) kept: usize,
}

impl Reading {
    /// Grow `buf` when an incomplete message fills it.
    pub(super) fn make_room(&self, buf: &mut Vec<u8>) {
        if self.kept == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
    }

    /// `n` more bytes were read after the kept ones. Some(outcome) once the reply is complete;
    /// an error (the wire stays broken) when the server closed the connection or the reply
    /// made no sense.
    pub(super) fn took(
        &mut self,
        buf: &mut [u8],
        n: usize,
    ) -> Result<Option<Result<Reply, WireError>>, WireError> {
        if n == 0 {
            return Err(WireError::Broken("the server closed the connection".into()));
        }
        let end = self.kept + n;
        match self.scan.feed(&buf[..end], &mut self.reply)? {
            Fed::Ready => {
                let reply = std::mem::take(&mut self.reply);
                Ok(Some(match reply.error {
                    Some((code, message)) => Err(WireError::Db { code, message }),
                    None => Ok(reply),
                }))
            }
            Fed::More { used } => {
                buf.copy_within(used..end, 0);
                self.kept = end - used;
                Ok(None)
            }
        }
    }
}

/// Where a scan of the bytes read so far ended.
#[derive(Debug, PartialEq)]
enum Fed {
    /// ReadyForQuery was seen (anything after it is not ours: there is nothing after it).
    Ready,
    /// More bytes are needed; `used` bytes were consumed, the rest starts an incomplete message.
    More { used: usize },
}

/// Scans backend messages across reads, skipping data rows without looking inside them.
#[derive(Debug, Default)]
struct Scanner {
    /// Bytes of a data row's body still to skip (the row spans reads).
    skip: usize,
}

impl Scanner {
    fn feed(&mut self, bytes: &[u8], reply: &mut Reply) -> Result<Fed, WireError> {
        let mut at = 0;
        loop {
            if self.skip > 0 {
                let n = self.skip.min(bytes.len() - at);
                self.skip -= n;
                at += n;
                if self.skip > 0 {
                    return Ok(Fed::More { used: at });
                }
            }
            if bytes.len() - at < 5 {
                return Ok(Fed::More { used: at });
            }
            let tag = bytes[at];
            let len =
                u32::from_be_bytes([bytes[at + 1], bytes[at + 2], bytes[at + 3], bytes[at + 4]])
                    as usize;
            if len < 4 {
                return Err(WireError::Broken(format!(
                    "a message `{}` of length {len}",
                    tag as char
                )));
            }
            let body = len - 4;
            if tag == b'D' {
                reply.data_rows += 1;
                at += 5;
                self.skip = body;
                continue;
            }
            if bytes.len() - at - 5 < body {
                return Ok(Fed::More { used: at });
            }
            let content = &bytes[at + 5..at + 5 + body];
            at += 5 + body;
            match tag {
                b'C' => {
                    if let Some(n) = tag_rows(content) {
                        reply.tag_rows = Some(n);
                    }
                }
                b'E' => reply.error = Some(error_fields(content)),
                b'Z' => return Ok(Fed::Ready),
                // BindComplete, ParseComplete, notices, parameter status, notifications and
                // the like: nothing the count or the outcome depends on.
                _ => {}
            }
        }
    }
}

/// The row count at the end of a CommandComplete tag ("SELECT 1440", "INSERT 0 5").
fn tag_rows(content: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(content.strip_suffix(b"\0").unwrap_or(content)).ok()?;
    text.rsplit(' ').next()?.parse().ok()
}

/// The SQLSTATE and message of an ErrorResponse.
fn error_fields(content: &[u8]) -> (String, String) {
    let mut code = String::from("XX000");
    let mut message = String::new();
    let mut fields = content;
    while let Some((&kind, rest)) = fields.split_first() {
        if kind == 0 {
            break;
        }
        let end = rest.iter().position(|&b| b == 0).unwrap_or(rest.len());
        let value = String::from_utf8_lossy(&rest[..end]).into_owned();
        match kind {
            b'C' => code = value,
            b'M' => message = value,
            _ => {}
        }
        fields = rest.get(end + 1..).unwrap_or(&[]);
    }
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut v = vec![tag];
        v.extend_from_slice(&((body.len() + 4) as u32).to_be_bytes());
        v.extend_from_slice(body);
        v
    }

    fn reply_bytes(rows: usize, row_len: usize) -> Vec<u8> {
        let mut v = msg(b'2', b"");
        for _ in 0..rows {
            v.extend(msg(b'D', &vec![7; row_len]));
        }
        v.extend(msg(b'C', format!("SELECT {rows}\0").as_bytes()));
        v.extend(msg(b'Z', b"I"));
        v
    }

    /// Feed `bytes` in pieces of `piece` bytes, keeping the unused tail as the wire does.
    fn scan_in_pieces(bytes: &[u8], piece: usize) -> Reply {
        let mut scan = Scanner::default();
        let mut reply = Reply::default();
        let mut pending: Vec<u8> = Vec::new();
        for chunk in bytes.chunks(piece) {
            pending.extend_from_slice(chunk);
            match scan.feed(&pending, &mut reply).unwrap() {
                Fed::Ready => return reply,
                Fed::More { used } => {
                    pending.drain(..used);
                }
            }
        }
        panic!("no ReadyForQuery in {} bytes", bytes.len());
    }

    #[test]
    fn a_reply_split_anywhere_gives_the_same_count() {
        let bytes = reply_bytes(1440, 97);
        for piece in [1, 2, 3, 5, 7, 64, 8192, bytes.len()] {
            let r = scan_in_pieces(&bytes, piece);
            assert_eq!(r.data_rows, 1440, "piece {piece}");
            assert_eq!(r.tag_rows, Some(1440), "piece {piece}");
            assert!(r.error.is_none());
        }
    }

    #[test]
    fn an_error_reply_gives_its_sqlstate_and_message() {
        let mut bytes = msg(
            b'E',
            b"SERROR\0VERROR\0C57014\0Mcanceling statement due to statement timeout\0\0",
        );
        bytes.extend(msg(b'Z', b"I"));
        let r = scan_in_pieces(&bytes, 3);
        assert_eq!(
            r.error,
            Some((
                "57014".to_string(),
                "canceling statement due to statement timeout".to_string()
            ))
        );
    }

    #[test]
    fn a_short_length_is_a_protocol_error_not_a_hang() {
        let mut scan = Scanner::default();
        let mut reply = Reply::default();
        let bad = [b'C', 0, 0, 0, 2, 0];
        assert!(matches!(
            scan.feed(&bad, &mut reply),
            Err(WireError::Broken(_))
        ));
    }

    #[test]
    fn tags_without_a_count_give_none() {
        assert_eq!(tag_rows(b"SELECT 12\0"), Some(12));
        assert_eq!(tag_rows(b"INSERT 0 5\0"), Some(5));
        assert_eq!(tag_rows(b"SET\0"), None);
    }
}
