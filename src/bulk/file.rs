//! A bulk request file (CSV) → one request sentence per row, or the reason a
//! row cannot be one, with its line number. Pure: bytes in, rows out.
//!
//! The header names the columns (case and spacing ignored; `-` and spaces
//! read as `_`). Either `request` (the whole request in words) or `source`
//! and `destination` must be there; the optional columns add to the request:
//! `traffic` (`500 GB/month`, `2TB`), `max_latency_ms`, `encrypted`
//! (yes/no), `compliance` (`PCI-DSS`, `HIPAA`; several separated by `;`).
//! `note`, `ticket` and `owner` are kept for people and ignored here. An
//! unknown column is an error for the whole file (a typo must not silently
//! drop a requirement); a bad row is an error for that row only.
//!
//! Invariants: every data line yields exactly one `Row` or one `LineError`;
//! blank lines and lines starting with `#` are neither; no input panics.

use std::fmt;

/// Most rows one file may hold (split bigger files).
pub const MAX_ROWS: usize = 2000;
/// Largest file accepted.
pub const MAX_FILE_BYTES: usize = 4 * 1024 * 1024;

/// One row that became a request sentence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub line: u32,
    pub request: String,
}

/// Why one row is not a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: u32,
    pub text: String,
    pub reason: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.reason)
    }
}

/// What a file holds: its good rows and its bad ones.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct BulkFile {
    pub rows: Vec<Row>,
    pub errors: Vec<LineError>,
}

/// Why the file as a whole cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FileError {
    #[error("the file is empty: it needs a header line (e.g. source,destination,traffic)")]
    Empty,
    #[error("the file is {size} bytes; at most {max} are accepted (split it)")]
    TooLarge { size: usize, max: usize },
    #[error("the file has more than {max} rows; split it")]
    TooManyRows { max: usize },
    #[error("the header (line {line}) is not valid CSV text: {reason}")]
    BadHeader { line: u32, reason: String },
    #[error("unknown column '{column}' in the header; the columns are: {known}")]
    UnknownColumn { column: String, known: String },
    #[error("column '{0}' appears twice in the header")]
    DuplicateColumn(String),
    #[error("the header needs a 'request' column, or 'source' and 'destination' columns")]
    NoRequestColumns,
    #[error("the file has a header but no rows")]
    NoRows,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Column {
    Request,
    Source,
    Destination,
    Traffic,
    MaxLatencyMs,
    Encrypted,
    Compliance,
    /// For people: ignored.
    Note,
}

const COLUMNS: &[(&str, Column)] = &[
    ("request", Column::Request),
    ("source", Column::Source),
    ("destination", Column::Destination),
    ("traffic", Column::Traffic),
    ("max_latency_ms", Column::MaxLatencyMs),
    ("encrypted", Column::Encrypted),
    ("compliance", Column::Compliance),
    ("note", Column::Note),
    ("ticket", Column::Note),
    ("owner", Column::Note),
];

fn column(name: &str) -> Option<Column> {
    let key: String = name
        .trim()
        .chars()
        .map(|c| match c {
            '-' | ' ' => '_',
            c => c.to_ascii_lowercase(),
        })
        .collect();
    COLUMNS.iter().find(|(n, _)| *n == key).map(|(_, c)| *c)
}

/// Reads a bulk request file.
pub fn read(bytes: &[u8]) -> Result<BulkFile, FileError> {
    if bytes.len() > MAX_FILE_BYTES {
        return Err(FileError::TooLarge {
            size: bytes.len(),
            max: MAX_FILE_BYTES,
        });
    }
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .comment(Some(b'#'))
        .trim(csv::Trim::All)
        .from_reader(bytes);
    let lines = Lines::of(bytes);
    let mut records = reader.byte_records();
    let (header_line, header) = loop {
        match records.next() {
            None => return Err(FileError::Empty),
            Some(Err(e)) => {
                return Err(FileError::BadHeader {
                    line: lines.of_error(&e),
                    reason: e.to_string(),
                })
            }
            Some(Ok(r)) if is_blank(&r) => continue,
            Some(Ok(r)) => break (lines.of_record(&r), r),
        }
    };
    let columns = header_columns(&header, header_line)?;
    let mut file = BulkFile::default();
    for record in records {
        let record = match record {
            Ok(r) if is_blank(&r) => continue,
            Ok(r) => r,
            Err(e) => {
                file.errors.push(LineError {
                    line: lines.of_error(&e),
                    text: String::new(),
                    reason: format!("not valid CSV: {e}"),
                });
                continue;
            }
        };
        if file.rows.len() + file.errors.len() >= MAX_ROWS {
            return Err(FileError::TooManyRows { max: MAX_ROWS });
        }
        let line = lines.of_record(&record);
        let text = shown(&record);
        match row_request(&columns, &record) {
            Ok(request) => file.rows.push(Row { line, request }),
            Err(reason) => file.errors.push(LineError { line, text, reason }),
        }
    }
    if file.rows.is_empty() && file.errors.is_empty() {
        return Err(FileError::NoRows);
    }
    Ok(file)
}

