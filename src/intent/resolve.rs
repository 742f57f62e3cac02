//! Entity resolution: ties each end of a parsed intent to a service in the estate.
//!
//! Pure: it reads the estate and the intent and returns a new intent plus the
//! questions a person must answer. What the text said is never overwritten: the
//! estate only fills what the text left out (cloud, region), and a contradiction
//! ("us-west-2" for a service that lives in us-east-1) becomes a question. The
//! service kind is the one exception: it is the parser's reading of a word, so
//! the estate's kind replaces it once the service is known.

use super::rules::{is_blank, missing_fields, Side};
use crate::domain::{Endpoint, Estate, Intent, Network, Service};

/// An intent after resolution, with the questions it still raises.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolution {
    pub intent: Intent,
    /// Questions for the requester, one sentence each, in source-then-destination order.
    pub ambiguities: Vec<String>,
}

impl Resolution {
    /// Nothing to ask: every end that could be resolved was, and nothing is missing.
    pub fn is_settled(&self) -> bool {
        self.ambiguities.is_empty() && self.intent.missing.is_empty()
    }
}

/// Most names listed in one question; more would be noise in a chat message.
const MAX_LISTED: usize = 6;

/// Resolves both endpoints against the estate: fills `resolved` (ServiceId), and
/// fills cloud/region/service from the service when the text omitted them;
/// records a mismatch (text says us-west-2 but the service is in us-east-1) as a
/// question; a name matching several services → a question listing them; no
/// match → a question asking which service (listing close names). Recomputes
/// `missing` afterwards (a resolved endpoint is never missing cloud/region).
pub fn resolve(mut intent: Intent, estate: &Estate) -> Resolution {
    let mut questions = Vec::new();
    resolve_end(Side::Source, &mut intent.source, estate, &mut questions);
    resolve_end(
        Side::Destination,
        &mut intent.destination,
        estate,
        &mut questions,
    );
    if let (Some(a), Some(b)) = (&intent.source.resolved, &intent.destination.resolved) {
        if a == b {
            let name = estate.service(a).map_or(a.as_str(), |s| s.name.as_str());
            questions.push(format!(
                "The source and the destination are both {name}; which other service should it connect to?"
            ));
        }
    }
    intent.missing = missing_fields(&intent);
    Resolution {
        intent,
        ambiguities: questions,
    }
}

fn resolve_end(side: Side, end: &mut Endpoint, estate: &Estate, questions: &mut Vec<String>) {
    if is_blank(end) {
        return;
    }
    // Already resolved (e.g. resolving a stored intent again): trust it if it
    // still exists, so resolution is idempotent.
    if let Some(service) = end.resolved.as_ref().and_then(|id| estate.service(id)) {
        fill(end, service, estate);
        return;
    }
    end.resolved = None;

    let outcome = match end.identifier.as_deref() {
        Some(identifier) => by_identifier(side, end, identifier, estate),
        None => match end.service.as_deref() {
            Some(kind) => by_kind(side, end, kind, estate),
            // Only a cloud/region: a network, not a service; nothing to ask here,
            // `missing` and later steps cover it.
            None => return,
        },
    };
    match outcome {
        Outcome::Found(service) => {
            if let Some(question) = mismatch(side, end, service, estate) {
                questions.push(question);
            }
            fill(end, service, estate);
        }
        Outcome::Ask(question) => questions.push(question),
    }
}

enum Outcome<'e> {
    Found(&'e Service),
    Ask(String),
}

