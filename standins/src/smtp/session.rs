//! One SMTP conversation (RFC 5321 with the AUTH, SIZE and 8BITMIME extensions), from the
//! greeting to QUIT, with the stand-in's faults applied to the reply to DATA.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use rand::Rng;
use tokio::io::{AsyncBufRead, AsyncWriteExt, BufReader};
use tokio::net::TcpStream;
use tokio::net::tcp::OwnedWriteHalf;

use super::wire::{parse_path, read_chunk, strip_eol};
use crate::record::{Decision, Detail, Provider, Received, Recorder};

/// Longest command line accepted (RFC 5321 says 512 octets; be generous).
const MAX_COMMAND: usize = 4096;
/// Chunk size for reading message lines; longer lines are read in pieces.
const DATA_CHUNK: usize = 64 * 1024;
/// A client silent this long is disconnected.
pub(super) const IDLE: Duration = Duration::from_secs(300);
/// Most recipients per message.
const MAX_RECIPIENTS: usize = 100;

/// What a session needs to know about its server.
pub(crate) struct Settings {
    pub(crate) hostname: String,
    pub(crate) credentials: Option<(String, String)>,
    pub(crate) max_size: usize,
    pub(crate) recorder: Recorder,
}

/// The outcome of reading one line.
enum Line {
    /// A complete line, without its CRLF (or bare LF).
    Text(Vec<u8>),
    /// A line longer than allowed (already skipped).
    TooLong,
}

struct Session<R> {
    settings: Arc<Settings>,
    reader: R,
    writer: OwnedWriteHalf,
    greeted: bool,
    authenticated: bool,
    mail_from: Option<String>,
    rcpt_to: Vec<String>,
}

/// Serves one connection until QUIT, EOF, an idle timeout or a `drop` fault.
pub(crate) async fn run(stream: TcpStream, settings: Arc<Settings>) -> io::Result<()> {
    let (read, writer) = stream.into_split();
    let mut session = Session {
        settings,
        reader: BufReader::new(read),
        writer,
        greeted: false,
        authenticated: false,
        mail_from: None,
        rcpt_to: Vec::new(),
    };
    let greeting = format!("220 {} ESMTP sysops stand-in", session.settings.hostname);
    session.reply(&greeting).await?;
    session.serve().await
}

impl<R: AsyncBufRead + Unpin> Session<R> {
    async fn reply(&mut self, line: &str) -> io::Result<()> {
        self.writer.write_all(line.as_bytes()).await?;
        self.writer.write_all(b"\r\n").await?;
        self.writer.flush().await
    }

    async fn read_line(&mut self, cap: usize) -> io::Result<Option<Line>> {
        let mut buf = Vec::new();
        if read_chunk(&mut self.reader, cap, &mut buf).await?.is_none() {
            return Ok(None);
        }
        if buf.ends_with(b"\n") {
            return Ok(Some(Line::Text(strip_eol(&buf).to_vec())));
        }
        if buf.len() < cap {
            return Ok(None); // a partial line, then end of stream
        }
        // Skip the rest of an over-long line.
        loop {
            match read_chunk(&mut self.reader, cap, &mut buf).await? {
                None => return Ok(None),
                Some(()) if buf.ends_with(b"\n") => return Ok(Some(Line::TooLong)),
                Some(()) => {}
            }
        }
    }

    fn reset_transaction(&mut self) {
        self.mail_from = None;
        self.rcpt_to.clear();
    }

    async fn serve(&mut self) -> io::Result<()> {
        loop {
            let line = match self.read_line(MAX_COMMAND).await? {
                None => return Ok(()),
                Some(Line::TooLong) => {
                    self.reply("500 5.5.2 Line too long").await?;
                    continue;
                }
                Some(Line::Text(line)) => String::from_utf8_lossy(&line).into_owned(),
            };
            let (verb, arg) = line.split_once(' ').unwrap_or((&line, ""));
            let arg = arg.trim();
            match verb.to_ascii_uppercase().as_str() {
                "EHLO" | "HELO" if arg.is_empty() => {
                    self.reply("501 5.5.4 Syntax: EHLO hostname").await?;
                }
                "EHLO" => self.ehlo(arg).await?,
                "HELO" => {
                    self.greeted = true;
                    self.reset_transaction();
                    let reply = format!("250 {}", self.settings.hostname);
                    self.reply(&reply).await?;
                }
                "AUTH" => self.auth(arg).await?,
                "MAIL" => self.mail(arg).await?,
                "RCPT" => self.rcpt(arg).await?,
                "DATA" => {
                    if !self.data().await? {
                        return Ok(()); // the `drop` fault: close without a word
                    }
                }
                "RSET" => {
                    self.reset_transaction();
                    self.reply("250 2.0.0 OK").await?;
                }
                "NOOP" => self.reply("250 2.0.0 OK").await?,
                "VRFY" => {
                    self.reply("252 2.5.0 Cannot VRFY user, but will accept message").await?;
                }
                "HELP" => self.reply("214 2.0.0 See RFC 5321").await?,
                "QUIT" => {
                    self.reply("221 2.0.0 Bye").await?;
                    return Ok(());
                }
                "STARTTLS" => self.reply("502 5.5.1 TLS not available").await?,
                _ => self.reply("500 5.5.2 Command not recognized").await?,
            }
        }
    }

