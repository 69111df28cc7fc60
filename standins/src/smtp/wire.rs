//! Line-level SMTP reading: bounded reads with an idle timeout, CRLF stripping, and parsing
//! of `MAIL FROM:` / `RCPT TO:` paths.

use std::io;

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

use super::session::IDLE;

/// Reads up to `cap` bytes ending in LF; `None` at end of stream.
pub(super) async fn read_chunk<R: AsyncBufRead + Unpin>(
    reader: &mut R,
    cap: usize,
    buf: &mut Vec<u8>,
) -> io::Result<Option<()>> {
    buf.clear();
    let mut limited = (&mut *reader).take(cap as u64);
    let read = limited.read_until(b'\n', buf);
    match tokio::time::timeout(IDLE, read).await {
        Err(_) => Err(io::Error::new(io::ErrorKind::TimedOut, "client idle")),
        Ok(Ok(0)) => Ok(None),
        Ok(Ok(_)) => Ok(Some(())),
        Ok(Err(e)) => Err(e),
    }
}

pub(super) fn strip_eol(buf: &[u8]) -> &[u8] {
    let buf = buf.strip_suffix(b"\n").unwrap_or(buf);
    buf.strip_suffix(b"\r").unwrap_or(buf)
}

/// Splits `FROM:<addr> PARAMS` (or `TO:`) into the address and its parameters.
pub(super) fn parse_path<'a>(arg: &'a str, keyword: &str) -> Option<(String, Vec<&'a str>)> {
    let head = arg.get(..keyword.len())?;
    if !head.eq_ignore_ascii_case(keyword) {
        return None;
    }
    let rest = arg[keyword.len()..].trim_start();
    let rest = rest.strip_prefix('<')?;
    let (path, params) = rest.split_once('>')?;
    // Drop an obsolete source route: <@a,@b:user@host>.
    let address = match path.strip_prefix('@') {
        Some(route) => route.split_once(':').map_or("", |(_, a)| a),
        None => path,
    };
    Some((address.to_owned(), params.split_whitespace().collect()))
}

#[cfg(test)]
mod tests {
    use super::parse_path;

    #[test]
    fn paths() {
        let (a, p) = parse_path("FROM:<a@b.c> SIZE=10 BODY=8BITMIME", "FROM:").unwrap();
        assert_eq!(a, "a@b.c");
        assert_eq!(p, vec!["SIZE=10", "BODY=8BITMIME"]);
        assert_eq!(parse_path("from: <>", "FROM:").unwrap().0, "");
        assert_eq!(parse_path("TO:<@r1,@r2:u@h>", "TO:").unwrap().0, "u@h");
        assert!(parse_path("TO:u@h", "TO:").is_none());
    }
}
