//! The rule-based request parser: deterministic, no LLM, no IO.
//!
//! It works in three passes over the text:
//! 1. **Requirements** (latency, monthly traffic, compliance, encryption, private)
//!    are found anywhere in the text with regexes and cut out, each cut leaving a
//!    `;` so it also ends whatever clause it sat in.
//! 2. **Direction**: a lead-in ("please connect", "I need to link", "between") is
//!    skipped, then the text is split at the first "to" / "->" / "→" (or "and" after
//!    "between") into a source clause and a destination clause. The destination
//!    stops at its first comma or `;`; later pieces that only name a place
//!    ("…orderdb, in East US", or an appended answer "us-east-1") go to the end
//!    they complete, and `source: …` / `destination: …` pieces override their end.
//! 3. **Endpoints**: each clause is read token by token for clouds, regions, service
//!    words, ARNs, hostnames and names.
//!
//! The parser is literal: it records what the text says and nothing more (for
//! instance `private_only` only comes from words like "private"; compliance
//! policy adds its own demands later). The only inferences it makes are ones that
//! cannot be wrong for the text: a region or ARN names its cloud, a hostname under
//! a cloud's domain names its cloud, and a cloud-specific service (lambda, bigquery,
//! synapse…) names its cloud when nothing else did.

use crate::domain::{
    Cloud, CloudError, ComplianceTag, Endpoint, Intent, MissingField, Region, Requirements,
};
use regex::{Captures, Regex};
use std::fmt;
use std::sync::LazyLock;

/// Longest request the parser reads; chat adapters refuse longer ones before.
pub const MAX_REQUEST_BYTES: usize = 4096;
/// Highest latency bound accepted (10 s): anything above is a typo, not a requirement.
pub(crate) const MAX_LATENCY_MS: f64 = 10_000.0;
/// Highest monthly traffic accepted (1 EB/month): anything above is a typo.
pub(crate) const MAX_MONTHLY_TRAFFIC_GB: f64 = 1e9;

const EXAMPLE: &str =
    "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb in East US, 500 GB/month";

/// Which end of a request a message is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    Source,
    Destination,
}

impl Side {
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Source => "source",
            Side::Destination => "destination",
        }
    }
}

impl fmt::Display for Side {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Why a text could not be read as a connectivity request. Every message is
/// written for the person who typed the text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ParseError {
    #[error("the request is empty: say what to connect, e.g. '{}'", EXAMPLE)]
    Empty,
    #[error("the request is {len} bytes long; the limit is {max} bytes, please shorten it")]
    TooLong { len: usize, max: usize },
    #[error(
        "the request contains a control character (U+{code:04X}) at character {position}; \
         please send plain text"
    )]
    ControlCharacter { position: usize, code: u32 },
    #[error("this does not look like a connectivity request: {hint}")]
    NotARequest { hint: String },
    #[error("unknown cloud '{0}': switchboard works with aws, azure, gcp and onprem")]
    UnknownCloud(String),
    #[error("{}", unknown_region_message(.side, .cloud, .given, .hint))]
    UnknownRegion {
        side: Side,
        /// The cloud the region was checked against; `None` when the text named
        /// no cloud and no cloud knows the region.
        cloud: Option<Cloud>,
        given: String,
        /// The cloud's known regions, as ` (known: …)`.
        hint: String,
    },
    #[error("the {side} names two clouds, {first} and {second}: which one is it?")]
    ConflictingClouds {
        side: Side,
        first: Cloud,
        second: Cloud,
    },
    #[error("{what} '{given}' is not plausible: {expected}")]
    ImplausibleQuantity {
        what: &'static str,
        given: String,
        expected: &'static str,
    },
}

fn unknown_region_message(side: &Side, cloud: &Option<Cloud>, given: &str, hint: &str) -> String {
    match cloud {
        Some(Cloud::Onprem) => {
            format!("the {side} names data centre '{given}', which is not a usable name")
        }
        Some(c) => format!("the {side} names {c} region '{given}', which {c} does not have{hint}"),
        None => {
            format!("the {side} names region '{given}', which is not a region of aws, azure or gcp")
        }
    }
}

/// Parses free text into an [`Intent`].
///
/// Returns `Err` only when the text is not a connectivity request at all (empty,
/// longer than [`MAX_REQUEST_BYTES`], control characters, no "to"/"and" between two
/// ends, nothing recognisable in it), names a cloud or region that does not exist
/// ("aws … us-east-9", "azure … us-east-1", "oracle cloud"), names two clouds for
/// one end, or states an impossible quantity (negative traffic, 0 ms latency).
/// Incomplete but recognisable requests return `Ok` with `missing` filled.
pub fn parse_request(text: &str) -> Result<Intent, ParseError> {
    check_plain_text(text)?;
    let extracted = extract_requirements(text)?;
    let ordered = source_first(&extracted.rest);
    let (rest, labelled) = take_labelled_pieces(&ordered);
    let ends = split_ends(&rest, !labelled.is_empty())?;
    let (source_text, destination_text) =
        place_trailing_locations(ends.source, ends.destination, &ends.trailing)?;
    let mut source = read_endpoint(Side::Source, &source_text)?;
    let mut destination = read_endpoint(Side::Destination, &destination_text)?;
    for (side, piece) in &labelled {
        let read = read_endpoint(*side, piece)?;
        match side {
            Side::Source => source = merge_labelled(*side, source, read)?,
            Side::Destination => destination = merge_labelled(*side, destination, read)?,
        }
    }

    let recognised = source.recognised || destination.recognised;
    let anything = !is_blank(&source.endpoint) || !is_blank(&destination.endpoint);
    if !(recognised || (ends.saw_verb && anything)) {
        return Err(ParseError::NotARequest {
            hint: format!(
                "I found no cloud, region, service or resource name in it; try e.g. '{EXAMPLE}'"
            ),
        });
    }

    let mut intent = Intent {
        source: source.endpoint,
        destination: destination.endpoint,
        requirements: extracted.requirements,
        compliance: extracted.compliance,
        missing: Vec::new(),
    };
    intent.missing = missing_fields(&intent);
    Ok(intent)
}

/// What a clarifying question would still have to ask, sorted and deduplicated.
/// An end that says nothing at all is missing as a whole; otherwise its cloud and
/// region are missing separately.
pub(crate) fn missing_fields(intent: &Intent) -> Vec<MissingField> {
    let mut missing = Vec::new();
    let ends = [
        (
            &intent.source,
            MissingField::Source,
            MissingField::SourceCloud,
            MissingField::SourceRegion,
        ),
        (
            &intent.destination,
            MissingField::Destination,
            MissingField::DestinationCloud,
            MissingField::DestinationRegion,
        ),
    ];
    for (end, whole, cloud, region) in ends {
        if is_blank(end) {
            missing.push(whole);
            continue;
        }
        if end.cloud.is_none() {
            missing.push(cloud);
        }
        if end.region.is_none() {
            missing.push(region);
        }
    }
    if intent.requirements.monthly_traffic_gb.is_none() {
        missing.push(MissingField::MonthlyTraffic);
    }
    missing.sort();
    missing.dedup();
    missing
}

pub(crate) fn is_blank(end: &Endpoint) -> bool {
    end.cloud.is_none()
        && end.region.is_none()
        && end.service.is_none()
        && end.identifier.is_none()
        && end.resolved.is_none()
}

// ---------------------------------------------------------------------------
// Pass 0: size and characters

fn check_plain_text(text: &str) -> Result<(), ParseError> {
    if text.len() > MAX_REQUEST_BYTES {
        return Err(ParseError::TooLong {
            len: text.len(),
            max: MAX_REQUEST_BYTES,
        });
    }
    if let Some((position, c)) = text
        .chars()
        .enumerate()
        .find(|(_, c)| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
    {
        return Err(ParseError::ControlCharacter {
            position: position + 1,
            code: u32::from(c),
        });
    }
    if text.trim().is_empty() {
        return Err(ParseError::Empty);
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Pass 1: requirements

static TRAFFIC_PER_MONTH: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:(?:about|around|approx(?:imately|\.)?|roughly|circa|~|≈|up\s+to|at\s+most|max(?:imum)?|estimated|est\.?|expected|peak)\s*)?(?:(?P<lo>\d[\d.,]*)\s*(?:-|–|to)\s*)?(?P<neg>-|−)?(?P<num>\d[\d.,]*)\s*(?P<unit>kb|mb|gb|tb|pb|kib|mib|gib|tib|pib|kilobytes?|megabytes?|gigabytes?|terabytes?|petabytes?)\s*(?:of\s+)?(?:(?:data|traffic|egress|transfer)\s+)?(?:/\s*(?:month|mo|mon|mth)\b|per\s+month\b|(?:a|an|each|every)\s+month\b|monthly\b)",
    )
});

static TRAFFIC_LABELLED: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:monthly\s+)?(?:traffic|volume|transfer|egress|data\s+transfer)\s*(?:of|:|=|is|~|about|around|approx(?:imately|\.)?)?\s*(?:(?P<lo>\d[\d.,]*)\s*(?:-|–|to)\s*)?(?P<neg>-|−)?(?P<num>\d[\d.,]*)\s*(?P<unit>kb|mb|gb|tb|pb|kib|mib|gib|tib|pib|kilobytes?|megabytes?|gigabytes?|terabytes?|petabytes?)\b",
    )
});

static LATENCY: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:(?P<kw>latency|rtt|round[\s-]?trip(?:\s+time)?|ping|response\s+time)\s*(?:of|:|=|is|should\s+be|must\s+be|needs\s+to\s+be|needed|required)?\s*)?(?:(?P<cmp>under|below|less\s+than|lower\s+than|within|max(?:imum)?|at\s+most|up\s+to|no\s+more\s+than|not\s+more\s+than|not\s+above|not\s+over|<=|=<|<|≤|sub|~|≈|about|around|approx(?:imately|\.)?)[\s-]*)?(?:(?P<lo>\d[\d.,]*)\s*(?:-|–|to)\s*)?(?P<neg>-|−)?(?P<num>\d[\d.,]*)\s*(?P<unit>ms|msecs?|millis|milliseconds?|s|secs?|seconds?)\b(?:\s+(?P<kw2>latency|rtt|round[\s-]?trip))?",
    )
});

static COMPLIANCE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?P<tag>pci(?:[\s-]*dss)?|hipaa|soc[\s-]*(?:2|ii|two)(?:[\s-]*type[\s-]*(?:2|ii|1|i))?|gdpr)(?:[\s-]*(?:compliant|compliance|compliancy|regulated|scoped|scope|data|required))?",
    )
});

static ENCRYPTION: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?P<neg>(?:no|not|without|non|un)[\s-]+)?(?:end[\s-]*to[\s-]*end\s+)?(?:encrypted|encryption|encrypt|tls(?:\s*v?1\.[0-3])?|ssl|mtls|ipsec|secure(?:ly|d)?|e2ee)(?:\s+in\s+transit)?",
    )
});

static PRIVATE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)private(?:[\s-]*only)?|(?:no|not\s+over|not\s+via|not\s+through|not\s+across|never\s+over|never\s+via|without|avoid(?:ing)?)\s+(?:the\s+)?(?:public\s+)?internet|off[\s-]+(?:the[\s-]+)?internet|no\s+public\s+(?:ips?|endpoints?|exposure|routing)",
    )
});

