//! Reading the header section of a received email: unfolding, and decoding RFC 2047 encoded
//! words so tests can compare subjects in plain text.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

use crate::record::Header;

/// The header fields of an RFC 5322 message (everything before the first empty line).
pub(crate) fn parse_headers(data: &[u8]) -> Vec<Header> {
    let text = String::from_utf8_lossy(data);
    let mut headers: Vec<Header> = Vec::new();
    for line in text.split('\n') {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(last) = headers.last_mut() {
                last.value.push_str(line);
            }
            continue;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push(Header { name: name.trim().to_owned(), value: value.to_owned() });
        }
    }
    for header in &mut headers {
        header.value = decode_words(header.value.trim());
    }
    headers
}

/// Decodes `=?charset?B|Q?text?=` words whose charset is UTF-8 or ASCII; leaves the rest.
/// Whitespace between two adjacent encoded words is dropped, as RFC 2047 says.
pub(crate) fn decode_words(value: &str) -> String {
    let mut out = String::new();
    let mut rest = value;
    let mut pending_space = String::new();
    let mut last_was_word = false;
    while !rest.is_empty() {
        if let Some((decoded, len)) = rest.strip_prefix("=?").and_then(decode_one) {
            if !last_was_word {
                out.push_str(&pending_space);
            }
            pending_space.clear();
            out.push_str(&decoded);
            rest = &rest[len + 2..];
            last_was_word = true;
            continue;
        }
        let c = rest.chars().next().unwrap_or(' ');
        if c == ' ' || c == '\t' {
            pending_space.push(c);
        } else {
            out.push_str(&pending_space);
            pending_space.clear();
            out.push(c);
            last_was_word = false;
        }
        rest = &rest[c.len_utf8()..];
    }
    out.push_str(&pending_space);
    out
}

/// Decodes one encoded word after its `=?`; returns the text and how many bytes it used.
fn decode_one(s: &str) -> Option<(String, usize)> {
    let (charset, rest) = s.split_once('?')?;
    let (encoding, rest) = rest.split_once('?')?;
    let (text, _) = rest.split_once("?=")?;
    let charset = charset.split('*').next()?.to_ascii_lowercase();
    if !matches!(charset.as_str(), "utf-8" | "us-ascii") || text.contains(' ') {
        return None;
    }
    let bytes = match encoding {
        "B" | "b" => STANDARD.decode(text).ok()?,
        "Q" | "q" => decode_q(text)?,
        _ => return None,
    };
    let used = charset.len() + 1 + encoding.len() + 1 + text.len() + 2;
    Some((String::from_utf8(bytes).ok()?, used))
}

fn decode_q(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(text.len());
    let bytes = text.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'_' => out.push(b' '),
            b'=' => {
                let hex = std::str::from_utf8(bytes.get(i + 1..i + 3)?).ok()?;
                out.push(u8::from_str_radix(hex, 16).ok()?);
                i += 2;
            }
            b => out.push(b),
        }
        i += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unfolds_and_decodes() {
        let raw = b"Subject: =?utf-8?b?VGlja2V0IMOcYmVyc2ljaHQ=?=\r\n\
            To: a@example.com,\r\n b@example.com\r\n\
            Message-ID: <1@x>\r\n\r\nbody: not a header\r\n";
        let h = parse_headers(raw);
        assert_eq!(h.len(), 3);
        assert_eq!(h[0].value, "Ticket Übersicht");
        assert_eq!(h[1].value, "a@example.com, b@example.com");
        assert_eq!(h[2].value, "<1@x>");
    }

    #[test]
    fn adjacent_words_join_and_q_decodes() {
        assert_eq!(decode_words("=?UTF-8?Q?caf=C3=A9_au?= =?UTF-8?Q?_lait?= today"), "café au lait today");
        assert_eq!(decode_words("plain =?x?y"), "plain =?x?y");
    }
}
