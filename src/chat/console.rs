//! The console adapter: a person at a terminal (or a script piped in) talking
//! to the router, with the workflow threads printed as text. Non-interactive
//! input is handled line by line in order, each line waiting until the workflow
//! it touched is resting, so a script reads like a conversation.

use super::message::{ButtonAction, Message, Tone};
use super::router::{Inbound, Router, MAX_CHAT_BYTES};
use crate::domain::UserId;
use crate::store::{Store, StoreError};
use crate::workflow::Engine;
use std::io::Write;
use tokio::io::{AsyncBufRead, AsyncBufReadExt};

/// A line as the console read it.
#[derive(Debug, PartialEq)]
enum Line {
    Text(Vec<u8>),
    /// Longer than the limit: consumed to its end, never held, reported by size.
    TooLong(usize),
}

/// Reads lines of bounded length. Cancel-safe: if the caller stops waiting
/// (the console's idle timer), what was read stays here and the next call
/// goes on from it, so nothing typed is lost.
struct LineReader {
    buf: Vec<u8>,
    len: usize,
    max: usize,
}

impl LineReader {
    fn new(max: usize) -> LineReader {
        LineReader {
            buf: Vec::new(),
            len: 0,
            max,
        }
    }

    async fn next(
        &mut self,
        input: &mut (impl AsyncBufRead + Unpin),
    ) -> std::io::Result<Option<Line>> {
        loop {
            let available = input.fill_buf().await?;
            if available.is_empty() {
                // End of input; a last line without a newline still counts.
                return Ok((self.len > 0).then(|| self.finish(false)));
            }
            let (chunk, ends_line) = match available.iter().position(|&b| b == b'\n') {
                Some(i) => (&available[..=i], true),
                None => (available, false),
            };
            let taken = chunk.len();
            // Keep bytes only while the line (newline aside) fits.
            if self.len + taken <= self.max + 1 {
                self.buf.extend_from_slice(chunk);
            }
            self.len += taken;
            input.consume(taken);
            if ends_line {
                return Ok(Some(self.finish(true)));
            }
        }
    }

    fn finish(&mut self, ends_with_newline: bool) -> Line {
        let buf = std::mem::take(&mut self.buf);
        let len = std::mem::take(&mut self.len);
        let content = len - usize::from(ends_with_newline);
        if content > self.max {
            Line::TooLong(content)
        } else {
            Line::Text(buf)
        }
    }
}