fn is_blank(record: &csv::ByteRecord) -> bool {
    record.iter().all(|f| f.is_empty())
}

/// Line numbers as an editor shows them. The CSV reader's own count skips
/// blank and comment lines, and the byte position it gives for a record is
/// where it started reading, before the blank and comment lines it skipped;
/// so the record's line is the first line from there that is neither.
struct Lines<'a> {
    bytes: &'a [u8],
    /// Offsets of every `\n`.
    newlines: Vec<usize>,
}

impl<'a> Lines<'a> {
    fn of(bytes: &'a [u8]) -> Lines<'a> {
        let newlines = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        Lines { bytes, newlines }
    }

    fn at(&self, position: Option<&csv::Position>) -> u32 {
        let Some(start) = position.and_then(|p| usize::try_from(p.byte()).ok()) else {
            return 0;
        };
        let mut line = self.newlines.partition_point(|&n| n < start);
        let mut from = start.min(self.bytes.len());
        while let Some(&end) = self.newlines.get(line) {
            let text = &self.bytes[from..end];
            let skipped = text.first() == Some(&b'#') || text.iter().all(u8::is_ascii_whitespace);
            if !skipped {
                break;
            }
            line += 1;
            from = end + 1;
        }
        u32::try_from(line + 1).unwrap_or(u32::MAX)
    }

    fn of_record(&self, record: &csv::ByteRecord) -> u32 {
        self.at(record.position())
    }

    fn of_error(&self, error: &csv::Error) -> u32 {
        self.at(error.position())
    }
}

/// The row as it appeared, for the error report (lossy, clipped).
fn shown(record: &csv::ByteRecord) -> String {
    let text: Vec<String> = record
        .iter()
        .map(|f| String::from_utf8_lossy(f).into_owned())
        .collect();
    text.join(",").chars().take(200).collect()
}

fn header_columns(header: &csv::ByteRecord, line: u32) -> Result<Vec<Column>, FileError> {
    let mut columns = Vec::with_capacity(header.len());
    for field in header.iter() {
        let name = std::str::from_utf8(field).map_err(|_| FileError::BadHeader {
            line,
            reason: "a column name is not UTF-8 text".into(),
        })?;
        let known = column(name).ok_or_else(|| FileError::UnknownColumn {
            column: name.chars().take(60).collect(),
            known: COLUMNS
                .iter()
                .map(|(n, _)| *n)
                .collect::<Vec<_>>()
                .join(", "),
        })?;
        if known != Column::Note && columns.contains(&known) {
            return Err(FileError::DuplicateColumn(name.to_string()));
        }
        columns.push(known);
    }
    let has = |c| columns.contains(&c);
    let structured = has(Column::Source) && has(Column::Destination);
    if !has(Column::Request) && !structured {
        return Err(FileError::NoRequestColumns);
    }
    Ok(columns)
}

/// One row's fields, by column.
#[derive(Default)]
struct Fields<'a> {
    request: &'a str,
    source: &'a str,
    destination: &'a str,
    traffic: &'a str,
    max_latency_ms: &'a str,
    encrypted: &'a str,
    compliance: &'a str,
}

fn row_request(columns: &[Column], record: &csv::ByteRecord) -> Result<String, String> {
    if record.len() > columns.len() {
        return Err(format!(
            "{} fields, but the header names {}",
            record.len(),
            columns.len()
        ));
    }
    let mut fields = Fields::default();
    for (i, (field, column)) in record.iter().zip(columns).enumerate() {
        let text =
            std::str::from_utf8(field).map_err(|_| format!("field {} is not UTF-8 text", i + 1))?;
        let slot = match column {
            Column::Request => &mut fields.request,
            Column::Source => &mut fields.source,
            Column::Destination => &mut fields.destination,
            Column::Traffic => &mut fields.traffic,
            Column::MaxLatencyMs => &mut fields.max_latency_ms,
            Column::Encrypted => &mut fields.encrypted,
            Column::Compliance => &mut fields.compliance,
            Column::Note => continue,
        };
        *slot = text;
    }
    sentence(&fields)
}