/// Words that carry no value the intent can hold but must not become names.
static FILLER: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)requirements?\s*:?|reqs\s*:?|(?:low|lowest|minimal|minimum|good)[\s-]+latency|cost[\s-]*(?:optimi[sz]ed|effective|efficient|sensitive|conscious)|cheap(?:est|ly)?|highly[\s-]+available|high[\s-]+availability|redundant|fault[\s-]+tolerant",
    )
});

fn compile(pattern: &str) -> Regex {
    // The patterns are constants of this file, pinned by `constant_patterns_compile`.
    Regex::new(pattern).expect("constant regex compiles")
}

struct Extracted {
    requirements: Requirements,
    compliance: Vec<ComplianceTag>,
    /// The text with every requirement cut out (each cut leaves " ; ").
    rest: String,
}

fn extract_requirements(text: &str) -> Result<Extracted, ParseError> {
    let mut spans: Vec<(usize, usize)> = Vec::new();
    let mut req = Requirements::default();
    let mut compliance = Vec::new();
    let mut encryption_said = None;

    // Traffic first: "up to 2 TB/month" holds a "to" the direction split must not see.
    for re in [&*TRAFFIC_PER_MONTH, &*TRAFFIC_LABELLED] {
        for caps in matches(re, text, &spans) {
            let gb = traffic_gb(&caps)?;
            req.monthly_traffic_gb.get_or_insert(gb);
            claim(&mut spans, &caps);
        }
    }
    for caps in matches(&LATENCY, text, &spans) {
        let Some(ms) = latency_ms(&caps)? else {
            continue;
        };
        req.max_latency_ms.get_or_insert(ms);
        claim(&mut spans, &caps);
    }
    for caps in matches(&COMPLIANCE, text, &spans) {
        if let Some(tag) = caps.name("tag").map(|m| compliance_tag(m.as_str())) {
            compliance.push(tag);
        }
        claim(&mut spans, &caps);
    }
    for caps in matches(&ENCRYPTION, text, &spans) {
        // "no encryption needed" is consumed but asks for nothing.
        let wanted = caps.name("neg").is_none();
        encryption_said = Some(encryption_said.unwrap_or(false) || wanted);
        claim(&mut spans, &caps);
    }
    for caps in matches(&PRIVATE, text, &spans) {
        req.private_only = true;
        claim(&mut spans, &caps);
    }
    for caps in matches(&FILLER, text, &spans) {
        claim(&mut spans, &caps);
    }
    req.encryption = encryption_said.unwrap_or(false);
    compliance.sort();
    compliance.dedup();

    spans.sort_unstable();
    let mut rest = String::with_capacity(text.len() + 3 * spans.len());
    let mut at = 0;
    for (start, end) in spans {
        rest.push_str(&text[at..start]);
        rest.push_str(" ; ");
        at = end;
    }
    rest.push_str(&text[at..]);
    Ok(Extracted {
        requirements: req,
        compliance,
        rest,
    })
}

/// Matches of `re` that stand alone (not inside a name like `pci-orders.example.com`)
/// and do not overlap text an earlier pattern already claimed.
fn matches<'t>(re: &Regex, text: &'t str, claimed: &[(usize, usize)]) -> Vec<Captures<'t>> {
    re.captures_iter(text)
        .filter(|caps| {
            caps.get(0).is_some_and(|m| {
                !m.is_empty()
                    && standalone(text, m.start(), m.end())
                    && !claimed.iter().any(|&(s, e)| m.start() < e && s < m.end())
            })
        })
        .collect()
}

fn claim(spans: &mut Vec<(usize, usize)>, caps: &Captures<'_>) {
    if let Some(m) = caps.get(0) {
        spans.push((m.start(), m.end()));
    }
}

fn is_word_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Characters that join the parts of one name: `orderdb.database`, `arn:aws`, `a-b`.
fn is_joiner(c: char) -> bool {
    matches!(c, '-' | '.' | ':' | '/' | '@')
}

/// Whether `text[start..end]` is a whole word or phrase rather than part of a name.
fn standalone(text: &str, start: usize, end: usize) -> bool {
    let mut before = text[..start].chars().rev();
    let ok_before = match (before.next(), before.next()) {
        (Some(c), _) if is_word_char(c) => false,
        (Some(c), Some(d)) if is_joiner(c) && is_word_char(d) => false,
        _ => true,
    };
    let mut after = text[end..].chars();
    let ok_after = match (after.next(), after.next()) {
        (Some(c), _) if is_word_char(c) => false,
        (Some(c), Some(d)) if is_joiner(c) && is_word_char(d) => false,
        _ => true,
    };
    ok_before && ok_after
}

/// Reads "1,500", "1.5", "1,5" (a decimal comma) and "1,000.5". `None` for
/// anything else, including numbers too long to mean anything.
fn parse_number(raw: &str) -> Option<f64> {
    let s = raw.trim_end_matches(['.', ',']);
    if s.is_empty() || s.len() > 24 {
        return None;
    }
    let normalised = if s.contains('.') && s.contains(',') {
        s.replace(',', "")
    } else if s.contains(',') {
        let groups: Vec<&str> = s.split(',').collect();
        let thousands = groups.len() > 1
            && groups.first().is_some_and(|g| (1..=3).contains(&g.len()))
            && groups.iter().skip(1).all(|g| g.len() == 3);
        if thousands {
            s.replace(',', "")
        } else if groups.len() == 2 {
            s.replace(',', ".")
        } else {
            return None;
        }
    } else {
        s.to_string()
    };
    normalised.parse::<f64>().ok().filter(|v| v.is_finite())
}

fn shown(caps: &Captures<'_>) -> String {
    caps.get(0)
        .map(|m| m.as_str().trim().chars().take(60).collect())
        .unwrap_or_default()
}

/// The upper end of "400-500", or the one number given.
fn quantity(caps: &Captures<'_>) -> Option<f64> {
    let num = parse_number(caps.name("num")?.as_str())?;
    match caps.name("lo") {
        Some(lo) => parse_number(lo.as_str()).map(|lo| lo.max(num)),
        None => Some(num),
    }
}

/// GB per month. Decimal units are powers of 1000 (1 TB = 1000 GB); binary units
/// are converted exactly (1 GiB = 1.073741824 GB, 1 TiB = 1099.511627776 GB).
fn traffic_gb(caps: &Captures<'_>) -> Result<f64, ParseError> {
    let implausible = || ParseError::ImplausibleQuantity {
        what: "monthly traffic",
        given: shown(caps),
        expected: "give a volume between 0 and 1,000,000,000 GB a month, e.g. '500 GB/month'",
    };
    let value = quantity(caps).ok_or_else(implausible)?;
    let unit = caps
        .name("unit")
        .map(|m| m.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    let factor = match unit.as_str() {
        "kb" | "kilobyte" | "kilobytes" => 1e-6,
        "mb" | "megabyte" | "megabytes" => 1e-3,
        "gb" | "gigabyte" | "gigabytes" => 1.0,
        "tb" | "terabyte" | "terabytes" => 1e3,
        "pb" | "petabyte" | "petabytes" => 1e6,
        "kib" => 1024.0 / 1e9,
        "mib" => 1_048_576.0 / 1e9,
        "gib" => 1.073_741_824,
        "tib" => 1_099.511_627_776,
        "pib" => 1_125_899.906_842_624,
        _ => return Err(implausible()),
    };
    let gb = value * factor;
    if caps.name("neg").is_some() || !gb.is_finite() || gb > MAX_MONTHLY_TRAFFIC_GB {
        return Err(implausible());
    }
    Ok(gb)
}

/// Milliseconds, or `None` when the match is a bare number of seconds with no
/// word saying it is a latency ("5 s" alone means nothing).
fn latency_ms(caps: &Captures<'_>) -> Result<Option<f64>, ParseError> {
    let implausible = || ParseError::ImplausibleQuantity {
        what: "latency",
        given: shown(caps),
        expected: "give a bound above 0 and at most 10000 ms, e.g. 'under 20 ms'",
    };
    let unit = caps
        .name("unit")
        .map(|m| m.as_str().to_ascii_lowercase())
        .unwrap_or_default();
    let seconds = !unit.starts_with('m');
    let said_latency =
        caps.name("kw").is_some() || caps.name("kw2").is_some() || caps.name("cmp").is_some();
    if seconds && !said_latency {
        return Ok(None);
    }
    let value = quantity(caps).ok_or_else(implausible)?;
    let ms = if seconds { value * 1000.0 } else { value };
    if caps.name("neg").is_some() || !ms.is_finite() || ms <= 0.0 || ms > MAX_LATENCY_MS {
        return Err(implausible());
    }
    Ok(Some(ms))
}

fn compliance_tag(matched: &str) -> ComplianceTag {
    let lower = matched.to_ascii_lowercase();
    if lower.starts_with("pci") {
        ComplianceTag::PciDss
    } else if lower.starts_with("hipaa") {
        ComplianceTag::Hipaa
    } else if lower.starts_with("soc") {
        ComplianceTag::Soc2
    } else {
        ComplianceTag::Gdpr
    }
}

// ---------------------------------------------------------------------------
// Pass 1b: destination-first and passive phrasings

/// Phrasings that name the destination first or put the source after
/// "from", each with where its source (`y`) and destination (`x`) are:
/// rewritten to "connect <y> to <x>" before the ends are split.
static DESTINATION_FIRST: LazyLock<Vec<Regex>> = LazyLock::new(|| {
    const LEAD: &str = r"(?i)^\W*(?:(?:hi|hey|hello|please|pls|kindly|can\s+you|could\s+you|would\s+you|we\s+need\s+to|i\s+need\s+to)[\s,]+)*";
    [
        // "X should be reachable from Y", "make X accessible from Y"
        r"(?:make\s+)?(?P<x>.+?)\s+(?:should|must|needs?\s+to|has\s+to|have\s+to|has\s+got\s+to|to|is\s+to)\s+be\s+(?:reachable|accessible|available|reached|accessed|opened|open|exposed)\s+(?:from|to|for|by)\s+(?P<y>.+)$",
        r"make\s+(?P<x>.+?)\s+(?:reachable|accessible|available)\s+(?:from|to|for|by)\s+(?P<y>.+)$",
        // "let Y reach X"
        r"let\s+(?P<y>.+?)\s+(?:reach|access|talk\s+to|connect\s+to|call|query|use|hit|get\s+to)\s+(?P<x>.+)$",
        // "give Y access to X", "grant Y access to X"
        r"(?:give|grant)\s+(?P<y>.+?)\s+(?:network\s+)?access\s+to\s+(?P<x>.+)$",
        // "Y needs access to X", "Y requires connectivity to X"
        r"(?P<y>.+?)\s+(?:needs?|requires?|wants?)\s+(?:network\s+)?(?:access|connectivity|a\s+connection|a\s+route|a\s+path)\s+to\s+(?P<x>.+)$",
        // "open X to Y", "expose X to Y"
        r"(?:open(?:\s+up)?|expose)\s+(?P<x>.+?)\s+to\s+(?P<y>.+)$",
        // "X should accept connections from Y", "allow connections to X from Y"
        r"(?P<x>.+?)\s+(?:should|must|needs?\s+to)\s+accept\s+(?:connections|traffic|requests)\s+from\s+(?P<y>.+)$",
        r"(?:allow|permit|enable)\s+(?:connections|traffic|access)\s+to\s+(?P<x>.+?)\s+from\s+(?P<y>.+)$",
        // "connect to X from Y", "reach X from Y"
        r"(?:connect\s+to|reach|access)\s+(?P<x>.+?)\s+from\s+(?P<y>.+)$",
    ]
    .iter()
    .map(|p| compile(&format!("{LEAD}{p}")))
    .collect()
});

/// Whether a would-be end is the link itself ("open a connection from A",
/// "a path between …"): then the text is source-first after all.
fn names_a_link(end: &str) -> bool {
    let lower = end.to_lowercase();
    let mut words = lower.split_whitespace().peekable();
    if words
        .peek()
        .is_some_and(|w| matches!(*w, "a" | "an" | "the" | "some" | "new"))
    {
        words.next();
    }
    words
        .next()
        .is_some_and(|w| CONNECTIVITY_NOUNS.contains(&w))
        || lower.contains(" from ")
        || lower.starts_with("from ")
        || lower.contains(" between ")
}

/// The text with its ends in source-then-destination order ("connect <y>
/// to <x>") when it is phrased destination first; as it is otherwise.
fn source_first(rest: &str) -> std::borrow::Cow<'_, str> {
    // One clause: what follows a line break or a sentence end is not part
    // of the phrasing.
    let clause_end = CLAUSE_END.find(rest).map_or(rest.len(), |m| m.start());
    let (clause, tail) = rest.split_at(clause_end);
    for pattern in DESTINATION_FIRST.iter() {
        let Some(caps) = pattern.captures(clause.trim_end()) else {
            continue;
        };
        let (Some(x), Some(y)) = (caps.name("x"), caps.name("y")) else {
            continue;
        };
        let (x, y) = (x.as_str().trim(), y.as_str().trim());
        if x.is_empty() || y.is_empty() || names_a_link(x) {
            continue;
        }
        return std::borrow::Cow::Owned(format!("connect {y} to {x}{tail}"));
    }
    std::borrow::Cow::Borrowed(rest)
}