fn by_identifier<'e>(
    side: Side,
    end: &Endpoint,
    identifier: &str,
    estate: &'e Estate,
) -> Outcome<'e> {
    let keys = name_keys(identifier);
    let exact: Vec<&Service> = estate
        .services
        .iter()
        .filter(|s| {
            s.identifiers
                .iter()
                .any(|i| i.eq_ignore_ascii_case(identifier))
        })
        .collect();
    let matches = if exact.is_empty() {
        estate
            .services
            .iter()
            .filter(|s| keys.iter().any(|k| s.name.eq_ignore_ascii_case(k)))
            .collect()
    } else {
        exact
    };
    match matches.as_slice() {
        [] => Outcome::Ask(unknown_name_question(side, identifier, &keys, estate)),
        [only] => Outcome::Found(only),
        several => {
            // The text's cloud/region/kind may single one out.
            let fitting: Vec<&Service> = several
                .iter()
                .copied()
                .filter(|s| fits(end, s, estate))
                .collect();
            if let [only] = fitting.as_slice() {
                return Outcome::Found(only);
            }
            let listed = if fitting.is_empty() {
                several
            } else {
                &fitting
            };
            Outcome::Ask(format!(
                "Which {side} do you mean by '{}'? It matches several services: {}.",
                shown(identifier),
                describe_all(listed, estate)
            ))
        }
    }
}

fn by_kind<'e>(side: Side, end: &Endpoint, kind: &str, estate: &'e Estate) -> Outcome<'e> {
    let candidates: Vec<&Service> = estate
        .services
        .iter()
        .filter(|s| fits(end, s, estate))
        .collect();
    let place = place_of(end);
    match candidates.as_slice() {
        [only] => Outcome::Found(only),
        [] => Outcome::Ask(format!(
            "The estate has no {kind} service{place} for the {side}. Which service is it?"
        )),
        several => Outcome::Ask(format!(
            "Which {kind}{place} is the {side}? The estate has several: {}.",
            describe_all(several, estate)
        )),
    }
}

/// Whether a service agrees with everything the text said about this end.
fn fits(end: &Endpoint, service: &Service, estate: &Estate) -> bool {
    let Some(network) = estate.network(&service.network) else {
        return false;
    };
    end.cloud.is_none_or(|c| c == network.cloud)
        && end
            .region
            .as_deref()
            .is_none_or(|r| r.eq_ignore_ascii_case(&network.region))
        && end
            .service
            .as_deref()
            .is_none_or(|k| k.eq_ignore_ascii_case(&service.kind))
}

/// The names an identifier can stand for: itself, an ARN's resource name
/// (`…:function:OrderProcessor` → `OrderProcessor`), a hostname's first label
/// (`orderdb.database.windows.net` → `orderdb`).
fn name_keys(identifier: &str) -> Vec<String> {
    let mut keys = vec![identifier.to_string()];
    if identifier.to_ascii_lowercase().starts_with("arn:") {
        let segments: Vec<&str> = identifier
            .split([':', '/'])
            .filter(|s| !s.is_empty())
            .collect();
        if let Some(pos) = segments
            .iter()
            .position(|s| s.eq_ignore_ascii_case("function"))
        {
            if let Some(name) = segments.get(pos + 1) {
                keys.push((*name).to_string());
            }
        }
        if let Some(last) = segments.last() {
            keys.push((*last).to_string());
        }
    } else if identifier.contains('.') {
        let host = identifier
            .split_once("://")
            .map_or(identifier, |(_, rest)| rest);
        if let Some(label) = host.split('.').next().filter(|l| !l.is_empty()) {
            keys.push(label.to_string());
        }
    }
    keys.dedup();
    keys
}

fn mismatch(side: Side, end: &Endpoint, service: &Service, estate: &Estate) -> Option<String> {
    let network = estate.network(&service.network)?;
    let cloud_differs = end.cloud.is_some_and(|c| c != network.cloud);
    let region_differs = end
        .region
        .as_deref()
        .is_some_and(|r| !r.eq_ignore_ascii_case(&network.region));
    if !cloud_differs && !region_differs {
        return None;
    }
    let said = match (end.cloud, end.region.as_deref()) {
        (Some(c), Some(r)) => format!("{c} {r}"),
        (Some(c), None) => c.to_string(),
        (None, Some(r)) => r.to_string(),
        (None, None) => String::new(),
    };
    Some(format!(
        "The {side} says {} is in {said}, but the estate has it in {} {}. Which is right?",
        service.name, network.cloud, network.region
    ))
}

