//! The usage CSV a billing or flow-log export is turned into:
//!
//! ```text
//! day,connection,gigabytes[,peak_gbps]
//! 2026-01-05,dx-1,3250.5,0.9
//! ```
//!
//! The header is required (it says whether the peak column is there). Every
//! bad row is reported with its line number and why; the good rows are kept.
//! Plain comma-separated values: no quoting (ids, days and numbers never
//! need it), blank lines ignored.

use super::{parse_day, ConnectionFacts, UsageRow};
use crate::domain::{ConnectionId, Gbps, Gigabytes};
use std::collections::{BTreeMap, BTreeSet};

/// Most rows one file may hold (a year of 10,000 connections is 3.65 M).
pub const MAX_ROWS: usize = 5_000_000;

/// A row that was not imported, and why.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct RowError {
    pub line: usize,
    pub reason: String,
}

/// Why a whole file cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CsvError {
    #[error("usage file {origin}: it is empty; the first line must be the header `day,connection,gigabytes[,peak_gbps]`")]
    Empty { origin: String },
    #[error("usage file {origin}, line 1: the header must be `day,connection,gigabytes` or `day,connection,gigabytes,peak_gbps`, got '{got}'")]
    Header { origin: String, got: String },
    #[error("usage file {origin}: more than {MAX_ROWS} rows; split it")]
    TooLarge { origin: String },
}

/// The rows read and the rows refused.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Parsed {
    pub rows: Vec<UsageRow>,
    pub errors: Vec<RowError>,
}

/// Parses `text` (from `origin`, for messages) against the estate's connections.
pub fn parse(
    text: &str,
    origin: &str,
    connections: &BTreeMap<ConnectionId, ConnectionFacts>,
) -> Result<Parsed, CsvError> {
    let mut lines = text.lines().enumerate();
    let Some((_, header)) = lines.by_ref().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(CsvError::Empty {
            origin: origin.into(),
        });
    };
    let columns: Vec<String> = header
        .trim_start_matches('\u{feff}')
        .split(',')
        .map(|c| c.trim().to_ascii_lowercase())
        .collect();
    let with_peak = match columns.as_slice() {
        [d, c, g] if d == "day" && c == "connection" && g == "gigabytes" => false,
        [d, c, g, p] if d == "day" && c == "connection" && g == "gigabytes" && p == "peak_gbps" => {
            true
        }
        _ => {
            return Err(CsvError::Header {
                origin: origin.into(),
                got: header.chars().take(80).collect(),
            })
        }
    };
    let mut parsed = Parsed::default();
    let mut seen = BTreeSet::new();
    for (index, line) in lines {
        if line.trim().is_empty() {
            continue;
        }
        if parsed.rows.len() + parsed.errors.len() >= MAX_ROWS {
            return Err(CsvError::TooLarge {
                origin: origin.into(),
            });
        }
        let number = index + 1;
        match row(line, with_peak, connections) {
            Ok(r) => {
                if seen.insert((r.day, r.connection.clone())) {
                    parsed.rows.push(r);
                } else {
                    parsed.errors.push(RowError {
                        line: number,
                        reason: format!(
                            "{} on {} appears twice in this file; the first is kept",
                            r.connection, r.day
                        ),
                    });
                }
            }
            Err(reason) => parsed.errors.push(RowError {
                line: number,
                reason,
            }),
        }
    }
    Ok(parsed)
}

fn number(text: &str, what: &str) -> Result<f64, String> {
    let shown: String = text.chars().take(40).collect();
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(format!("{what} '{shown}' is not a non-negative number")),
    }
}

fn row(
    line: &str,
    with_peak: bool,
    connections: &BTreeMap<ConnectionId, ConnectionFacts>,
) -> Result<UsageRow, String> {
    let fields: Vec<&str> = line.split(',').collect();
    let expected = if with_peak { 4 } else { 3 };
    // A trailing empty peak is allowed: the export did not know it that day.
    if fields.len() != expected {
        return Err(format!(
            "{} fields, expected {expected} (day,connection,gigabytes{})",
            fields.len(),
            if with_peak { ",peak_gbps" } else { "" }
        ));
    }
    let day = parse_day(fields[0])?;
    let id = fields[1].trim();
    let connection = ConnectionId::new(id);
    let Some(facts) = connections.get(&connection) else {
        return Err(format!(
            "unknown connection '{}' (not in the estate)",
            id.chars().take(60).collect::<String>()
        ));
    };
    let gigabytes = Gigabytes(number(fields[2], "gigabytes")?);
    let peak_gbps = match fields.get(3).map(|p| p.trim()) {
        None | Some("") => None,
        Some(p) => Some(Gbps(number(p, "peak_gbps")?)),
    };
    Ok(UsageRow {
        day,
        connection,
        cloud: facts.cloud,
        kind: facts.kind,
        gigabytes,
        peak_gbps,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Estate;
    use crate::providers::lab::EMBEDDED_ESTATE;
    use crate::usage::connection_facts;
    use proptest::prelude::*;

    fn facts() -> BTreeMap<ConnectionId, ConnectionFacts> {
        connection_facts(&Estate::from_yaml(EMBEDDED_ESTATE, "globalcart").unwrap())
    }

    #[test]
    fn good_rows_are_kept_and_every_bad_row_is_named_by_line() {
        let text = "day,connection,gigabytes,peak_gbps\n\
                    2026-01-05,dx-1,3250.5,0.9\n\
                    2026-01-05,nope,1,\n\
                    2026-13-01,dx-1,1,\n\
                    \n\
                    2026-01-06,dx-1,-4,\n\
                    2026-01-06,er-1,12\n\
                    2026-01-06,er-1,12,\n\
                    2026-01-05,dx-1,1,\n\
                    2026-01-07,dx-1,NaN,\n";
        let parsed = parse(text, "u.csv", &facts()).unwrap();
        assert_eq!(parsed.rows.len(), 2);
        assert_eq!(parsed.rows[0].peak_gbps, Some(Gbps(0.9)));
        assert_eq!(parsed.rows[1].peak_gbps, None);
        let lines: Vec<usize> = parsed.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, [3, 4, 6, 7, 9, 10]);
        assert!(parsed.errors[0]
            .reason
            .contains("unknown connection 'nope'"));
        assert!(parsed.errors[4].reason.contains("twice"));
    }

    #[test]
    fn a_missing_or_wrong_header_refuses_the_file() {
        assert!(matches!(
            parse("", "u.csv", &facts()),
            Err(CsvError::Empty { .. })
        ));
        let err = parse("2026-01-05,dx-1,1\n", "u.csv", &facts()).unwrap_err();
        assert!(err.to_string().contains("u.csv, line 1"), "{err}");
    }

    proptest! {
        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,400}") {
            let _ = parse(&format!("day,connection,gigabytes\n{text}"), "u.csv", &facts());
        }
    }
}