/// The request in words the rule parser reads.
fn sentence(f: &Fields) -> Result<String, String> {
    let mut parts: Vec<String> = Vec::new();
    match (f.request, f.source, f.destination) {
        ("", "", _) | ("", _, "") => {
            return Err("needs a request, or a source and a destination".into())
        }
        ("", source, destination) => parts.push(format!("connect {source} to {destination}")),
        (request, "", "") => parts.push(request.to_string()),
        (request, source, destination) => {
            parts.push(request.to_string());
            if !source.is_empty() {
                parts.push(format!("source: {source}"));
            }
            if !destination.is_empty() {
                parts.push(format!("destination: {destination}"));
            }
        }
    }
    if !f.traffic.is_empty() {
        let traffic = f.traffic;
        if traffic.to_ascii_lowercase().contains("month") {
            parts.push(traffic.to_string());
        } else {
            parts.push(format!("{traffic}/month"));
        }
    }
    if !f.max_latency_ms.is_empty() {
        let ms: f64 = f
            .max_latency_ms
            .trim_end_matches("ms")
            .trim()
            .parse()
            .map_err(|_| format!("max_latency_ms '{}' is not a number", f.max_latency_ms))?;
        if !(ms.is_finite() && ms > 0.0) {
            return Err(format!(
                "max_latency_ms '{}' must be above 0",
                f.max_latency_ms
            ));
        }
        parts.push(format!("under {ms}ms"));
    }
    match f.encrypted.to_ascii_lowercase().as_str() {
        "" | "no" | "n" | "false" | "0" => {}
        "yes" | "y" | "true" | "1" => parts.push("encrypted".into()),
        other => return Err(format!("encrypted '{other}' is not yes or no")),
    }
    for tag in f
        .compliance
        .split([';', '|'])
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        parts.push(tag.to_string());
    }
    Ok(parts.join(", "))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn structured_rows_become_sentences_with_their_line_numbers() {
        let file = read(
            b"source,destination,traffic,max_latency_ms,encrypted,compliance,note\n\
              OrderProcessor,orderdb.database.windows.net,500 GB/month,20,yes,PCI-DSS;SOC2,ERP\n\
              \n\
              # a comment\n\
              CartService,sessions,2TB,,no,,\n",
        )
        .unwrap();
        assert!(file.errors.is_empty(), "{:?}", file.errors);
        assert_eq!(
            file.rows,
            vec![
                Row {
                    line: 2,
                    request: "connect OrderProcessor to orderdb.database.windows.net, 500 GB/month, under 20ms, encrypted, PCI-DSS, SOC2".into()
                },
                Row {
                    line: 5,
                    request: "connect CartService to sessions, 2TB/month".into()
                },
            ]
        );
    }

    #[test]
    fn a_request_column_is_taken_as_written() {
        let file = read(b"Request,Ticket\n\"connect a to b, encrypted\",NET-1\n").unwrap();
        assert_eq!(file.rows[0].request, "connect a to b, encrypted");
        assert_eq!(file.rows[0].line, 2);
    }

    #[test]
    fn bad_rows_are_reported_and_the_others_kept() {
        let file = read(
            b"source,destination,max_latency_ms,encrypted\n\
              a,b,20,yes\n\
              ,b,,\n\
              a,b,fast,\n\
              a,b,-3,\n\
              a,b,,maybe\n\
              a,b,1,yes,extra\n\
              a,\xff\xfe,,\n\
              c,d,,\n",
        )
        .unwrap();
        let lines: Vec<u32> = file.rows.iter().map(|r| r.line).collect();
        assert_eq!(lines, vec![2, 9]);
        let errors: Vec<(u32, &str)> = file
            .errors
            .iter()
            .map(|e| (e.line, e.reason.as_str()))
            .collect();
        assert_eq!(
            errors,
            vec![
                (3, "needs a request, or a source and a destination"),
                (4, "max_latency_ms 'fast' is not a number"),
                (5, "max_latency_ms '-3' must be above 0"),
                (6, "encrypted 'maybe' is not yes or no"),
                (7, "5 fields, but the header names 4"),
                (8, "field 2 is not UTF-8 text"),
            ]
        );
    }

    #[test]
    fn broken_files_are_refused_whole_with_the_reason() {
        assert_eq!(read(b""), Err(FileError::Empty));
        assert_eq!(read(b"\n\n# only comments\n"), Err(FileError::Empty));
        assert_eq!(read(b"source,destination\n"), Err(FileError::NoRows));
        assert_eq!(
            read(b"source,traffic\na,1TB\n"),
            Err(FileError::NoRequestColumns)
        );
        assert!(matches!(
            read(b"source,destination,trafic\na,b,1TB\n"),
            Err(FileError::UnknownColumn { column, .. }) if column == "trafic"
        ));
        assert_eq!(
            read(b"source,destination,Source\na,b,c\n"),
            Err(FileError::DuplicateColumn("Source".into()))
        );
        let big = vec![b'a'; MAX_FILE_BYTES + 1];
        assert!(matches!(read(&big), Err(FileError::TooLarge { .. })));
        let mut many = b"source,destination\n".to_vec();
        for _ in 0..=MAX_ROWS {
            many.extend_from_slice(b"a,b\n");
        }
        assert_eq!(read(&many), Err(FileError::TooManyRows { max: MAX_ROWS }));
    }

    #[test]
    fn a_byte_order_mark_and_crlf_line_ends_are_fine() {
        let file = read(b"\xEF\xBB\xBFsource,destination\r\na,b\r\n").unwrap();
        assert_eq!(file.rows[0].request, "connect a to b");
    }
}