// ---------------------------------------------------------------------------
// Pass 2: direction

/// "to" between the ends, with the verb phrases people wrap it in
/// ("needs to reach", "to talk to"), and arrows.
static TO_MARKER: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)(?:(?:needs?|should|must|wants?|has|have|can|could|will)\s+)?\bto\s+(?:talk|speak|communicate|connect|send(?:\s+data)?|reach|access|call|query|read(?:\s+from)?|write(?:\s+to)?|hit|invoke|use)\b(?:\s+(?:to|with|into)\b)?|\bto\b|-+>|→|⟶|⇒|=>",
    )
});

static AND_MARKER: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)\band\b|&"));
static WITH_MARKER: LazyLock<Regex> = LazyLock::new(|| compile(r"(?i)\bwith\b"));

/// Where the destination clause ends: a line break or the end of a sentence.
static CLAUSE_END: LazyLock<Regex> = LazyLock::new(|| compile(r"\n|[.!?](?:\s|$)"));

struct Ends<'a> {
    source: &'a str,
    destination: &'a str,
    /// Pieces after the destination that only say where something is
    /// ("…orderdb, in East US", or an answer "us-east-1" appended later).
    trailing: Vec<&'a str>,
    /// The text said "connect", "link", "between"… so it is meant as a request
    /// even when no word in it is a known cloud or service.
    saw_verb: bool,
}

/// Splits `rest` at the direction marker. `labelled` says the text also has
/// `source: …` / `destination: …` pieces, which make a request without a marker.
fn split_ends(rest: &str, labelled: bool) -> Result<Ends<'_>, ParseError> {
    let lead = lead_in(rest);
    let body = &rest[lead.end..];
    let marker = if lead.between {
        first_standalone(&AND_MARKER, body).or_else(|| first_standalone(&TO_MARKER, body))
    } else {
        first_standalone(&TO_MARKER, body)
            .or_else(|| first_standalone(&AND_MARKER, body))
            .or_else(|| {
                lead.saw_verb
                    .then(|| first_standalone(&WITH_MARKER, body))
                    .flatten()
            })
    };
    let Some((start, end)) = marker else {
        if labelled {
            return Ok(Ends {
                source: "",
                destination: "",
                trailing: Vec::new(),
                saw_verb: true,
            });
        }
        return Err(ParseError::NotARequest {
            hint: format!(
                "I could not tell the two ends apart; write it as 'connect <source> to \
                 <destination>', e.g. '{EXAMPLE}'"
            ),
        });
    };
    let (destination, trailing) = destination_clause(&body[end..]);
    // An arrow is as deliberate as "connect": "OrderProcessor → orderdb" is a request.
    let arrow = body[start..end].starts_with(['-', '=', '→', '⟶', '⇒']);
    Ok(Ends {
        source: &body[..start],
        destination,
        trailing,
        saw_verb: lead.saw_verb || arrow,
    })
}

fn first_standalone(re: &Regex, text: &str) -> Option<(usize, usize)> {
    re.find_iter(text)
        .find(|m| {
            standalone(text, m.start(), m.end()) || !m.as_str().starts_with(char::is_alphanumeric)
        })
        .map(|m| (m.start(), m.end()))
}

struct LeadIn {
    end: usize,
    saw_verb: bool,
    between: bool,
}

#[rustfmt::skip]
const VERBS: &[&str] = &[
    "connect", "connecting", "link", "peer", "hook", "wire", "set", "setup", "establish",
    "create", "open", "enable", "allow", "permit", "provision", "add", "request", "route",
    "build", "make", "get", "configure", "bridge", "join",
];
#[rustfmt::skip]
const CONNECTIVITY_NOUNS: &[&str] = &[
    "connectivity", "connection", "connections", "link", "links", "path", "paths", "routes",
    "access", "tunnel", "tunnels", "peering", "circuit", "circuits",
];
#[rustfmt::skip]
const LEAD_FILLERS: &[&str] = &[
    "hi", "hey", "hello", "yo", "ok", "okay", "please", "pls", "plz", "kindly", "switchboard",
    "bot", "team", "folks", "all", "can", "could", "would", "will", "you", "u", "we", "i",
    "i'd", "we'd", "i'm", "we're", "am", "are", "is", "like", "love", "need", "needs", "want",
    "wants", "require", "requires", "required", "wish", "looking", "trying", "hoping", "help",
    "me", "us", "let", "let's", "lets", "a", "an", "the", "some", "new", "up", "dedicated",
    "traffic", "for", "also", "just", "quickly", "now", "asap", "urgently", "there", "be",
    "able", "so", "go", "ahead", "and",
];

/// Skips "hey switchboard, could you please set up a connection from" and notes
/// whether a connect verb or "between" was among it.
fn lead_in(text: &str) -> LeadIn {
    let mut lead = LeadIn {
        end: 0,
        saw_verb: false,
        between: false,
    };
    let mut pos = 0;
    loop {
        let start = skip_separators(text, pos);
        let (word, end) = next_word(text, start);
        if word.is_empty() {
            lead.end = start;
            return lead;
        }
        let lower = word.trim_end_matches('.').to_lowercase();
        let lower = lower.as_str();
        if lower == "to" {
            // "I need to connect…": an infinitive, not the direction marker.
            let (next, next_end) = next_word(text, skip_separators(text, end));
            if VERBS.contains(&next.to_lowercase().as_str()) {
                lead.saw_verb = true;
                pos = next_end;
                continue;
            }
            lead.end = start;
            return lead;
        } else if VERBS.contains(&lower) || CONNECTIVITY_NOUNS.contains(&lower) || lower == "from" {
            lead.saw_verb = true;
        } else if lower == "between" {
            lead.saw_verb = true;
            lead.between = true;
        } else if !LEAD_FILLERS.contains(&lower) {
            lead.end = start;
            return lead;
        }
        pos = end;
    }
}

fn skip_separators(text: &str, from: usize) -> usize {
    text[from..]
        .char_indices()
        .find(|&(_, c)| !(c.is_whitespace() || ",;:!?()".contains(c)))
        .map_or(text.len(), |(i, _)| from + i)
}

fn next_word(text: &str, from: usize) -> (&str, usize) {
    let end = text[from..]
        .char_indices()
        .find(|&(_, c)| c.is_whitespace() || ",;:!?()[]\"".contains(c))
        .map_or(text.len(), |(i, _)| from + i);
    (&text[from..end], end)
}

/// The destination runs to the end of its sentence or line and to the first comma
/// or `;` (a cut requirement leaves one). Later pieces that only say where
/// something is come back separately, for [`place_trailing_locations`].
fn destination_clause(after_marker: &str) -> (&str, Vec<&str>) {
    let sentence = CLAUSE_END
        .find_iter(after_marker)
        .find(|m| after_marker[..m.start()].chars().any(char::is_alphanumeric))
        .map_or(after_marker, |m| &after_marker[..m.start()]);
    let mut pieces = sentence.split([',', ';']).filter(|p| !p.trim().is_empty());
    let first = pieces.next().unwrap_or_default();
    (first, pieces.filter(|p| is_location_only(p)).collect())
}

/// Gives each trailing location piece to the end it completes: the destination
/// when it adds a cloud or region the destination lacks and fits it, else the
/// source on the same terms ("…to azure sql orderdb in eastus, us-east-1" can
/// only be the source's region). A piece neither end can take is the
/// destination's, so an impossible region is still reported.
fn place_trailing_locations(
    source: &str,
    destination: &str,
    trailing: &[&str],
) -> Result<(String, String), ParseError> {
    let mut source = source.to_string();
    let mut destination = destination.to_string();
    for piece in trailing {
        let with_destination = format!("{destination} , {piece}");
        let dest_try = read_endpoint(Side::Destination, &with_destination);
        if gains(Side::Destination, &destination, &dest_try) {
            destination = with_destination;
            continue;
        }
        let with_source = format!("{source} , {piece}");
        let source_try = read_endpoint(Side::Source, &with_source);
        if gains(Side::Source, &source, &source_try) {
            source = with_source;
            continue;
        }
        // A repeat of what an end already says is harmless; only a piece that
        // fits neither end is an error.
        if source_try.is_err() {
            dest_try?;
        }
    }
    Ok((source, destination))
}

fn gains(side: Side, before: &str, after: &Result<ReadEnd, ParseError>) -> bool {
    let (Ok(before), Ok(after)) = (read_endpoint(side, before), after) else {
        return false;
    };
    (before.endpoint.cloud.is_none() && after.endpoint.cloud.is_some())
        || (before.endpoint.region.is_none() && after.endpoint.region.is_some())
}

static LABEL: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"(?i)^\s*(?:the\s+)?(?P<label>source|src|origin|destination|dest|dst|target)\b(?:\s+side\b)?\s*(?:is\b|:|=)?",
    )
});
static PIECE: LazyLock<Regex> = LazyLock::new(|| compile(r"[^,;\n]+"));

