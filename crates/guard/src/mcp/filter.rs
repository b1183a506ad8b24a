//! `tools/list` answers cut down to the tools a token may call, so a client never sees a tool
//! it cannot call. The upstream answers a POST with one JSON object or with an SSE stream
//! (`text/event-stream`) whose events carry JSON-RPC messages; both are handled, the stream
//! incrementally, one complete event at a time, so everything else in it (progress
//! notifications, keep-alive comments) passes through as it arrives.

use serde_json::Value;

/// Largest SSE event the filter holds while it waits for the event's end; a longer event ends
/// the stream (the filter fails closed rather than pass an unfiltered list).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// Removes the tools `allowed` refuses from a JSON-RPC response's `result.tools`. Returns the
/// new message, or `None` if `message` is not a response carrying a tool list (left as is).
pub fn filter_message(message: &mut Value, allowed: &dyn Fn(&str) -> bool) -> bool {
    let Some(tools) = message
        .get_mut("result")
        .and_then(|r| r.get_mut("tools"))
        .and_then(Value::as_array_mut)
    else {
        return false;
    };
    tools.retain(|t| t.get("name").and_then(Value::as_str).is_some_and(allowed));
    true
}

/// Filters a JSON `tools/list` answer. `None` if the body is not JSON (the caller answers
/// 502: an upstream that answers `tools/list` with something else is broken).
pub fn filter_tools_list(body: &[u8], allowed: &dyn Fn(&str) -> bool) -> Option<Vec<u8>> {
    let mut v: Value = serde_json::from_slice(body).ok()?;
    if !filter_message(&mut v, allowed) {
        return Some(body.to_vec());
    }
    serde_json::to_vec(&v).ok()
}

/// An SSE stream filter: feed it chunks as they arrive ([`SseToolsFilter::push`]) and send
/// what it returns; [`SseToolsFilter::finish`] returns what is left at the end.
///
/// It fails closed: an event whose data could spell a `tools` member (it contains `tools` or a
/// `\u` escape) but is not valid JSON (or the stream is not UTF-8) is dropped, since a client's
/// parser might still read a list the filter could not; a leading byte-order mark is removed
/// (the client would ignore it, and it would hide the first field name from the filter).
pub struct SseToolsFilter<'a> {
    allowed: Box<dyn Fn(&str) -> bool + 'a>,
    pending: Vec<u8>,
    /// Bytes of `pending` already scanned without finding an event's end.
    scan: usize,
    /// Whether the line being scanned at `scan` is empty so far.
    line_empty: bool,
    bom_checked: bool,
    failed: bool,
}

/// The stream was refused: an event longer than [`MAX_EVENT_BYTES`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventTooLarge;

const BOM: &[u8] = b"\xEF\xBB\xBF";

impl<'a> SseToolsFilter<'a> {
    /// A filter keeping the tools `allowed` accepts.
    pub fn new(allowed: impl Fn(&str) -> bool + 'a) -> Self {
        SseToolsFilter {
            allowed: Box::new(allowed),
            pending: Vec::new(),
            scan: 0,
            line_empty: true,
            bom_checked: false,
            failed: false,
        }
    }

    fn strip_bom(&mut self, finishing: bool) -> bool {
        if self.bom_checked {
            return true;
        }
        if self.pending.len() < BOM.len() && !finishing && BOM.starts_with(&self.pending) {
            return false;
        }
        if self.pending.starts_with(BOM) {
            self.pending.drain(..BOM.len());
        }
        self.bom_checked = true;
        true
    }

    /// Takes a chunk; returns the bytes of every event it completed, filtered. Each byte is
    /// scanned once and the buffer shifted once per chunk.
    pub fn push(&mut self, chunk: &[u8]) -> Result<Vec<u8>, EventTooLarge> {
        if self.failed {
            return Err(EventTooLarge);
        }
        self.pending.extend_from_slice(chunk);
        if !self.strip_bom(false) {
            return Ok(Vec::new());
        }
        let mut out = Vec::new();
        let mut start = 0;
        while let Some(end) = self.next_end(start) {
            let filtered = self.filter_event(self.pending.get(start..end).unwrap_or_default());
            out.extend(filtered);
            start = end;
        }
        self.pending.drain(..start);
        self.scan -= start;
        if self.pending.len() > MAX_EVENT_BYTES {
            self.failed = true;
            self.pending.clear();
            return Err(EventTooLarge);
        }
        Ok(out)
    }