/// Fills what the text left out; the kind always comes from the estate.
fn fill(end: &mut Endpoint, service: &Service, estate: &Estate) {
    end.resolved = Some(service.id.clone());
    end.service = Some(service.kind.clone());
    if let Some(network) = estate.network(&service.network) {
        end.cloud.get_or_insert(network.cloud);
        if end.region.is_none() {
            end.region = Some(network.region.clone());
        }
    }
}

fn unknown_name_question(side: Side, identifier: &str, keys: &[String], estate: &Estate) -> String {
    let mut close: Vec<(usize, &str)> = estate
        .services
        .iter()
        .filter_map(|s| {
            let name = s.name.to_ascii_lowercase();
            keys.iter()
                .map(|k| closeness(&k.to_ascii_lowercase(), &name))
                .min()
                .flatten()
                .map(|d| (d, s.name.as_str()))
        })
        .collect();
    close.sort();
    close.dedup_by(|a, b| a.1 == b.1);
    let shown_id = shown(identifier);
    if close.is_empty() {
        format!(
            "I can't find a service called '{shown_id}' for the {side} in estate '{}'. Which service is it?",
            estate.name
        )
    } else {
        let names: Vec<&str> = close.iter().take(MAX_LISTED).map(|(_, n)| *n).collect();
        format!(
            "I can't find a service called '{shown_id}' for the {side}. Did you mean {}? Otherwise, which service is it?",
            names.join(", ")
        )
    }
}

/// Edit distance when the two names are close (a typo or a prefix), else `None`.
fn closeness(given: &str, name: &str) -> Option<usize> {
    // Bounded so a 4 KB identifier costs no more than a short one.
    let given: Vec<char> = given.chars().take(64).collect();
    let name: Vec<char> = name.chars().take(64).collect();
    if given.len() >= 3 && name.len() >= 3 {
        let g: String = given.iter().collect();
        let n: String = name.iter().collect();
        if g.contains(&n) || n.contains(&g) {
            return Some(given.len().abs_diff(name.len()).min(1));
        }
    }
    let distance = levenshtein(&given, &name);
    let allowed = (given.len().max(name.len()) / 3).max(2);
    (distance <= allowed).then_some(distance)
}