/// Takes out pieces written as `source: aws lambda X`, `destination region: East
/// US`, `the source is OrderProcessor` (how answers to clarifying questions can
/// name their end), leaving ` ; ` where each was.
fn take_labelled_pieces(rest: &str) -> (String, Vec<(Side, String)>) {
    let mut labelled = Vec::new();
    let mut kept = String::with_capacity(rest.len());
    let mut at = 0;
    for piece in PIECE.find_iter(rest) {
        let Some(caps) = LABEL.captures(piece.as_str()) else {
            continue;
        };
        let (Some(whole), Some(label)) = (caps.get(0), caps.name("label")) else {
            continue;
        };
        let content = &piece.as_str()[whole.end()..];
        if first_standalone(&TO_MARKER, content).is_some() {
            continue; // "source aws lambda X to …" is the request itself.
        }
        let side = match label.as_str().to_ascii_lowercase().as_str() {
            "source" | "src" | "origin" => Side::Source,
            _ => Side::Destination,
        };
        labelled.push((side, content.to_string()));
        kept.push_str(&rest[at..piece.start()]);
        kept.push_str(" ; ");
        at = piece.end();
    }
    kept.push_str(&rest[at..]);
    (kept, labelled)
}

/// A labelled piece corrects or completes its end: what it names wins, and a
/// cloud that contradicts the one already given is an error, not a guess.
fn merge_labelled(side: Side, main: ReadEnd, piece: ReadEnd) -> Result<ReadEnd, ParseError> {
    let (m, p) = (main.endpoint, piece.endpoint);
    let cloud = match (m.cloud, p.cloud) {
        (Some(first), Some(second)) if first != second => {
            return Err(ParseError::ConflictingClouds {
                side,
                first,
                second,
            })
        }
        (first, second) => second.or(first),
    };
    Ok(ReadEnd {
        endpoint: Endpoint {
            cloud,
            region: p.region.or(m.region),
            service: p.service.or(m.service),
            identifier: p.identifier.or(m.identifier),
            resolved: None,
        },
        recognised: main.recognised || piece.recognised,
    })
}

fn is_location_only(piece: &str) -> bool {
    let Ok(draft) = scan(&tokenize(piece)) else {
        return false;
    };
    draft.service.is_none()
        && draft.weak_service.is_none()
        && draft.explicit_id.is_none()
        && draft.strong_id.is_none()
        && draft.candidates.is_empty()
        && (!draft.regions.is_empty() || !draft.clouds.is_empty() || !draft.places.is_empty())
}

// ---------------------------------------------------------------------------
// Pass 3: endpoints

#[derive(Debug, Clone)]
struct Token {
    raw: String,
    lower: String,
    /// Written as a key: `cloud: azure`, `region=eastus`, `function: X`.
    keyed: bool,
}

fn tokenize(clause: &str) -> Vec<Token> {
    let mut tokens: Vec<Token> = Vec::new();
    for piece in clause.split(|c: char| c.is_whitespace() || c == ',' || c == ';') {
        let mut parts = piece.split('=').peekable();
        while let Some(part) = parts.next() {
            let keyed_by_equals = parts.peek().is_some();
            let opened = part.trim_start_matches(['(', '[', '{', '"', '\'', '<', '`', '*']);
            let core = opened
                .trim_end_matches([')', ']', '}', '"', '\'', '>', '`', '.', '!', '?', ':', '*']);
            let keyed = keyed_by_equals || opened[core.len()..].contains(':');
            if core.is_empty() {
                if keyed {
                    if let Some(last) = tokens.last_mut() {
                        last.keyed = true;
                    }
                }
                continue;
            }
            tokens.push(Token {
                raw: core.to_string(),
                lower: core.to_lowercase(),
                keyed,
            });
        }
    }
    tokens
}

/// A service word as written; some only become an estate kind once the cloud is known.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ServiceWord {
    Kind(&'static str),
    /// "sql": Azure SQL, Cloud SQL, RDS or SQL Server depending on the cloud.
    Sql,
    /// "sql server": the on-prem product unless the cloud says otherwise.
    SqlServer,
    /// "machine learning", "ml": Azure ML unless GCP (Vertex AI) or AWS (SageMaker).
    MachineLearning,
}

impl ServiceWord {
    fn kind(self, cloud: Option<Cloud>) -> &'static str {
        match (self, cloud) {
            (ServiceWord::Kind(kind), _) => kind,
            (ServiceWord::Sql | ServiceWord::SqlServer, Some(Cloud::Azure)) => "sql",
            (ServiceWord::Sql | ServiceWord::SqlServer, Some(Cloud::Gcp)) => "cloud_sql",
            (ServiceWord::Sql | ServiceWord::SqlServer, Some(Cloud::Aws)) => "rds",
            (ServiceWord::Sql | ServiceWord::SqlServer, Some(Cloud::Onprem)) => "sqlserver",
            (ServiceWord::Sql, None) => "sql",
            (ServiceWord::SqlServer, None) => "sqlserver",
            (ServiceWord::MachineLearning, Some(Cloud::Gcp)) => "vertex_ai",
            (ServiceWord::MachineLearning, Some(Cloud::Aws)) => "sagemaker",
            (ServiceWord::MachineLearning, _) => "azure_ml",
        }
    }
}

/// Service phrases, longest first so "sql server" wins over "sql".
const SERVICE_WORDS: &[(&[&str], ServiceWord)] = &[
    (&["data", "lake", "storage"], ServiceWord::Kind("data_lake")),
    (&["sql", "server"], ServiceWord::SqlServer),
    (&["sql", "database"], ServiceWord::Sql),
    (&["sql", "db"], ServiceWord::Sql),
    (&["cloud", "sql"], ServiceWord::Kind("cloud_sql")),
    (&["data", "lake"], ServiceWord::Kind("data_lake")),
    (&["machine", "learning"], ServiceWord::MachineLearning),
    (&["vertex", "ai"], ServiceWord::Kind("vertex_ai")),
    (&["big", "query"], ServiceWord::Kind("bigquery")),
    (&["dynamo", "db"], ServiceWord::Kind("dynamodb")),
    (&["oracle", "db"], ServiceWord::Kind("oracle")),
    (&["oracle", "database"], ServiceWord::Kind("oracle")),
    (&["event", "hubs"], ServiceWord::Kind("event_hubs")),
    (&["event", "hub"], ServiceWord::Kind("event_hubs")),
    (&["app", "service"], ServiceWord::Kind("app_service")),
    (&["sap", "hana"], ServiceWord::Kind("sap")),
    (&["sap", "erp"], ServiceWord::Kind("sap")),
    (&["lambda"], ServiceWord::Kind("lambda")),
    (&["ec2"], ServiceWord::Kind("ec2")),
    (&["ecs"], ServiceWord::Kind("ecs")),
    (&["eks"], ServiceWord::Kind("eks")),
    (&["rds"], ServiceWord::Kind("rds")),
    (&["dynamodb"], ServiceWord::Kind("dynamodb")),
    (&["s3"], ServiceWord::Kind("s3")),
    (&["cloudfront"], ServiceWord::Kind("cloudfront")),
    (&["sql"], ServiceWord::Sql),
    (&["sql-server"], ServiceWord::SqlServer),
    (&["sqlserver"], ServiceWord::Kind("sqlserver")),
    (&["mssql"], ServiceWord::Kind("sqlserver")),
    (&["synapse"], ServiceWord::Kind("synapse")),
    (&["datalake"], ServiceWord::Kind("data_lake")),
    (&["adls"], ServiceWord::Kind("data_lake")),
    (&["azureml"], ServiceWord::Kind("azure_ml")),
    (&["ml"], ServiceWord::MachineLearning),
    (&["aks"], ServiceWord::Kind("aks")),
    (&["vertex"], ServiceWord::Kind("vertex_ai")),
    (&["vertexai"], ServiceWord::Kind("vertex_ai")),
    (&["bigquery"], ServiceWord::Kind("bigquery")),
    (&["gke"], ServiceWord::Kind("gke")),
    (&["cloudsql"], ServiceWord::Kind("cloud_sql")),
    (&["sap"], ServiceWord::Kind("sap")),
    (&["erp"], ServiceWord::Kind("sap")),
    (&["oracle"], ServiceWord::Kind("oracle")),
    (&["kinesis"], ServiceWord::Kind("kinesis")),
    (&["eventhubs"], ServiceWord::Kind("event_hubs")),
    (&["memorystore"], ServiceWord::Kind("memorystore")),
];

/// The cloud a kind only exists in. Kinds that run anywhere (sql, sap, oracle,
/// sqlserver) name no cloud.
fn cloud_of_kind(kind: &str) -> Option<Cloud> {
    match kind {
        "lambda" | "ec2" | "ecs" | "eks" | "rds" | "dynamodb" | "s3" | "cloudfront"
        | "sagemaker" | "kinesis" => Some(Cloud::Aws),
        "synapse" | "data_lake" | "azure_ml" | "aks" | "event_hubs" | "app_service" => {
            Some(Cloud::Azure)
        }
        "vertex_ai" | "bigquery" | "gke" | "cloud_sql" | "memorystore" => Some(Cloud::Gcp),
        _ => None,
    }
}

const CLOUD_WORDS: &[(&[&str], Cloud)] = &[
    (&["amazon", "web", "services"], Cloud::Aws),
    (&["google", "cloud", "platform"], Cloud::Gcp),
    (&["microsoft", "azure"], Cloud::Azure),
    (&["google", "cloud"], Cloud::Gcp),
    (&["on", "premises"], Cloud::Onprem),
    (&["on", "premise"], Cloud::Onprem),
    (&["on", "prem"], Cloud::Onprem),
    (&["data", "center"], Cloud::Onprem),
    (&["data", "centre"], Cloud::Onprem),
    (&["aws"], Cloud::Aws),
    (&["amazon"], Cloud::Aws),
    (&["azure"], Cloud::Azure),
    (&["microsoft"], Cloud::Azure),
    (&["gcp"], Cloud::Gcp),
    (&["google"], Cloud::Gcp),
    (&["onprem"], Cloud::Onprem),
    (&["on-prem"], Cloud::Onprem),
    (&["on-premises"], Cloud::Onprem),
    (&["on-premise"], Cloud::Onprem),
    (&["onpremises"], Cloud::Onprem),
    (&["datacenter"], Cloud::Onprem),
    (&["datacentre"], Cloud::Onprem),
    (&["dc"], Cloud::Onprem),
];

/// Clouds people name that switchboard does not manage. Named on purpose
/// ("oracle cloud"), not guessed: "oracle" alone is the database.
const OTHER_CLOUDS: &[&[&str]] = &[
    &["oracle", "cloud"],
    &["ibm", "cloud"],
    &["alibaba", "cloud"],
    &["tencent", "cloud"],
    &["huawei", "cloud"],
    &["digital", "ocean"],
    &["oci"],
    &["alicloud"],
    &["aliyun"],
    &["digitalocean"],
    &["ovhcloud"],
    &["linode"],
    &["hetzner"],
];