    /// The end of the stream: an unterminated last event is dispatched as if terminated
    /// (browsers drop it; sending it filtered loses nothing the client could use).
    pub fn finish(&mut self) -> Vec<u8> {
        self.strip_bom(true);
        if self.failed || self.pending.is_empty() {
            return Vec::new();
        }
        let event = std::mem::take(&mut self.pending);
        self.scan = 0;
        self.filter_event(&event)
    }

    /// Where the event starting at `start` ends (after its blank line), scanning on from where
    /// the last call stopped. Lines end in CRLF, LF or CR (WHATWG SSE); a CR at the very end may
    /// be the first half of a CRLF, so scanning stops before it.
    fn next_end(&mut self, start: usize) -> Option<usize> {
        let mut i = self.scan.max(start);
        if i == start {
            self.line_empty = true;
        }
        while let Some(&b) = self.pending.get(i) {
            let eol = match b {
                b'\n' => Some(i + 1),
                b'\r' => match self.pending.get(i + 1) {
                    Some(b'\n') => Some(i + 2),
                    Some(_) => Some(i + 1),
                    None => break,
                },
                _ => None,
            };
            match eol {
                Some(next) => {
                    if self.line_empty && i > start {
                        self.scan = next;
                        self.line_empty = true;
                        return Some(next);
                    }
                    self.line_empty = true;
                    i = next;
                }
                None => {
                    self.line_empty = false;
                    i += 1;
                }
            }
        }
        self.scan = i;
        None
    }