/// Renders a message as console text. `thread` prefixes every line.
pub fn render(message: &Message, thread: Option<&str>) -> String {
    let mut lines = Vec::new();
    let mark = match message.tone {
        Tone::Info => "",
        Tone::Success => "✔ ",
        Tone::Warning => "! ",
        Tone::Danger => "✖ ",
    };
    if let Some(title) = &message.title {
        lines.push(format!("── {mark}{title} ──"));
        lines.extend(message.text.lines().map(|l| format!("  {l}")));
    } else {
        let mut text = message.text.lines();
        if let Some(first) = text.next() {
            lines.push(format!("{mark}{first}"));
        }
        lines.extend(text.map(|l| format!("  {l}")));
    }
    for field in &message.fields {
        let mut values = field.value.lines();
        lines.push(format!(
            "  {:<13} {}",
            format!("{}:", field.name),
            values.next().unwrap_or("")
        ));
        lines.extend(values.map(|v| format!("  {:<13} {v}", "")));
    }
    if let Some(image) = &message.image {
        lines.push(format!("  Image: {image}"));
    }
    if !message.buttons.is_empty() {
        let buttons: Vec<String> = message
            .buttons
            .iter()
            .map(|b| match &b.action {
                ButtonAction::Approve { workflow } => format!("[{}: approve {workflow}]", b.label),
                ButtonAction::Reject { workflow } => {
                    format!("[{}: reject {workflow} <reason>]", b.label)
                }
                ButtonAction::ApproveBatch { batch } => format!("[{}: approve {batch}]", b.label),
                ButtonAction::RejectBatch { batch } => {
                    format!("[{}: reject {batch} <reason>]", b.label)
                }
            })
            .collect();
        lines.push(format!("  {}", buttons.join("  ")));
    }
    let prefix = thread.map(|t| format!("[{t}] ")).unwrap_or_default();
    lines
        .iter()
        .map(|l| format!("{prefix}{l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

pub struct Console {
    pub router: Router,
    pub engine: Engine,
    pub store: Store,
    pub user: UserId,
    pub channel: String,
}

/// Why a console user name is refused.
/// `bulk <file>` in the console: the file's CSV, sent on as `bulk` and its
/// lines (as a CSV pasted in chat would be). None for any other line.
fn bulk_file(line: &str) -> Option<Result<String, String>> {
    let (word, path) = line.split_once(char::is_whitespace)?;
    if !word.eq_ignore_ascii_case("bulk") || path.trim().is_empty() {
        return None;
    }
    let path = path.trim();
    let read = std::fs::read(path).map_err(|e| format!("{path}: {e}"));
    Some(read.and_then(|bytes| {
        String::from_utf8(bytes)
            .map(|csv| format!("bulk\n{csv}"))
            .map_err(|_| {
                format!("{path} is not UTF-8 text; `switchboard bulk {path}` reports each bad row")
            })
    }))
}

fn check_user(name: &str) -> Result<UserId, String> {
    let name = name.trim();
    if name.is_empty()
        || name.len() > 64
        || name.chars().any(|c| c.is_whitespace() || c.is_control())
    {
        return Err(format!(
            "'{}' is not a user name (1–64 characters, no spaces)",
            name.chars().take(64).collect::<String>()
        ));
    }
    Ok(UserId::new(name))
}

impl Console {
    pub fn user_from(name: &str) -> Result<UserId, String> {
        check_user(name)
    }

    /// Prints every undelivered outbox message and marks it delivered; says
    /// whether it printed anything.
    pub async fn drain(&self, out: &mut impl Write) -> Result<bool, StoreError> {
        let mut printed = false;
        loop {
            let batch = self.store.pending_outbox(200).await?;
            if batch.is_empty() {
                return Ok(printed);
            }
            for item in batch {
                let _ = writeln!(
                    out,
                    "{}",
                    render(&item.message, item.destination.thread.as_deref())
                );
                self.store.mark_delivered(item.id).await?;
                printed = true;
            }
            let _ = out.flush();
        }
    }

    /// Runs the conversation until the input ends or `/quit`.
    pub async fn run(
        &mut self,
        input: impl AsyncBufRead + Unpin,
        out: &mut impl Write,
        interactive: bool,
    ) -> Result<(), StoreError> {
        // Whatever a previous run left moving finishes first, so the script
        // that follows sees settled state.
        if let Ok(ids) = self.engine.unsettled().await {
            for id in ids {
                let _ = self.engine.wait_resting(id).await;
            }
        }
        self.drain(out).await?;
        if interactive {
            let _ = writeln!(out, "switchboard console · you are {} · type `help`, `/as NAME` to switch user, `/quit` to leave", self.user);
        }
        let mut input = input;
        let mut lines = LineReader::new(MAX_CHAT_BYTES);
        let mut line_no = 0usize;
        let mut prompt = true;
        loop {
            if interactive && prompt {
                let _ = write!(out, "{}> ", self.user);
                let _ = out.flush();
                prompt = false;
            }
            let read = tokio::select! {
                read = lines.next(&mut input) => read,
                _ = tokio::time::sleep(std::time::Duration::from_secs(1)), if interactive => {
                    // Show what arrived meanwhile (expiries, alerts).
                    if self.drain(out).await? {
                        prompt = true;
                    }
                    continue;
                }
            };
            let buf = match read {
                Ok(None) => break,
                Ok(Some(Line::Text(bytes))) => bytes,
                Ok(Some(Line::TooLong(len))) => {
                    line_no += 1;
                    prompt = true;
                    let _ = writeln!(out, "✖ line {line_no} is {len} bytes; the limit is {MAX_CHAT_BYTES}. Nothing was done.");
                    continue;
                }
                Err(e) => {
                    let _ = writeln!(out, "✖ could not read input: {e}");
                    break;
                }
            };
            prompt = true;
            line_no += 1;
            let Ok(line) = std::str::from_utf8(&buf) else {
                let _ = writeln!(
                    out,
                    "✖ line {line_no} is not valid UTF-8. Nothing was done."
                );
                continue;
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if !interactive {
                let _ = writeln!(out, "{}> {line}", self.user);
            }
            if line == "/quit" || line == "/exit" {
                break;
            }
            if let Some(name) = line.strip_prefix("/as") {
                match check_user(name) {
                    Ok(user) => {
                        self.user = user;
                        let _ = writeln!(out, "You are now {}.", self.user);
                    }
                    Err(e) => {
                        let _ = writeln!(out, "✖ {e}");
                    }
                }
                continue;
            }
            let text = match bulk_file(line) {
                Some(Ok(csv)) => csv,
                Some(Err(e)) => {
                    let _ = writeln!(out, "✖ {e}. Nothing was started.");
                    continue;
                }
                None => line.to_string(),
            };
            let reply = self
                .router
                .handle(&Inbound {
                    user: self.user.clone(),
                    channel: self.channel.clone(),
                    text,
                })
                .await;
            for message in &reply.messages {
                let _ = writeln!(out, "{}", render(message, None));
            }
            if let Some(batch) = reply.batch {
                // Every row of a decided batch moves: wait for all of them,
                // so what follows sees the batch settled and summarised.
                let bulk = crate::bulk::Bulk::new(self.engine.clone(), self.store.clone());
                let settled = bulk.wait_until(batch, |v| v.is_settled()).await;
                if let Err(e) = settled.and(bulk.advance(batch).await) {
                    let _ = writeln!(out, "✖ {e}");
                }
            } else if let Some(id) = reply.touched {
                if let Err(e) = self.engine.wait_resting(id).await {
                    let _ = writeln!(out, "✖ {e}");
                }
            }
            self.drain(out).await?;
        }
        self.drain(out).await.map(|_| ())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn long_lines_are_measured_not_kept_and_the_next_line_survives() {
        let mut input: &[u8] = b"ok\naaaaaaaaaaaa\nlast";
        let mut reader = LineReader::new(5);
        assert_eq!(
            reader.next(&mut input).await.unwrap(),
            Some(Line::Text(b"ok\n".to_vec()))
        );
        assert_eq!(
            reader.next(&mut input).await.unwrap(),
            Some(Line::TooLong(12))
        );
        assert!(reader.buf.is_empty());
        assert_eq!(
            reader.next(&mut input).await.unwrap(),
            Some(Line::Text(b"last".to_vec()))
        );
        assert_eq!(reader.next(&mut input).await.unwrap(), None);
    }

    #[test]
    fn cards_render_fields_and_buttons_as_commands() {
        let id = crate::domain::WorkflowId::new(7).unwrap();
        let mut card = Message::text("alice asks")
            .with_title("wf-7 · approval needed")
            .field("Risk", "low");
        card.buttons.push(super::super::message::Button {
            label: "Approve".into(),
            action: ButtonAction::Approve { workflow: id },
            tone: Tone::Success,
        });
        let text = render(&card, Some("wf-7"));
        assert_eq!(
            text,
            "[wf-7] ── wf-7 · approval needed ──\n[wf-7]   alice asks\n[wf-7]   Risk:         low\n[wf-7]   [Approve: approve wf-7]"
        );
    }
}