/// Words that never name a service: articles, verbs, nouns like "server".
#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "in", "at", "on", "of", "the", "a", "an", "my", "our", "your", "their", "its", "this",
    "that", "these", "those", "to", "from", "between", "and", "with", "for", "by", "via",
    "over", "into", "onto", "inside", "within", "near", "thanks", "thank", "ty", "server",
    "servers", "function", "functions", "func", "database", "databases", "db", "instance",
    "instances", "service", "services", "cluster", "clusters", "bucket", "buckets", "table",
    "tables", "app", "apps", "application", "applications", "api", "endpoint", "workload",
    "system", "named", "called", "name", "id", "identifier", "located", "hosted", "running",
    "runs", "lives", "deployed", "which", "it", "being", "region", "regions", "zone", "cloud",
    "account", "subscription", "project", "network", "networks", "vpc", "vnet", "talk", "speak",
    "communicate", "reach", "call", "query", "send", "read", "write", "hit", "invoke", "use",
    "must", "should", "has", "have", "low", "latency", "cost", "optimized", "optimised",
    "cost-optimized", "cost-optimised", "fast", "fastest", "high", "availability", "highly",
    "available", "data", "existing", "prod", "production", "staging", "dev", "test", "side",
    "both", "any", "other", "here", "today", "web", "platform", "then", "etc", "instead",
    "something", "thing", "stuff", "workspace", "job", "microsoft", "source", "destination",
    "target", "src", "dst", "dest", "origin",
];

/// Nouns that may sit between a service word and its name ("lambda function X").
#[rustfmt::skip]
const NAME_PREFIXES: &[&str] = &[
    "server", "function", "instance", "database", "db", "cluster", "bucket", "table", "app",
    "service", "workspace", "account", "job", "endpoint", "api", "system", "the",
];

fn is_stopword(lower: &str) -> bool {
    STOPWORDS.contains(&lower)
        || LEAD_FILLERS.contains(&lower)
        || VERBS.contains(&lower)
        || CONNECTIVITY_NOUNS.contains(&lower)
}

#[derive(Debug, Clone)]
struct RegionMention {
    given: String,
}

/// What one clause said, before clouds and regions are checked against each other.
#[derive(Debug, Default)]
struct Draft {
    /// Clouds the text names in words; two different ones are an error.
    clouds: Vec<Cloud>,
    /// A cloud implied by an ARN, hostname or resource id.
    weak_cloud: Option<Cloud>,
    regions: Vec<RegionMention>,
    service: Option<ServiceWord>,
    service_span: Option<(usize, usize)>,
    /// A kind implied by an ARN or hostname.
    weak_service: Option<&'static str>,
    /// "named X", "function: X".
    explicit_id: Option<String>,
    /// ARNs, hostnames, resource ids.
    strong_id: Option<String>,
    /// Other name-like tokens with their positions.
    candidates: Vec<(usize, String)>,
    /// Unknown words right after "in"/"at": an on-prem data-centre name, or nothing.
    places: Vec<String>,
}

struct ReadEnd {
    endpoint: Endpoint,
    /// Something in the clause is certainly about infrastructure.
    recognised: bool,
}

fn read_endpoint(side: Side, clause: &str) -> Result<ReadEnd, ParseError> {
    let mut tokens = tokenize(clause);
    if side == Side::Source {
        // "hey there bot, pretty please connect X": the source starts after the
        // last connect verb the lead-in did not reach.
        if let Some(i) = tokens.iter().rposition(|t| {
            matches!(
                t.lower.as_str(),
                "connect" | "link" | "peer" | "allow" | "permit" | "between"
            )
        }) {
            tokens.drain(..=i);
        }
    }
    let draft = scan(&tokens)?;
    finish(side, draft, &tokens)
}

fn phrase_at(tokens: &[Token], i: usize, phrase: &[&str]) -> bool {
    tokens.len() >= i + phrase.len()
        && phrase
            .iter()
            .zip(&tokens[i..])
            .all(|(word, token)| token.lower == *word)
}

fn cloud_at(tokens: &[Token], i: usize) -> Option<(Cloud, usize)> {
    // "Microsoft SQL Server" is a product, not a claim about Azure.
    if tokens.get(i).is_some_and(|t| t.lower == "microsoft")
        && tokens
            .get(i + 1)
            .is_some_and(|t| t.lower.starts_with("sql"))
    {
        return None;
    }
    CLOUD_WORDS
        .iter()
        .find(|(phrase, _)| phrase_at(tokens, i, phrase))
        .map(|(phrase, cloud)| (*cloud, phrase.len()))
}

fn other_cloud_at(tokens: &[Token], i: usize) -> Option<String> {
    OTHER_CLOUDS
        .iter()
        .find(|phrase| phrase_at(tokens, i, phrase))
        .map(|phrase| phrase.join(" "))
}

fn service_at(tokens: &[Token], i: usize) -> Option<(ServiceWord, usize)> {
    SERVICE_WORDS
        .iter()
        .find(|(phrase, _)| phrase_at(tokens, i, phrase))
        .map(|(phrase, word)| (*word, phrase.len()))
}

/// A region written as one to three words ("us-east-1", "East US 2") that some
/// cloud knows.
fn region_at(tokens: &[Token], i: usize) -> Option<(String, usize)> {
    (1..=3).rev().find_map(|len| {
        let window = tokens.get(i..i + len)?;
        if !window.iter().all(|t| {
            t.lower
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-')
        }) {
            return None;
        }
        let joined = window
            .iter()
            .map(|t| t.lower.as_str())
            .collect::<Vec<_>>()
            .join(" ");
        (!Region::clouds_with(&joined).is_empty()).then_some((joined, len))
    })
}

static AWS_REGION_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^(?P<region>(?:us|eu|ap|sa|ca|me|af|il|mx|cn)-(?:gov-)?(?:east|west|north|south|central|northeast|southeast|northwest|southwest)-\d{1,2})[a-z]?$",
    )
});
static GCP_REGION_SHAPE: LazyLock<Regex> = LazyLock::new(|| {
    compile(
        r"^(?P<region>(?:us|europe|asia|australia|southamerica|northamerica|me|africa)-[a-z]+\d{1,2})(?:-[a-z])?$",
    )
});
static RESOURCE_ID: LazyLock<Regex> = LazyLock::new(|| {
    compile(r"^(?:i|vpc|subnet|sg|eni|vol|tgw|dx|dxcon|igw|nat|vgw|pcx|db|lb)-[0-9a-f]{8,17}$")
});

/// A token shaped like an AWS or GCP region (or an availability zone of one),
/// known or not: "us-east-9" is clearly meant as a region.
fn region_shaped(lower: &str) -> Option<(String, Cloud)> {
    if let Some(c) = AWS_REGION_SHAPE.captures(lower) {
        return c
            .name("region")
            .map(|m| (m.as_str().to_string(), Cloud::Aws));
    }
    GCP_REGION_SHAPE
        .captures(lower)
        .and_then(|c| c.name("region"))
        .map(|m| (m.as_str().to_string(), Cloud::Gcp))
}

fn dc_name(lower: &str) -> bool {
    lower.len() <= 4
        && lower.starts_with("dc")
        && lower.len() > 2
        && lower[2..].bytes().all(|b| b.is_ascii_digit())
}

/// `scheme://host:port/path` or a bare hostname → the hostname, lower-cased.
fn hostname(raw: &str) -> Option<String> {
    let without_scheme = raw.split_once("://").map_or(raw, |(_, rest)| rest);
    let host = without_scheme
        .split(['/', '?', '#'])
        .next()
        .unwrap_or_default();
    let host = host.rsplit_once(':').map_or(host, |(h, port)| {
        if port.bytes().all(|b| b.is_ascii_digit()) {
            h
        } else {
            host
        }
    });
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    if host.len() > 253 || host.contains('@') {
        return None;
    }
    let labels: Vec<&str> = host.split('.').collect();
    let tld = labels.last()?;
    let valid = labels.len() >= 2
        && tld.len() >= 2
        && tld.bytes().all(|b| b.is_ascii_lowercase())
        && labels.iter().all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !l.starts_with('-')
                && !l.ends_with('-')
        });
    valid.then_some(host)
}

/// What a hostname says about where it lives.
fn host_hints(host: &str) -> (Option<Cloud>, Option<&'static str>, Option<String>) {
    if host.ends_with(".database.windows.net") {
        (Some(Cloud::Azure), Some("sql"), None)
    } else if host.ends_with(".dfs.core.windows.net") {
        (Some(Cloud::Azure), Some("data_lake"), None)
    } else if [
        ".windows.net",
        ".azure.com",
        ".azure.net",
        ".azurewebsites.net",
    ]
    .iter()
    .any(|s| host.ends_with(s))
    {
        (Some(Cloud::Azure), None, None)
    } else if host.ends_with(".amazonaws.com") {
        let labels: Vec<&str> = host.split('.').collect();
        let region = labels
            .iter()
            .find(|l| Cloud::Aws.known_regions().contains(l))
            .map(|l| (*l).to_string());
        let kind = if labels.contains(&"rds") {
            Some("rds")
        } else if labels.iter().any(|l| l.starts_with("s3")) {
            Some("s3")
        } else if labels.contains(&"lambda-url") {
            Some("lambda")
        } else {
            None
        };
        (Some(Cloud::Aws), kind, region)
    } else if host.ends_with(".cloudfront.net") {
        (Some(Cloud::Aws), Some("cloudfront"), None)
    } else if host.ends_with(".googleapis.com") {
        (Some(Cloud::Gcp), None, None)
    } else {
        (None, None, None)
    }
}

/// A name the requester could mean: ASCII, starts with a letter or digit, has a letter.
fn name_like(raw: &str) -> bool {
    (1..=255).contains(&raw.len())
        && raw.starts_with(|c: char| c.is_ascii_alphanumeric())
        && raw.bytes().any(|b| b.is_ascii_alphabetic())
        && raw
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.:/@".contains(&b))
}

fn truncated(raw: &str) -> String {
    raw.chars().take(40).collect()
}