    async fn ehlo(&mut self, domain: &str) -> io::Result<()> {
        self.greeted = true;
        self.reset_transaction();
        let mut lines = vec![
            format!("{} greets {domain}", self.settings.hostname),
            "8BITMIME".to_owned(),
            "SMTPUTF8".to_owned(),
            format!("SIZE {}", self.settings.max_size),
        ];
        if self.settings.credentials.is_some() {
            lines.push("AUTH PLAIN LOGIN".to_owned());
        }
        let last = lines.len() - 1;
        let mut reply = String::new();
        for (i, line) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            reply.push_str(&format!("250{sep}{line}\r\n"));
        }
        self.writer.write_all(reply.as_bytes()).await?;
        self.writer.flush().await
    }

    /// Reads one client response during AUTH; `None` when the client cancelled with `*`.
    async fn auth_response(&mut self, challenge: &str) -> io::Result<Option<String>> {
        self.reply(&format!("334 {challenge}")).await?;
        match self.read_line(MAX_COMMAND).await? {
            None => Err(io::Error::new(io::ErrorKind::UnexpectedEof, "eof in AUTH")),
            Some(Line::TooLong) => Ok(None),
            Some(Line::Text(line)) if line == b"*" => Ok(None),
            Some(Line::Text(line)) => Ok(Some(String::from_utf8_lossy(&line).into_owned())),
        }
    }

    async fn auth(&mut self, arg: &str) -> io::Result<()> {
        let Some((user, pass)) = self.settings.credentials.clone() else {
            return self.reply("502 5.5.1 AUTH not available").await;
        };
        if !self.greeted {
            return self.reply("503 5.5.1 EHLO first").await;
        }
        if self.authenticated || self.mail_from.is_some() {
            return self.reply("503 5.5.1 Already authenticated").await;
        }
        let (mechanism, initial) = arg.split_once(' ').unwrap_or((arg, ""));
        let decode = |s: &str| STANDARD.decode(s.trim()).ok().map(|b| String::from_utf8_lossy(&b).into_owned());
        let given = match mechanism.to_ascii_uppercase().as_str() {
            "PLAIN" => {
                let response =
                    if initial.is_empty() { self.auth_response("").await? } else { Some(initial.to_owned()) };
                let Some(response) = response else {
                    return self.reply("501 5.7.0 Authentication cancelled").await;
                };
                // authzid NUL authcid NUL passwd
                decode(&response).and_then(|s| {
                    let mut parts = s.splitn(3, '\0');
                    let _authzid = parts.next()?;
                    Some((parts.next()?.to_owned(), parts.next()?.to_owned()))
                })
            }
            "LOGIN" => {
                let name = if initial.is_empty() {
                    self.auth_response("VXNlcm5hbWU6").await?
                } else {
                    Some(initial.to_owned())
                };
                let Some(name) = name else {
                    return self.reply("501 5.7.0 Authentication cancelled").await;
                };
                let Some(secret) = self.auth_response("UGFzc3dvcmQ6").await? else {
                    return self.reply("501 5.7.0 Authentication cancelled").await;
                };
                decode(&name).zip(decode(&secret))
            }
            _ => {
                return self.reply("504 5.5.4 Unrecognized authentication type").await;
            }
        };
        if given == Some((user, pass)) {
            self.authenticated = true;
            self.reply("235 2.7.0 Authentication successful").await
        } else {
            self.reply("535 5.7.8 Authentication credentials invalid").await
        }
    }

    async fn mail(&mut self, arg: &str) -> io::Result<()> {
        if !self.greeted {
            return self.reply("503 5.5.1 EHLO or HELO first").await;
        }
        if self.settings.credentials.is_some() && !self.authenticated {
            return self.reply("530 5.7.0 Authentication required").await;
        }
        if self.mail_from.is_some() {
            return self.reply("503 5.5.1 Nested MAIL command").await;
        }
        let Some((address, params)) = parse_path(arg, "FROM:") else {
            return self.reply("501 5.5.4 Syntax: MAIL FROM:<address>").await;
        };
        for param in params {
            let (key, value) = param.split_once('=').unwrap_or((param, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<usize>() {
                    Ok(size) if size > self.settings.max_size => {
                        return self.reply("552 5.3.4 Message size exceeds fixed maximum message size").await;
                    }
                    Ok(_) => {}
                    Err(_) => return self.reply("501 5.5.4 Bad SIZE parameter").await,
                },
                "BODY" if value.eq_ignore_ascii_case("7BIT") || value.eq_ignore_ascii_case("8BITMIME") => {}
                "SMTPUTF8" | "AUTH" => {}
                _ => return self.reply("555 5.5.4 Unsupported MAIL parameter").await,
            }
        }
        self.mail_from = Some(address);
        self.reply("250 2.1.0 OK").await
    }

    async fn rcpt(&mut self, arg: &str) -> io::Result<()> {
        if self.mail_from.is_none() {
            return self.reply("503 5.5.1 Need MAIL command").await;
        }
        let Some((address, _params)) = parse_path(arg, "TO:") else {
            return self.reply("501 5.5.4 Syntax: RCPT TO:<address>").await;
        };
        if !address.contains('@') && !address.eq_ignore_ascii_case("postmaster") {
            return self.reply("501 5.1.3 Bad recipient address syntax").await;
        }
        if self.rcpt_to.len() >= MAX_RECIPIENTS {
            return self.reply("452 4.5.3 Too many recipients").await;
        }
        if self.settings.recorder.permanent() {
            return self.reply("550 5.1.1 Mailbox unavailable").await;
        }
        self.rcpt_to.push(address);
        self.reply("250 2.1.5 OK").await
    }

    /// Handles DATA; returns false when the connection must be dropped without a reply.
    async fn data(&mut self) -> io::Result<bool> {
        if self.mail_from.is_none() {
            self.reply("503 5.5.1 Need MAIL command").await?;
            return Ok(true);
        }
        if self.rcpt_to.is_empty() {
            self.reply("554 5.5.1 No valid recipients").await?;
            return Ok(true);
        }
        self.reply("354 End data with <CR><LF>.<CR><LF>").await?;
        let mut data = Vec::new();
        let mut oversized = false;
        let mut at_line_start = true;
        let mut buf = Vec::new();
        loop {
            if read_chunk(&mut self.reader, DATA_CHUNK, &mut buf).await?.is_none() {
                // Connection closed mid-message: nothing was accepted.
                return Ok(false);
            }
            let complete = buf.ends_with(b"\n");
            let mut content: &[u8] = if complete { strip_eol(&buf) } else { &buf };
            if at_line_start && complete && content == b"." {
                break;
            }
            if at_line_start && content.first() == Some(&b'.') {
                content = &content[1..]; // dot-unstuffing
            }
            if !oversized {
                data.extend_from_slice(content);
                if complete {
                    data.extend_from_slice(b"\r\n");
                }
                if data.len() > self.settings.max_size {
                    oversized = true;
                    data = Vec::new();
                }
            }
            at_line_start = complete;
        }
        let mail_from = self.mail_from.take().unwrap_or_default();
        let rcpt_to = std::mem::take(&mut self.rcpt_to);
        if oversized {
            self.reply("552 5.3.4 Message size exceeds fixed maximum message size").await?;
            return Ok(true);
        }
        let delay = match self.settings.recorder.decide() {
            Decision::Fail { .. } => {
                self.reply("451 4.3.0 Temporary failure, please try again later").await?;
                return Ok(true);
            }
            Decision::Drop => return Ok(false),
            Decision::Timeout(delay) => Some(delay),
            Decision::Deliver => None,
        };
        let headers = super::message::parse_headers(&data);
        let message_id = headers.iter().find(|h| h.name.eq_ignore_ascii_case("Message-ID")).map(|h| h.value.clone());
        self.settings.recorder.record(Received {
            provider: Provider::Smtp,
            at: chrono::Utc::now(),
            recipient: rcpt_to.join(", "),
            dedupe_id: message_id,
            delayed: delay.is_some(),
            detail: Detail::Smtp { mail_from, rcpt_to, headers, data: String::from_utf8_lossy(&data).into_owned() },
        });
        if let Some(delay) = delay {
            tokio::time::sleep(delay).await;
        }
        let queue_id = format!("{:016X}", rand::rng().random::<u64>());
        self.reply(&format!("250 2.0.0 OK: queued as {queue_id}")).await?;
        Ok(true)
    }
}