fn levenshtein(a: &[char], b: &[char]) -> usize {
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.iter().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

fn place_of(end: &Endpoint) -> String {
    match (end.cloud, end.region.as_deref()) {
        (Some(c), Some(r)) => format!(" in {c} {r}"),
        (Some(c), None) => format!(" in {c}"),
        (None, Some(r)) => format!(" in {r}"),
        (None, None) => String::new(),
    }
}

fn describe_all(services: &[&Service], estate: &Estate) -> String {
    let mut listed: Vec<String> = services
        .iter()
        .take(MAX_LISTED)
        .map(|s| describe(s, estate.network(&s.network)))
        .collect();
    if services.len() > MAX_LISTED {
        listed.push(format!("and {} more", services.len() - MAX_LISTED));
    }
    listed.join("; ")
}

fn describe(service: &Service, network: Option<&Network>) -> String {
    match network {
        Some(n) => format!(
            "{} ({}, {} {} {})",
            service.name, service.id, n.cloud, n.region, service.kind
        ),
        None => format!("{} ({}, {})", service.name, service.id, service.kind),
    }
}

fn shown(identifier: &str) -> String {
    identifier.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Cloud, MissingField, ServiceId};
    use crate::intent::parse_request;

    const ESTATE: &str = r#"
name: test
networks:
  - { id: aws-use1, name: prod us-east-1, cloud: aws, region: us-east-1, kind: vpc }
  - { id: aws-usw2, name: prod us-west-2, cloud: aws, region: us-west-2, kind: vpc }
  - { id: az-eastus, name: prod eastus, cloud: azure, region: eastus, kind: vnet }
  - { id: dc1, name: Frankfurt DC, cloud: onprem, region: dc1, kind: datacenter }
  - { id: internet, name: Internet, cloud: onprem, region: global, kind: internet }
connections: []
services:
  - id: svc-orderprocessor
    name: OrderProcessor
    kind: lambda
    network: aws-use1
    identifiers: ["arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor"]
    address: 10.0.1.10
  - id: svc-orderdb
    name: orderdb
    kind: sql
    network: az-eastus
    identifiers: [orderdb.database.windows.net]
    port: 1433
    address: 10.1.0.4
  - { id: svc-reports-east, name: reports, kind: lambda, network: aws-use1, address: 10.0.1.20 }
  - { id: svc-reports-west, name: reports, kind: lambda, network: aws-usw2, address: 10.2.1.20 }
  - { id: svc-sap, name: SAP-ERP, kind: sap, network: dc1, address: 192.168.1.5 }
  - { id: svc-billing, name: billing, kind: lambda, network: aws-usw2, address: 10.2.1.30 }
"#;

    fn estate() -> Estate {
        match Estate::from_yaml(ESTATE, "test") {
            Ok(e) => e,
            Err(e) => panic!("test estate: {e}"),
        }
    }

    fn resolved(text: &str) -> Resolution {
        match parse_request(text) {
            Ok(intent) => resolve(intent, &estate()),
            Err(e) => panic!("'{text}' should parse: {e}"),
        }
    }

    fn id(raw: &str) -> Option<ServiceId> {
        Some(ServiceId::new(raw))
    }

    #[test]
    fn resolves_by_name_and_by_hostname() {
        let r = resolved(
            "connect aws lambda OrderProcessor in us-east-1 to azure sql orderdb.database.windows.net in East US, 500 GB/month",
        );
        assert_eq!(r.intent.source.resolved, id("svc-orderprocessor"));
        assert_eq!(r.intent.destination.resolved, id("svc-orderdb"));
        assert!(r.ambiguities.is_empty(), "{:?}", r.ambiguities);
        assert!(r.is_settled());
    }

    #[test]
    fn hostname_first_label_matches_a_service_name() {
        let r = resolved("connect OrderProcessor to orderdb.example.internal, 5 GB/month");
        assert_eq!(r.intent.destination.resolved, id("svc-orderdb"));
    }

    #[test]
    fn resolves_by_arn_and_fills_the_region_the_text_left_out() {
        let r = resolved(
            "Connect AWS Lambda arn:aws:lambda:us-east-1:123456789012:function:OrderProcessor to Azure SQL \
             server: orderdb.database.windows.net Requirements: Low latency (<20ms), secure, cost-optimized",
        );
        assert_eq!(r.intent.source.resolved, id("svc-orderprocessor"));
        assert_eq!(r.intent.destination.resolved, id("svc-orderdb"));
        assert_eq!(r.intent.destination.region.as_deref(), Some("eastus"));
        assert_eq!(r.intent.missing, vec![MissingField::MonthlyTraffic]);

        // An ARN the estate does not list still resolves by its function name.
        let r = resolved(
            "connect arn:aws:lambda:us-east-1:999:function:OrderProcessor to orderdb, 1 GB/month",
        );
        assert_eq!(r.intent.source.resolved, id("svc-orderprocessor"));
    }

    #[test]
    fn bare_names_get_cloud_region_and_kind_from_the_estate() {
        let r = resolved("connect OrderProcessor to SAP-ERP, 10 GB/month");
        let source = &r.intent.source;
        assert_eq!(source.cloud, Some(Cloud::Aws));
        assert_eq!(source.region.as_deref(), Some("us-east-1"));
        assert_eq!(source.service.as_deref(), Some("lambda"));
        assert_eq!(source.identifier.as_deref(), Some("OrderProcessor"));
        let destination = &r.intent.destination;
        assert_eq!(destination.cloud, Some(Cloud::Onprem));
        assert_eq!(destination.region.as_deref(), Some("dc1"));
        assert_eq!(destination.service.as_deref(), Some("sap"));
        assert!(r.intent.missing.is_empty());
        assert!(r.is_settled());
    }

    #[test]
    fn a_kind_with_one_service_in_its_region_resolves() {
        let r = resolved("connect on-prem SAP in dc1 to azure sql in East US, 10 GB/month");
        assert_eq!(r.intent.source.resolved, id("svc-sap"));
        assert_eq!(r.intent.destination.resolved, id("svc-orderdb"));
        assert!(r.ambiguities.is_empty(), "{:?}", r.ambiguities);
    }

    #[test]
    fn region_mismatch_becomes_a_question_and_keeps_the_text() {
        let r = resolved("connect aws lambda OrderProcessor in us-west-2 to azure sql orderdb in eastus, 1 GB/month");
        assert_eq!(r.intent.source.resolved, id("svc-orderprocessor"));
        assert_eq!(r.intent.source.region.as_deref(), Some("us-west-2"));
        assert_eq!(r.ambiguities.len(), 1, "{:?}", r.ambiguities);
        let q = &r.ambiguities[0];
        assert!(
            q.contains("us-west-2") && q.contains("us-east-1") && q.contains("OrderProcessor"),
            "{q}"
        );
        assert!(!r.is_settled());
    }

    #[test]
    fn a_name_shared_by_several_services_asks_which() {
        let r = resolved("connect reports to orderdb, 1 GB/month");
        assert_eq!(r.intent.source.resolved, None);
        let q = &r.ambiguities[0];
        assert!(
            q.contains("svc-reports-east") && q.contains("svc-reports-west"),
            "{q}"
        );
        assert!(q.contains("us-east-1") && q.contains("us-west-2"), "{q}");
        // Still missing what the text did not say.
        assert!(r.intent.missing.contains(&MissingField::SourceCloud));

        // The region in the text picks one.
        let r = resolved("connect reports in us-west-2 to orderdb, 1 GB/month");
        assert_eq!(r.intent.source.resolved, id("svc-reports-west"));
        assert!(r.ambiguities.is_empty(), "{:?}", r.ambiguities);
    }

    #[test]
    fn a_kind_with_several_services_asks_which() {
        let r = resolved("connect aws lambda in us-east-1 to orderdb, 1 GB/month");
        assert_eq!(r.intent.source.resolved, None);
        let q = &r.ambiguities[0];
        assert!(q.contains("OrderProcessor") && q.contains("reports"), "{q}");
        assert!(!q.contains("billing"), "billing is in us-west-2: {q}");
    }

    #[test]
    fn an_unknown_name_asks_and_lists_close_names() {
        let r = resolved("connect OrderProcesser to orderdb, 1 GB/month");
        assert_eq!(r.intent.source.resolved, None);
        let q = &r.ambiguities[0];
        assert!(
            q.contains("OrderProcesser") && q.contains("Did you mean OrderProcessor"),
            "{q}"
        );

        let r = resolved("connect zzqx to orderdb, 1 GB/month");
        let q = &r.ambiguities[0];
        assert!(
            q.contains("'zzqx'") && q.contains("Which service is it?"),
            "{q}"
        );
        assert!(!q.contains("Did you mean"), "{q}");
    }

    #[test]
    fn the_same_service_at_both_ends_is_questioned() {
        let r = resolved("connect orderdb to orderdb.database.windows.net, 1 GB/month");
        assert_eq!(r.ambiguities.len(), 1, "{:?}", r.ambiguities);
        assert!(r.ambiguities[0].contains("both orderdb"));
    }

    #[test]
    fn resolving_twice_changes_nothing() {
        let once = resolved("connect OrderProcessor to orderdb, 1 GB/month");
        let twice = resolve(once.intent.clone(), &estate());
        assert_eq!(once, twice);
    }

    #[test]
    fn close_names_tolerate_typos_but_not_strangers() {
        assert!(closeness("orderprocesser", "orderprocessor").is_some());
        assert!(closeness("orders", "orderdb").is_some());
        assert!(closeness("zzqx", "orderdb").is_none());
        assert_eq!(levenshtein(&['a', 'b'], &[]), 2);
    }
}