fn scan(tokens: &[Token]) -> Result<Draft, ParseError> {
    let mut d = Draft::default();
    let mut after_in = false;
    let mut expect_name = false;
    let mut i = 0;
    while let Some(t) = tokens.get(i) {
        let lower = t.lower.as_str();

        // `cloud: X` names a cloud on purpose, so an unknown X is an error.
        if t.keyed && matches!(lower, "cloud" | "provider") {
            match (cloud_at(tokens, i + 1), tokens.get(i + 1)) {
                (Some((cloud, len)), _) => {
                    d.clouds.push(cloud);
                    i += 1 + len;
                }
                (None, Some(next)) => {
                    let named =
                        other_cloud_at(tokens, i + 1).unwrap_or_else(|| truncated(&next.raw));
                    return Err(ParseError::UnknownCloud(named));
                }
                (None, None) => i += 1,
            }
            continue;
        }
        if let Some(named) = other_cloud_at(tokens, i) {
            return Err(ParseError::UnknownCloud(named));
        }
        if matches!(lower, "region" | "location" | "zone") {
            // "region eastus", "region: us-east-9": whatever follows is meant as a region.
            if let Some(next) = tokens.get(i + 1).filter(|n| !is_stopword(&n.lower)) {
                if cloud_at(tokens, i + 1).is_none() && service_at(tokens, i + 1).is_none() {
                    let (given, len) = region_at(tokens, i + 1)
                        .or_else(|| region_shaped(&next.lower).map(|(r, _)| (r, 1)))
                        .unwrap_or_else(|| (next.raw.clone(), 1));
                    d.regions.push(RegionMention { given });
                    i += 1 + len;
                    after_in = false;
                    continue;
                }
            }
            i += 1;
            continue;
        }
        if let Some((given, len)) = region_at(tokens, i) {
            d.regions.push(RegionMention { given });
            i += len;
            after_in = false;
            continue;
        }
        if let Some((given, _)) = region_shaped(lower) {
            d.regions.push(RegionMention { given });
            i += 1;
            after_in = false;
            continue;
        }
        if dc_name(lower) {
            d.clouds.push(Cloud::Onprem);
            d.regions.push(RegionMention {
                given: lower.to_string(),
            });
            i += 1;
            after_in = false;
            continue;
        }
        if let Some((cloud, len)) = cloud_at(tokens, i) {
            d.clouds.push(cloud);
            i += len;
            continue;
        }
        if lower.starts_with("arn:") {
            read_arn(&mut d, &t.raw);
            i += 1;
            continue;
        }
        if lower.starts_with("/subscriptions/") {
            d.weak_cloud.get_or_insert(Cloud::Azure);
            d.strong_id.get_or_insert_with(|| t.raw.clone());
            i += 1;
            continue;
        }
        if lower.starts_with("projects/") {
            read_gcp_resource(&mut d, &t.raw);
            i += 1;
            continue;
        }
        if RESOURCE_ID.is_match(lower) {
            d.weak_cloud.get_or_insert(Cloud::Aws);
            d.strong_id.get_or_insert_with(|| t.raw.clone());
            i += 1;
            continue;
        }
        if lower.contains('.') {
            if let Some(host) = hostname(&t.raw) {
                let (cloud, kind, region) = host_hints(&host);
                if let Some(cloud) = cloud {
                    d.weak_cloud.get_or_insert(cloud);
                }
                if let Some(kind) = kind {
                    d.weak_service.get_or_insert(kind);
                }
                if let Some(given) = region {
                    d.regions.push(RegionMention { given });
                }
                d.strong_id.get_or_insert(host);
                i += 1;
                continue;
            }
        }
        if let Some((word, len)) = service_at(tokens, i) {
            if d.service.is_none() {
                d.service = Some(word);
                d.service_span = Some((i, i + len));
            }
            i += len;
            continue;
        }
        if matches!(lower, "named" | "called")
            || (t.keyed
                && matches!(
                    lower,
                    "name"
                        | "id"
                        | "identifier"
                        | "server"
                        | "function"
                        | "host"
                        | "hostname"
                        | "database"
                        | "db"
                        | "instance"
                ))
        {
            expect_name = true;
            i += 1;
            continue;
        }
        if matches!(lower, "in" | "at" | "inside" | "within" | "near") {
            after_in = true;
            i += 1;
            continue;
        }
        if is_stopword(lower) {
            i += 1;
            continue;
        }
        if name_like(&t.raw) {
            if expect_name {
                d.explicit_id.get_or_insert_with(|| t.raw.clone());
                expect_name = false;
            } else if after_in {
                d.places.push(t.raw.clone());
                after_in = false;
            } else {
                d.candidates.push((i, t.raw.clone()));
            }
        }
        i += 1;
    }
    Ok(d)
}

/// `arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE`: the whole ARN is the
/// identifier; partition, service and region say where it lives.
fn read_arn(d: &mut Draft, raw: &str) {
    let parts: Vec<&str> = raw.splitn(6, ':').collect();
    if parts
        .get(1)
        .is_some_and(|p| p.to_ascii_lowercase().starts_with("aws"))
    {
        d.weak_cloud.get_or_insert(Cloud::Aws);
    }
    let kind = parts
        .get(2)
        .and_then(|s| match s.to_ascii_lowercase().as_str() {
            "lambda" => Some("lambda"),
            "rds" => Some("rds"),
            "dynamodb" => Some("dynamodb"),
            "s3" => Some("s3"),
            "ec2" => Some("ec2"),
            "ecs" => Some("ecs"),
            "eks" => Some("eks"),
            "cloudfront" => Some("cloudfront"),
            "sagemaker" => Some("sagemaker"),
            _ => None,
        });
    if let Some(kind) = kind {
        d.weak_service.get_or_insert(kind);
    }
    if let Some(region) = parts.get(3).filter(|r| !r.is_empty()) {
        d.regions.push(RegionMention {
            given: region.to_ascii_lowercase(),
        });
    }
    d.strong_id.get_or_insert_with(|| raw.to_string());
}

/// `projects/P/regions/R/...` or `.../locations/R/...`.
fn read_gcp_resource(d: &mut Draft, raw: &str) {
    d.weak_cloud.get_or_insert(Cloud::Gcp);
    let parts: Vec<&str> = raw.split('/').collect();
    if let Some(pos) = parts
        .iter()
        .position(|p| matches!(*p, "regions" | "locations" | "zones"))
    {
        if let Some((region, _)) = parts
            .get(pos + 1)
            .and_then(|r| region_shaped(&r.to_ascii_lowercase()))
        {
            d.regions.push(RegionMention { given: region });
        }
    }
    d.strong_id.get_or_insert_with(|| raw.to_string());
}

fn finish(side: Side, d: Draft, tokens: &[Token]) -> Result<ReadEnd, ParseError> {
    let mut clouds: Vec<Cloud> = Vec::new();
    for c in &d.clouds {
        if !clouds.contains(c) {
            clouds.push(*c);
        }
    }
    if let [first, second, ..] = clouds.as_slice() {
        return Err(ParseError::ConflictingClouds {
            side,
            first: *first,
            second: *second,
        });
    }
    // Words first, then a region only one cloud has, then ARN/hostname hints.
    let mut cloud = clouds.first().copied().or_else(|| {
        d.regions
            .iter()
            .find_map(|m| match Region::clouds_with(&m.given).as_slice() {
                [only] => Some(*only),
                _ => None,
            })
    });
    cloud = cloud.or(d.weak_cloud);

    let mut region = None;
    for mention in &d.regions {
        let checked_against = match cloud {
            Some(c) => c,
            None => match region_shaped(&mention.given) {
                Some((_, guess)) => guess,
                None => {
                    return Err(ParseError::UnknownRegion {
                        side,
                        cloud: None,
                        given: truncated(&mention.given),
                        hint: String::new(),
                    })
                }
            },
        };
        match Region::parse(checked_against, &mention.given) {
            Ok(r) => {
                region.get_or_insert(r.name);
            }
            Err(e) => return Err(unknown_region(side, checked_against, &mention.given, e)),
        }
    }
    if cloud == Some(Cloud::Onprem) && region.is_none() {
        region = d
            .places
            .first()
            .and_then(|p| Region::parse(Cloud::Onprem, p).ok())
            .map(|r| r.name);
    }

    let service = d.service.map(|w| w.kind(cloud)).or(d.weak_service);
    if cloud.is_none() {
        let fixed = match d.service {
            Some(ServiceWord::Kind(kind)) => Some(kind),
            Some(_) => None,
            None => d.weak_service,
        };
        cloud = fixed.and_then(cloud_of_kind);
    }

    let identifier = d
        .explicit_id
        .clone()
        .or_else(|| d.strong_id.clone())
        .or_else(|| name_near_service(&d, tokens));
    let recognised = cloud.is_some()
        || region.is_some()
        || service.is_some()
        || d.strong_id.is_some()
        || d.explicit_id.is_some();
    Ok(ReadEnd {
        endpoint: Endpoint {
            cloud,
            region,
            service: service.map(str::to_string),
            identifier,
            resolved: None,
        },
        recognised,
    })
}

/// "lambda OrderProcessor", "lambda function OrderProcessor", "OrderProcessor
/// lambda", or the one name in the clause.
fn name_near_service(d: &Draft, tokens: &[Token]) -> Option<String> {
    let at = |index: usize| {
        d.candidates
            .iter()
            .find(|(i, _)| *i == index)
            .map(|(_, raw)| raw.clone())
    };
    if let Some((start, end)) = d.service_span {
        let mut after = end;
        while tokens
            .get(after)
            .is_some_and(|t| NAME_PREFIXES.contains(&t.lower.as_str()))
        {
            after += 1;
        }
        if let Some(name) = at(after) {
            return Some(name);
        }
        if let Some(name) = start.checked_sub(1).and_then(at) {
            return Some(name);
        }
    }
    d.candidates.first().map(|(_, raw)| raw.clone())
}