    /// One event including its terminating blank line. Only an event whose data is a
    /// JSON-RPC response with `result.tools` is rewritten; one whose data could spell such a
    /// member but does not parse is dropped; any other passes byte for byte.
    fn filter_event(&self, event: &[u8]) -> Vec<u8> {
        let Ok(text) = std::str::from_utf8(event) else {
            return Vec::new();
        };
        let text = text.replace("\r\n", "\n").replace('\r', "\n");
        let mut data = String::new();
        let mut others = Vec::new();
        let mut has_data = false;
        for line in text.split('\n') {
            if line.is_empty() {
                continue;
            }
            if let Some(rest) = line.strip_prefix("data") {
                if rest.is_empty() || rest.starts_with(':') {
                    let v = rest.strip_prefix(':').unwrap_or(rest);
                    let v = v.strip_prefix(' ').unwrap_or(v);
                    if has_data {
                        data.push('\n');
                    }
                    data.push_str(v);
                    has_data = true;
                    continue;
                }
            }
            others.push(line);
        }
        if !has_data || !(data.contains("tools") || data.contains("\\u")) {
            return event.to_vec();
        }
        let Ok(mut msg) = serde_json::from_str::<Value>(&data) else {
            return Vec::new();
        };
        if !filter_message(&mut msg, &*self.allowed) {
            return event.to_vec();
        }
        let mut out = String::new();
        for l in others {
            out.push_str(l);
            out.push('\n');
        }
        out.push_str("data: ");
        out.push_str(&msg.to_string());
        out.push_str("\n\n");
        out.into_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn allow(t: &str) -> bool {
        t.starts_with("get_")
    }

    const LIST: &str = r#"{"jsonrpc":"2.0","id":2,"result":{"tools":[{"name":"get_note"},{"name":"purge"},{"name":"get_all"}],"nextCursor":"c"}}"#;

    #[test]
    fn a_json_tool_list_keeps_only_allowed_tools() {
        let out = filter_tools_list(LIST.as_bytes(), &allow).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        let names: Vec<_> = v["result"]["tools"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["get_note", "get_all"]);
        assert_eq!(v["result"]["nextCursor"], "c");
        let err = br#"{"jsonrpc":"2.0","id":2,"error":{"code":-1,"message":"x"}}"#;
        assert_eq!(filter_tools_list(err, &allow).unwrap(), err.to_vec());
        assert_eq!(filter_tools_list(b"<html>", &allow), None);
    }

    fn run(chunks: &[&[u8]]) -> String {
        let mut f = SseToolsFilter::new(allow);
        let mut out = Vec::new();
        for c in chunks {
            out.extend(f.push(c).unwrap());
        }
        out.extend(f.finish());
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn an_sse_tool_list_is_filtered_wherever_the_chunks_split_it() {
        let stream = format!(
            ": keepalive\n\nevent: message\nid: 1\ndata: {{\"jsonrpc\":\"2.0\",\"method\":\"notifications/progress\"}}\n\nevent: message\r\nid: 2\r\ndata: {LIST}\r\n\r\n"
        );
        let whole = run(&[stream.as_bytes()]);
        assert!(whole.starts_with(": keepalive\n\nevent: message\nid: 1\ndata: {\"jsonrpc\""));
        assert!(!whole.contains("purge"), "{whole}");
        assert!(whole.contains("get_all"));
        assert!(whole.contains("event: message\nid: 2\ndata: {"));
        let bytes = stream.as_bytes();
        for split in 1..bytes.len() {
            let (a, b) = bytes.split_at(split);
            assert_eq!(run(&[a, b]), whole, "split at {split}");
        }
    }

    #[test]
    fn lone_carriage_returns_end_lines_too() {
        let stream = format!("id: 9\rdata: {LIST}\r\r");
        let out = run(&[stream.as_bytes()]);
        assert!(!out.contains("purge"), "{out}");
        assert!(out.starts_with("id: 9\ndata: "));
    }

    #[test]
    fn multi_line_data_is_joined_before_filtering() {
        let stream = "data: {\"jsonrpc\":\"2.0\",\"id\":1,\ndata: \"result\":{\"tools\":[{\"name\":\"purge\"}]}}\n\n";
        let out = run(&[stream.as_bytes()]);
        assert!(!out.contains("purge"), "{out}");
        assert!(out.contains("\"tools\":[]"));
    }

    #[test]
    fn events_pass_as_they_complete_not_at_the_end() {
        let mut f = SseToolsFilter::new(allow);
        assert_eq!(f.push(b"data: {\"a\":1}\n").unwrap(), b"");
        assert_eq!(f.push(b"\n").unwrap(), b"data: {\"a\":1}\n\n");
        assert_eq!(f.push(b"data: x").unwrap(), b"");
        assert_eq!(f.finish(), b"data: x");
    }

    #[test]
    fn events_the_filter_cannot_read_are_dropped_not_passed() {
        // Valid JavaScript JSON that serde_json refuses: a lone surrogate, a huge number.
        for data in [
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"purge","description":"\udc00"}]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"tools":[{"name":"purge","x":1e400}]}}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":{"t\u006fols":[{"name":"purge"}]}}x"#,
        ] {
            let out = run(&[format!("data: {data}\n\n").as_bytes()]);
            assert!(!out.contains("purge"), "{out}");
        }
        let mut bad_utf8 = b"data: {\"result\":{\"tools\":[{\"name\":\"purge\",\"d\":\"".to_vec();
        bad_utf8.extend([0xff, b'"', b'}', b']', b'}', b'}', b'\n', b'\n']);
        assert!(!run(&[&bad_utf8]).contains("purge"));
        // Data that cannot spell a tools member passes untouched, parsed or not.
        assert_eq!(run(&[b"data: \n\n"]), "data: \n\n");
        assert_eq!(run(&[b"data: not json\n\n"]), "data: not json\n\n");
    }

    #[test]
    fn escaped_member_names_are_read_as_the_client_reads_them() {
        let out = run(&[br#"data: {"jsonrpc":"2.0","id":1,"result":{"t\u006fols":[{"name":"purge"},{"name":"get_a"}]}}"#, b"\n\n"]);
        assert!(!out.contains("purge"), "{out}");
        assert!(out.contains("get_a"));
    }

    #[test]
    fn a_leading_byte_order_mark_is_removed_even_split() {
        let stream = format!("\u{feff}data: {LIST}\n\n");
        let bytes = stream.as_bytes();
        for split in 1..5 {
            let (a, b) = bytes.split_at(split);
            let out = run(&[a, b]);
            assert!(!out.contains("purge"), "split {split}: {out}");
            assert!(out.starts_with("data: "));
        }
    }

    #[test]
    fn many_small_events_in_one_chunk_cost_linear_time() {
        let chunk = ":\n\n".repeat(200_000);
        let t0 = std::time::Instant::now();
        let out = run(&[chunk.as_bytes()]);
        assert_eq!(out.len(), chunk.len());
        // Not a timing assertion: the point is that this test finishes at all (the quadratic
        // version took minutes); the elapsed time is printed for the curious.
        eprintln!("200,000 events: {:?}", t0.elapsed());
    }

    #[test]
    fn an_endless_event_ends_the_stream_instead_of_passing_unfiltered() {
        let mut f = SseToolsFilter::new(allow);
        let big = vec![b'a'; MAX_EVENT_BYTES + 1];
        assert_eq!(f.push(&big), Err(EventTooLarge));
        assert_eq!(f.push(b"\n\n"), Err(EventTooLarge));
        assert!(f.finish().is_empty());
    }
}