fn unknown_region(side: Side, cloud: Cloud, given: &str, error: CloudError) -> ParseError {
    let hint = match error {
        CloudError::UnknownRegion { hint, .. } => hint,
        CloudError::UnknownCloud(_) => String::new(),
    };
    ParseError::UnknownRegion {
        side,
        cloud: Some(cloud),
        given: truncated(given),
        hint,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const FLAGSHIP: &str = "connect aws lambda OrderProcessor in us-east-1 to azure sql \
        orderdb.database.windows.net in East US, PCI-DSS, encrypted, under 20ms, 500 GB/month";
    const CHAPTER: &str = "Connect AWS Lambda arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor \
        to Azure SQL server: orderdb.database.windows.net Requirements: Low latency (<20ms), secure, cost-optimized";

    fn parse(text: &str) -> Intent {
        match parse_request(text) {
            Ok(intent) => intent,
            Err(e) => panic!("'{text}' should parse, got: {e}"),
        }
    }

    fn refuse(text: &str) -> ParseError {
        match parse_request(text) {
            Ok(intent) => panic!("'{text}' should be refused, got {intent:?}"),
            Err(e) => e,
        }
    }

    fn end(
        cloud: Option<Cloud>,
        region: Option<&str>,
        service: Option<&str>,
        id: Option<&str>,
    ) -> Endpoint {
        Endpoint {
            cloud,
            region: region.map(str::to_string),
            service: service.map(str::to_string),
            identifier: id.map(str::to_string),
            resolved: None,
        }
    }

    /// (source, its cloud, destination, its cloud)
    const END_PAIRS: [(&str, Cloud, &str, Cloud); 5] = [
        (
            "aws lambda OrderProcessor in us-east-1",
            Cloud::Aws,
            "azure sql orderdb.database.windows.net in East US",
            Cloud::Azure,
        ),
        (
            "azure vm app-1 in westeurope",
            Cloud::Azure,
            "gcp cloud sql ledger in us-central1",
            Cloud::Gcp,
        ),
        (
            "gcp vm frontend in europe-west1",
            Cloud::Gcp,
            "aws rds orders-db in us-east-1",
            Cloud::Aws,
        ),
        (
            "aws ec2 batch-runner in eu-west-1",
            Cloud::Aws,
            "gcp vm reports in us-central1",
            Cloud::Gcp,
        ),
        (
            "azure function billing in eastus",
            Cloud::Azure,
            "aws rds payments in us-west-2",
            Cloud::Aws,
        ),
    ];

    /// How people put "<y> (source) should reach <x> (destination)".
    const PHRASINGS: [&str; 13] = [
        "connect {y} to {x}",
        "{x} should be reachable from {y}",
        "{x} must be accessible from {y}",
        "make {x} reachable from {y}",
        "let {y} reach {x}",
        "please let {y} talk to {x}",
        "{y} needs access to {x}",
        "{y} requires connectivity to {x}",
        "open {x} to {y}",
        "give {y} access to {x}",
        "{x} should accept connections from {y}",
        "allow traffic to {x} from {y}",
        "connect to {x} from {y}",
    ];

    #[test]
    fn sixty_five_phrasings_read_with_the_direction_right() {
        let mut read = 0;
        for (n, phrasing) in PHRASINGS.iter().enumerate() {
            for (m, (y, y_cloud, x, x_cloud)) in END_PAIRS.iter().enumerate() {
                let with_requirements = (n + m) % 2 == 0;
                let mut text = phrasing.replace("{y}", y).replace("{x}", x);
                if with_requirements {
                    text.push_str(", 500 GB/month, under 20ms");
                }
                let intent = parse(&text);
                assert_eq!(
                    intent.source.cloud,
                    Some(*y_cloud),
                    "source of '{text}': {intent:?}"
                );
                assert_eq!(
                    intent.destination.cloud,
                    Some(*x_cloud),
                    "destination of '{text}': {intent:?}"
                );
                assert!(
                    intent.source.region.is_some() && intent.destination.region.is_some(),
                    "'{text}': {intent:?}"
                );
                if with_requirements {
                    assert_eq!(
                        intent.requirements.monthly_traffic_gb,
                        Some(500.0),
                        "'{text}'"
                    );
                    assert_eq!(intent.requirements.max_latency_ms, Some(20.0), "'{text}'");
                }
                read += 1;
            }
        }
        assert_eq!(read, 65);
        // Source-first texts that look like the phrasings stay source-first.
        let open = parse("open a connection from aws lambda OrderProcessor in us-east-1 to azure sql orderdb.database.windows.net in East US");
        assert_eq!(open.source.cloud, Some(Cloud::Aws));
        assert_eq!(open.destination.cloud, Some(Cloud::Azure));
    }

    #[test]
    fn flagship_request_parses_completely() {
        let intent = parse(FLAGSHIP);
        assert_eq!(
            intent,
            Intent {
                source: end(
                    Some(Cloud::Aws),
                    Some("us-east-1"),
                    Some("lambda"),
                    Some("OrderProcessor")
                ),
                destination: end(
                    Some(Cloud::Azure),
                    Some("eastus"),
                    Some("sql"),
                    Some("orderdb.database.windows.net")
                ),
                requirements: Requirements {
                    max_latency_ms: Some(20.0),
                    monthly_traffic_gb: Some(500.0),
                    encryption: true,
                    private_only: false,
                },
                compliance: vec![ComplianceTag::PciDss],
                missing: vec![],
            }
        );
        assert!(intent.is_complete());
        let json = serde_json::to_value(&intent).unwrap_or_default();
        assert_eq!(json["source"]["cloud"], "aws");
        assert_eq!(json["destination"]["region"], "eastus");
        assert_eq!(json["compliance"][0], "pci_dss");
    }

    #[test]
    fn chapter_form_reads_the_arn_and_keeps_it_as_identifier() {
        let intent = parse(CHAPTER);
        assert_eq!(
            intent.source,
            end(
                Some(Cloud::Aws),
                Some("us-east-1"),
                Some("lambda"),
                Some("arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor")
            )
        );
        assert_eq!(
            intent.destination,
            end(
                Some(Cloud::Azure),
                None,
                Some("sql"),
                Some("orderdb.database.windows.net")
            )
        );
        assert_eq!(intent.requirements.max_latency_ms, Some(20.0));
        assert!(intent.requirements.encryption);
        assert!(!intent.requirements.private_only);
        assert!(intent.compliance.is_empty());
        // The hostname names no region: the estate fills it (see resolve).
        assert_eq!(
            intent.missing,
            vec![
                MissingField::DestinationRegion,
                MissingField::MonthlyTraffic
            ]
        );
    }

    #[test]
    fn between_x_and_y_is_a_direction() {
        let intent = parse(
            "I need connectivity between GCP Vertex AI in us-central1 and AWS S3 in us-east-1, 2 TB/month",
        );
        assert_eq!(
            intent.source,
            end(
                Some(Cloud::Gcp),
                Some("us-central1"),
                Some("vertex_ai"),
                None
            )
        );
        assert_eq!(
            intent.destination,
            end(Some(Cloud::Aws), Some("us-east-1"), Some("s3"), None)
        );
        assert_eq!(intent.requirements.monthly_traffic_gb, Some(2000.0));
        assert!(intent.missing.is_empty());
    }

    #[test]
    fn arrows_and_from_read_as_direction() {
        for text in [
            "from aws lambda A1 in us-east-1 to gcp bigquery analytics in us-central1",
            "aws lambda A1 in us-east-1 -> gcp bigquery analytics in us-central1",
            "aws lambda A1 in us-east-1 → gcp bigquery analytics in us-central1",
            "aws lambda A1 in us-east-1=>gcp bigquery analytics in us-central1",
            "please link aws lambda A1 in us-east-1 to gcp bigquery analytics in us-central1",
            "allow aws lambda A1 in us-east-1 to reach gcp bigquery analytics in us-central1",
            "I need to connect aws lambda A1 in us-east-1 to gcp bigquery analytics in us-central1",
            "hey switchboard, could you please set up a connection from aws lambda A1 in us-east-1 to gcp bigquery analytics in us-central1",
        ] {
            let intent = parse(text);
            assert_eq!(intent.source.identifier.as_deref(), Some("A1"), "{text}");
            assert_eq!(intent.source.region.as_deref(), Some("us-east-1"), "{text}");
            assert_eq!(intent.destination.service.as_deref(), Some("bigquery"), "{text}");
            assert_eq!(intent.destination.identifier.as_deref(), Some("analytics"), "{text}");
            assert_eq!(intent.destination.region.as_deref(), Some("us-central1"), "{text}");
        }
    }

    #[test]
    fn onprem_sap_in_dc1() {
        let intent = parse("connect SAP in dc1 to azure synapse in West Europe, 1.5 TB a month");
        assert_eq!(
            intent.source,
            end(Some(Cloud::Onprem), Some("dc1"), Some("sap"), None)
        );
        assert_eq!(
            intent.destination,
            end(
                Some(Cloud::Azure),
                Some("westeurope"),
                Some("synapse"),
                None
            )
        );
        assert_eq!(intent.requirements.monthly_traffic_gb, Some(1500.0));
        assert!(intent.missing.is_empty());

        let named =
            parse("connect on-prem sql server ERP01 in frankfurt to azure sql orderdb in eastus");
        assert_eq!(
            named.source,
            end(
                Some(Cloud::Onprem),
                Some("frankfurt"),
                Some("sqlserver"),
                Some("ERP01")
            )
        );
    }

    #[test]
    fn missing_traffic_is_reported() {
        let intent =
            parse("connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb in East US");
        assert_eq!(intent.missing, vec![MissingField::MonthlyTraffic]);
        assert_eq!(intent.destination.identifier.as_deref(), Some("orderdb"));
    }

    #[test]
    fn missing_source_is_reported() {
        let intent = parse("connect to azure sql orderdb in East US, 500 GB/month");
        assert_eq!(intent.missing, vec![MissingField::Source]);
        assert_eq!(intent.source, Endpoint::default());
    }

    #[test]
    fn unknown_cloud_and_region_of_an_end_are_missing() {
        let intent = parse("connect OrderProcessor to orderdb, 10 GB/month");
        assert_eq!(intent.source.identifier.as_deref(), Some("OrderProcessor"));
        assert_eq!(intent.destination.identifier.as_deref(), Some("orderdb"));
        assert_eq!(
            intent.missing,
            vec![
                MissingField::SourceCloud,
                MissingField::SourceRegion,
                MissingField::DestinationCloud,
                MissingField::DestinationRegion,
            ]
        );
    }

    #[test]
    fn region_alone_names_the_cloud_and_service_words_map_to_kinds() {
        let intent =
            parse("connect OrderProcessor in us-east-1 to orderdb in West Europe, 5 GB/month");
        assert_eq!(intent.source.cloud, Some(Cloud::Aws));
        assert_eq!(intent.destination.cloud, Some(Cloud::Azure));
        assert_eq!(intent.destination.region.as_deref(), Some("westeurope"));

        for (text, kind) in [
            ("google cloud sql", "cloud_sql"),
            ("gcp cloud sql", "cloud_sql"),
            ("azure machine learning", "azure_ml"),
            ("azure ml", "azure_ml"),
            ("azure data lake", "data_lake"),
            ("aks", "aks"),
            ("gke", "gke"),
            ("dynamodb", "dynamodb"),
            ("onprem sql server", "sqlserver"),
            ("azure sql database", "sql"),
            ("oracle", "oracle"),
            ("erp", "sap"),
            ("azure app service", "app_service"),
            ("event hubs", "event_hubs"),
        ] {
            let intent = parse(&format!(
                "connect aws lambda X in us-east-1 to {text} target1"
            ));
            assert_eq!(intent.destination.service.as_deref(), Some(kind), "{text}");
        }
    }

    #[test]
    fn latency_forms() {
        for (text, ms) in [
            ("under 20ms", 20.0),
            ("< 20 ms", 20.0),
            ("(<20ms)", 20.0),
            ("latency below 15 ms", 15.0),
            ("max 20ms", 20.0),
            ("within 30 milliseconds", 30.0),
            ("sub-10ms", 10.0),
            ("latency under 0.5 s", 500.0),
            ("10-25 ms", 25.0),
        ] {
            let intent = parse(&format!(
                "connect aws lambda X in us-east-1 to azure sql Y in eastus, {text}"
            ));
            assert_eq!(intent.requirements.max_latency_ms, Some(ms), "{text}");
            assert_eq!(
                intent.destination.identifier.as_deref(),
                Some("Y"),
                "{text}"
            );
        }
    }

    #[test]
    fn traffic_forms() {
        for (text, gb) in [
            ("500 GB/month", 500.0),
            ("500GB per month", 500.0),
            ("2 TB/month", 2000.0),
            ("1.5 TB a month", 1500.0),
            ("about 500 GB a month", 500.0),
            ("1,200 GB monthly", 1200.0),
            ("up to 2 TB/month", 2000.0),
            ("traffic: 300 GB", 300.0),
            ("1 TiB/month", 1099.511627776),
            ("512 GiB per month", 549.755813888),
            ("800 MB/month", 0.8),
        ] {
            let intent = parse(&format!(
                "connect aws lambda X in us-east-1 to azure sql Y in eastus, {text}"
            ));
            let got = intent.requirements.monthly_traffic_gb.unwrap_or(f64::NAN);
            assert!((got - gb).abs() < 1e-6, "{text}: {got}");
            assert_eq!(
                intent.destination.identifier.as_deref(),
                Some("Y"),
                "{text}"
            );
        }
    }

    #[test]
    fn impossible_quantities_are_refused_with_the_text_quoted() {
        for text in [
            "-500 GB/month",
            "2000000000 TB/month",
            "under 0ms",
            "latency 50000 ms",
        ] {
            let err = refuse(&format!(
                "connect aws lambda X in us-east-1 to azure sql Y in eastus, {text}"
            ));
            assert!(
                matches!(err, ParseError::ImplausibleQuantity { .. }),
                "{text}: {err}"
            );
            assert!(err.to_string().contains("not plausible"), "{err}");
        }
    }

    #[test]
    fn compliance_forms_are_deduplicated_and_sorted() {
        let intent = parse(
            "connect aws lambda X in us-east-1 to azure sql Y in eastus, GDPR, SOC 2, HIPAA-compliant, PCI DSS, pci, soc2",
        );
        assert_eq!(
            intent.compliance,
            vec![
                ComplianceTag::PciDss,
                ComplianceTag::Hipaa,
                ComplianceTag::Soc2,
                ComplianceTag::Gdpr
            ]
        );
        assert!(
            !intent.requirements.private_only,
            "compliance alone does not imply private"
        );
        assert!(!intent.requirements.encryption);
    }

    #[test]
    fn encryption_and_private_words() {
        let intent = parse(
            "connect aws lambda X in us-east-1 to azure sql Y in eastus over TLS, private only",
        );
        assert!(intent.requirements.encryption);
        assert!(intent.requirements.private_only);
        assert_eq!(intent.destination.region.as_deref(), Some("eastus"));

        let intent = parse("connect aws lambda X in us-east-1 to azure sql Y in eastus, not over the internet, no encryption needed");
        assert!(intent.requirements.private_only);
        assert!(!intent.requirements.encryption);

        // Words inside names are names, not requirements.
        let intent = parse(
            "connect aws lambda private-api in us-east-1 to azure sql secure.example.com in eastus",
        );
        assert_eq!(intent.source.identifier.as_deref(), Some("private-api"));
        assert_eq!(
            intent.destination.identifier.as_deref(),
            Some("secure.example.com")
        );
        assert!(!intent.requirements.private_only && !intent.requirements.encryption);
    }

    #[test]
    fn stopwords_and_region_names_never_become_identifiers() {
        let intent = parse("connect the lambda in us-east-1 to the azure sql in East US");
        assert_eq!(intent.source.identifier, None);
        assert_eq!(intent.destination.identifier, None);
        assert_eq!(intent.destination.region.as_deref(), Some("eastus"));
    }

    #[test]
    fn destination_location_after_a_comma_is_kept() {
        let intent = parse(
            "connect aws lambda X in us-east-1 to azure sql orderdb, in West Europe, 10 GB/month",
        );
        assert_eq!(intent.destination.region.as_deref(), Some("westeurope"));
        assert_eq!(intent.destination.identifier.as_deref(), Some("orderdb"));
    }

    #[test]
    fn explicit_cloud_with_a_region_it_lacks_is_refused() {
        for (text, cloud) in [
            (
                "connect aws lambda X in us-east-9 to azure sql Y in eastus",
                Cloud::Aws,
            ),
            (
                "connect aws lambda X in us-east-1 to azure sql Y in us-east-1",
                Cloud::Azure,
            ),
            (
                "connect aws lambda X in eastus to azure sql Y in eastus",
                Cloud::Aws,
            ),
            (
                "connect arn:aws:lambda:us-east-9:1:function:X to azure sql Y",
                Cloud::Aws,
            ),
            (
                "connect gcp bigquery X in us-central9 to azure sql Y",
                Cloud::Gcp,
            ),
        ] {
            let err = refuse(text);
            match &err {
                ParseError::UnknownRegion {
                    cloud: Some(c),
                    hint,
                    ..
                } => {
                    assert_eq!(*c, cloud, "{text}");
                    assert!(hint.contains("known:"), "{text}: {err}");
                }
                other => panic!("{text}: expected UnknownRegion, got {other}"),
            }
        }
        let err = refuse("connect lambda X in us-east-9 to azure sql Y");
        assert!(err.to_string().contains("us-east-9"), "{err}");
        let err = refuse("connect lambda X region: mars-1 to azure sql Y");
        assert!(err.to_string().contains("mars-1"), "{err}");
    }

    #[test]
    fn clouds_switchboard_does_not_manage_are_refused_but_oracle_db_is_a_service() {
        assert_eq!(
            refuse("connect oracle cloud db1 to azure sql Y in eastus"),
            ParseError::UnknownCloud("oracle cloud".into())
        );
        assert_eq!(
            refuse("connect lambda X cloud: mars to azure sql Y"),
            ParseError::UnknownCloud("mars".into())
        );
        let intent = parse("connect onprem oracle ledger in dc2 to aws rds Y in us-east-1");
        assert_eq!(
            intent.source,
            end(
                Some(Cloud::Onprem),
                Some("dc2"),
                Some("oracle"),
                Some("ledger")
            )
        );
    }

    #[test]
    fn two_clouds_for_one_end_are_refused() {
        let err = refuse("connect aws azure lambda X to gcp bigquery Y");
        assert_eq!(
            err,
            ParseError::ConflictingClouds {
                side: Side::Source,
                first: Cloud::Aws,
                second: Cloud::Azure
            }
        );
        // "Microsoft SQL Server" is a product name, not a second cloud.
        let intent =
            parse("connect onprem Microsoft SQL Server ledger in dc1 to aws s3 Y in us-east-1");
        assert_eq!(intent.source.service.as_deref(), Some("sqlserver"));
        assert_eq!(intent.source.identifier.as_deref(), Some("ledger"));
    }

    #[test]
    fn non_requests_are_refused_with_a_clear_message() {
        for text in [
            "",
            "   \n\t ",
            "hello",
            "asdkjh qwe zxc",
            "🎉🎉🎉",
            "hello to you",
            "fly me to the moon",
            "connect to",
        ] {
            let err = refuse(text);
            let message = err.to_string();
            assert!(!message.is_empty());
            assert!(
                matches!(err, ParseError::Empty | ParseError::NotARequest { .. }),
                "{text:?}: {message}"
            );
        }
        assert_eq!(refuse(" "), ParseError::Empty);
        // An arrow between two names is deliberate enough to be a request.
        let intent = parse("OrderProcessor → orderdb");
        assert_eq!(intent.source.identifier.as_deref(), Some("OrderProcessor"));
        assert_eq!(intent.destination.identifier.as_deref(), Some("orderdb"));
        assert!(refuse("hello")
            .to_string()
            .contains("connect <source> to <destination>"));
    }

    #[test]
    fn oversized_and_control_character_input_is_refused() {
        let long = "a".repeat(MAX_REQUEST_BYTES + 1);
        assert_eq!(
            refuse(&long),
            ParseError::TooLong {
                len: 4097,
                max: 4096
            }
        );
        let err = refuse("connect aws lambda X\u{0} to azure sql Y");
        assert_eq!(
            err,
            ParseError::ControlCharacter {
                position: 21,
                code: 0
            }
        );
        assert!(err.to_string().contains("U+0000"), "{err}");
        let intent = parse("connect aws lambda X to\r\nazure sql Y\nthanks");
        assert_eq!(intent.destination.identifier.as_deref(), Some("Y"));
    }

    #[test]
    fn trailing_answers_complete_the_end_they_fit() {
        // How the workflow appends answers: ", " after the original text.
        let intent =
            parse("connect aws lambda X to azure sql Y in eastus, 500 GB/month, us-east-1");
        assert_eq!(intent.source.region.as_deref(), Some("us-east-1"));
        assert_eq!(intent.destination.region.as_deref(), Some("eastus"));
        let intent = parse("connect aws lambda X in us-east-1 to azure sql Y, East US 2");
        assert_eq!(intent.destination.region.as_deref(), Some("eastus2"));
        let intent = parse("connect aws lambda X to azure sql Y in eastus, us-east-1, us-east-1");
        assert_eq!(intent.source.region.as_deref(), Some("us-east-1"));
        // Neither end can be in us-east-9: the destination reports it.
        assert!(matches!(
            refuse("connect aws lambda X in us-east-1 to azure sql Y, us-east-9"),
            ParseError::UnknownRegion {
                side: Side::Destination,
                ..
            }
        ));
    }

    #[test]
    fn labelled_pieces_name_their_end() {
        let intent = parse(
            "connect lambda X to azure sql Y in eastus, 5 GB/month, source region: us-west-2, destination is orderdb",
        );
        assert_eq!(
            intent.source,
            end(
                Some(Cloud::Aws),
                Some("us-west-2"),
                Some("lambda"),
                Some("X")
            )
        );
        assert_eq!(intent.destination.identifier.as_deref(), Some("orderdb"));
        assert!(intent.missing.is_empty());

        let intent =
            parse("source: aws lambda X in us-east-1; destination: gcp bigquery Z in us-central1");
        assert_eq!(intent.source.identifier.as_deref(), Some("X"));
        assert_eq!(intent.destination.region.as_deref(), Some("us-central1"));
        assert_eq!(intent.missing, vec![MissingField::MonthlyTraffic]);

        // An answer overrides what the request said for that end...
        let intent =
            parse("connect aws lambda X in us-west-2 to azure sql Y in eastus, source: us-east-1");
        assert_eq!(intent.source.region.as_deref(), Some("us-east-1"));
        // ...but may not move it to another cloud silently.
        assert!(matches!(
            refuse("connect aws lambda X in us-west-2 to azure sql Y in eastus, source: gcp"),
            ParseError::ConflictingClouds {
                side: Side::Source,
                ..
            }
        ));
    }

    #[test]
    fn constant_patterns_compile() {
        assert!(!DESTINATION_FIRST.is_empty());
        for re in [
            &*TRAFFIC_PER_MONTH,
            &*TRAFFIC_LABELLED,
            &*LATENCY,
            &*COMPLIANCE,
            &*ENCRYPTION,
            &*PRIVATE,
            &*FILLER,
            &*TO_MARKER,
            &*AND_MARKER,
            &*WITH_MARKER,
            &*CLAUSE_END,
            &*AWS_REGION_SHAPE,
            &*GCP_REGION_SHAPE,
            &*RESOURCE_ID,
            &*LABEL,
            &*PIECE,
        ] {
            assert!(!re.as_str().is_empty());
        }
    }

    #[test]
    fn hostnames_and_arns_say_where_they_live() {
        let intent = parse(
            "connect mydb.abc123.us-west-2.rds.amazonaws.com to https://orders.blob.core.windows.net/x, 1 GB/month",
        );
        assert_eq!(intent.source.cloud, Some(Cloud::Aws));
        assert_eq!(intent.source.region.as_deref(), Some("us-west-2"));
        assert_eq!(intent.source.service.as_deref(), Some("rds"));
        assert_eq!(intent.destination.cloud, Some(Cloud::Azure));
        assert_eq!(
            intent.destination.identifier.as_deref(),
            Some("orders.blob.core.windows.net")
        );
    }

    proptest! {
        #[test]
        fn never_panics(s in ".{0,300}") {
            let _ = parse_request(&s);
        }

        #[test]
        fn never_panics_on_request_shaped_noise(
            a in "[a-zA-Z0-9 .,:/-]{0,40}",
            b in "[a-zA-Z0-9 .,:<>/-]{0,60}",
        ) {
            let _ = parse_request(&format!("connect aws lambda {a} in us-east-1 to {b}, {a} GB/month"));
            let _ = parse_request(&format!("between {a} and {b} under {a} ms"));
        }
    }
}
