//! The policy file: named policies (`default` plus one per compliance tag) and the
//! residency zones they refer to. Parsed and validated once at the edge, so the
//! checks in the parent module never meet an unknown policy, an unknown zone or a
//! region pattern that matches nothing.
//!
//! Invariants after a successful load: `default` exists; every policy name is
//! `default` or a `ComplianceTag`; no key is repeated; every zone a policy names
//! is defined and holds at least one region or data centre; every cloud region
//! pattern matches a region that cloud has; latency ceilings are finite and > 0.

use crate::domain::{Cloud, ComplianceTag, Millis, Region};
use serde::de::{self, Deserializer, IntoDeserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::io::Read;
use std::marker::PhantomData;
use std::path::Path;

/// Policy files are small; anything larger is a mistake, not a policy.
const MAX_POLICY_FILE_BYTES: usize = 1024 * 1024;

/// Where the embedded copy says it came from in errors.
const EMBEDDED_ORIGIN: &str = "examples/policies.yaml (embedded)";
const EMBEDDED_TEXT: &str = include_str!("../../examples/policies.yaml");

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("policy file {path}: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    /// Bad YAML, an unknown or repeated key, a wrong type, an unknown policy name;
    /// serde_yaml's message names the key and its line and column.
    #[error("policy file {path}: {source}")]
    Syntax {
        path: String,
        source: serde_yaml::Error,
    },
    #[error("policy file {path}: {what}")]
    Invalid { path: String, what: String },
}

/// A policy's name: `default` or a compliance tag. `default` sorts first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyName {
    Default,
    Tag(ComplianceTag),
}

impl PolicyName {
    pub fn as_str(self) -> &'static str {
        match self {
            PolicyName::Default => "default",
            PolicyName::Tag(tag) => tag.as_str(),
        }
    }
}

impl fmt::Display for PolicyName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for PolicyName {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for PolicyName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a policy name", |raw| {
            if raw == "default" {
                return Ok(PolicyName::Default);
            }
            // Let the tag enum judge the name, so its list of tags is never copied here.
            ComplianceTag::deserialize(raw.into_deserializer())
                .map(PolicyName::Tag)
                .map_err(|e: de::value::Error| {
                    format!(
                        "unknown policy '{}': a policy is named `default` or after a compliance tag ({e})",
                        shorten(raw)
                    )
                })
        })
    }
}

/// A residency zone's name (`eu`, `us`): lower-case letters, digits and `_`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(into = "String")]
pub struct ZoneName(String);

impl ZoneName {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ZoneName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for ZoneName {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let ok = !raw.is_empty()
            && raw.len() <= 40
            && raw
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_');
        if ok {
            Ok(ZoneName(raw))
        } else {
            Err(format!(
                "zone name '{}' must be 1–40 lower-case letters, digits or '_'",
                shorten(&raw)
            ))
        }
    }
}

impl<'de> Deserialize<'de> for ZoneName {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a zone name", |raw| ZoneName::try_from(raw.to_string()))
    }
}

impl From<ZoneName> for String {
    fn from(z: ZoneName) -> String {
        z.0
    }
}

/// A region (`eu-west-1`, `westeurope`, `dc3`) or a prefix ending in `*`
/// (`eu-*`, `europe-*`), in canonical lower-case form.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(into = "String")]
pub struct RegionPattern(String);

impl RegionPattern {
    /// Whether `region` (as the estate or an intent writes it) falls under this pattern.
    pub fn matches(&self, region: &str) -> bool {
        let region = region.trim().to_ascii_lowercase();
        match self.0.strip_suffix('*') {
            Some(prefix) => region.starts_with(prefix),
            None => region == self.0,
        }
    }

    fn is_wildcard(&self) -> bool {
        self.0.ends_with('*')
    }
}

impl fmt::Display for RegionPattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TryFrom<String> for RegionPattern {
    type Error = String;
    fn try_from(raw: String) -> Result<Self, String> {
        let body = raw.strip_suffix('*').unwrap_or(&raw);
        let ok = !body.is_empty()
            && raw.len() <= 64
            && body
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
        if ok {
            Ok(RegionPattern(raw))
        } else {
            Err(format!(
                "region pattern '{}' must be a lower-case region name, optionally ending in '*' (e.g. eu-west-1, eu-*)",
                shorten(&raw)
            ))
        }
    }
}

impl<'de> Deserialize<'de> for RegionPattern {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        parse_scalar(d, "a region name or pattern", |raw| {
            RegionPattern::try_from(raw.to_string())
        })
    }
}

impl From<RegionPattern> for String {
    fn from(p: RegionPattern) -> String {
        p.0
    }
}

/// A residency zone: which regions of each cloud, and which data centres, it holds.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Zone {
    pub description: String,
    #[serde(default)]
    pub aws: Vec<RegionPattern>,
    #[serde(default)]
    pub azure: Vec<RegionPattern>,
    #[serde(default)]
    pub gcp: Vec<RegionPattern>,
    /// Data-centre names as the estate writes them.
    #[serde(default)]
    pub onprem: Vec<RegionPattern>,
}

impl Zone {
    pub fn patterns(&self, cloud: Cloud) -> &[RegionPattern] {
        match cloud {
            Cloud::Aws => &self.aws,
            Cloud::Azure => &self.azure,
            Cloud::Gcp => &self.gcp,
            Cloud::Onprem => &self.onprem,
        }
    }

    /// Whether `region` of `cloud` lies in this zone.
    pub fn contains(&self, cloud: Cloud, region: &str) -> bool {
        self.patterns(cloud).iter().any(|p| p.matches(region))
    }
}

/// One policy's rules. The booleans have no default on purpose: a policy that
/// forgets to say whether the internet is allowed is refused, not made permissive.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    pub description: String,
    pub encryption_required: bool,
    pub public_internet_allowed: bool,
    pub require_backup_path: bool,
    /// Zones data must stay in; empty means anywhere.
    #[serde(default)]
    pub data_residency: Vec<ZoneName>,
    #[serde(default)]
    pub max_latency_ms: Option<Millis>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct PolicyFile {
    #[serde(default, deserialize_with = "unique_map")]
    zones: BTreeMap<ZoneName, Zone>,
    #[serde(deserialize_with = "unique_map")]
    policies: BTreeMap<PolicyName, Policy>,
}

/// The loaded, validated policy set.
#[derive(Debug, Clone, PartialEq)]
pub struct Policies {
    pub(super) zones: BTreeMap<ZoneName, Zone>,
    pub(super) policies: BTreeMap<PolicyName, Policy>,
}

impl Policies {
    pub fn load(path: &Path) -> Result<Policies, PolicyError> {
        let shown = path.display().to_string();
        let read_err = |source| PolicyError::Read {
            path: shown.clone(),
            source,
        };
        let file = std::fs::File::open(path).map_err(read_err)?;
        let mut text = String::new();
        // Read one byte past the limit so an oversized file is told apart from a full one.
        file.take(MAX_POLICY_FILE_BYTES as u64 + 1)
            .read_to_string(&mut text)
            .map_err(read_err)?;
        Policies::from_yaml(&text, &shown)
    }

    /// Parses and validates; `origin` names the file in errors.
    pub fn from_yaml(text: &str, origin: &str) -> Result<Policies, PolicyError> {
        let invalid = |what: String| PolicyError::Invalid {
            path: origin.to_string(),
            what,
        };
        if text.len() > MAX_POLICY_FILE_BYTES {
            return Err(invalid(format!(
                "larger than {MAX_POLICY_FILE_BYTES} bytes; a policy file is a few kilobytes"
            )));
        }
        if is_blank_yaml(text) {
            return Err(invalid(
                "the file is empty; expected a `zones:` map and a `policies:` map with at least `default`"
                    .to_string(),
            ));
        }
        let file: PolicyFile =
            serde_yaml::from_str(text).map_err(|source| PolicyError::Syntax {
                path: origin.to_string(),
                source,
            })?;
        let policies = Policies {
            zones: file.zones,
            policies: file.policies,
        };
        policies.validate().map_err(invalid)?;
        Ok(policies)
    }

    /// The policies shipped in `examples/policies.yaml`, compiled in. A test pins
    /// that they parse, so callers may treat an error here as a build defect.
    pub fn embedded() -> Result<Policies, PolicyError> {
        Policies::from_yaml(EMBEDDED_TEXT, EMBEDDED_ORIGIN)
    }

    /// The policy called `name` (`default`, `pci_dss`, …), if the file defines it.
    pub fn get(&self, name: &str) -> Option<&Policy> {
        self.policies
            .iter()
            .find(|(n, _)| n.as_str() == name)
            .map(|(_, p)| p)
    }

    pub fn zone(&self, name: &ZoneName) -> Option<&Zone> {
        self.zones.get(name)
    }

    fn validate(&self) -> Result<(), String> {
        if !self.policies.contains_key(&PolicyName::Default) {
            return Err(
                "no `default` policy under `policies:`; it applies to every request and must exist"
                    .to_string(),
            );
        }
        for (name, zone) in &self.zones {
            let mut empty = true;
            for cloud in Cloud::ALL {
                for pattern in zone.patterns(cloud) {
                    empty = false;
                    check_pattern(cloud, pattern)
                        .map_err(|e| format!("zones.{name}.{cloud}: {e}"))?;
                }
            }
            if empty {
                return Err(format!(
                    "zones.{name} lists no regions or data centres (give aws, azure, gcp or onprem entries)"
                ));
            }
        }
        for (name, policy) in &self.policies {
            for zone in &policy.data_residency {
                if !self.zones.contains_key(zone) {
                    let known: Vec<&str> = self.zones.keys().map(ZoneName::as_str).collect();
                    let known = if known.is_empty() {
                        "no zones are defined under `zones:`".to_string()
                    } else {
                        format!("defined zones: {}", known.join(", "))
                    };
                    return Err(format!(
                        "policies.{name}.data_residency: unknown zone '{zone}' ({known})"
                    ));
                }
            }
            if let Some(max) = policy.max_latency_ms {
                if !max.0.is_finite() || max.0 <= 0.0 {
                    return Err(format!(
                        "policies.{name}.max_latency_ms must be a positive number of milliseconds, got {}",
                        max.0
                    ));
                }
            }
        }
        Ok(())
    }
}

/// A cloud pattern must name (or, with `*`, cover) a region that cloud has, so a
/// typo such as `eu-wset-1` cannot silently shrink a zone. Data-centre names come
/// from the estate and are taken as written.
fn check_pattern(cloud: Cloud, pattern: &RegionPattern) -> Result<(), String> {
    if cloud == Cloud::Onprem {
        return Ok(());
    }
    if pattern.is_wildcard() {
        if cloud.known_regions().iter().any(|r| pattern.matches(r)) {
            return Ok(());
        }
        return Err(format!("'{pattern}' matches no {cloud} region"));
    }
    let region = Region::parse(cloud, &pattern.0).map_err(|e| e.to_string())?;
    if region.name != pattern.0 {
        return Err(format!(
            "region '{pattern}' is not canonical (write '{}')",
            region.name
        ));
    }
    Ok(())
}

/// True when the text holds no YAML content at all (only blanks and comments),
/// which serde_yaml would otherwise report obscurely.
fn is_blank_yaml(text: &str) -> bool {
    text.lines().all(|l| {
        let l = l.trim();
        l.is_empty() || l.starts_with('#') || l == "---"
    })
}

fn shorten(s: &str) -> String {
    s.chars().take(40).collect()
}

/// Reads a string and parses it inside the visitor, so serde_yaml pins a refusal
/// to the scalar's own line and column rather than to the enclosing map.
fn parse_scalar<'de, D, T>(
    d: D,
    what: &'static str,
    parse: impl FnOnce(&str) -> Result<T, String>,
) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
{
    struct Scalar<F> {
        what: &'static str,
        parse: F,
    }

    impl<'de, T, F: FnOnce(&str) -> Result<T, String>> Visitor<'de> for Scalar<F> {
        type Value = T;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.what)
        }

        fn visit_str<E: de::Error>(self, v: &str) -> Result<T, E> {
            (self.parse)(v).map_err(E::custom)
        }
    }

    d.deserialize_str(Scalar { what, parse })
}

/// A map that refuses a repeated key: in a policy file the second `pci_dss:` would
/// otherwise silently replace the first.
fn unique_map<'de, D, K, V>(d: D) -> Result<BTreeMap<K, V>, D::Error>
where
    D: Deserializer<'de>,
    K: Deserialize<'de> + Ord + fmt::Display,
    V: Deserialize<'de>,
{
    struct UniqueMap<K, V>(PhantomData<(K, V)>);

    impl<'de, K, V> Visitor<'de> for UniqueMap<K, V>
    where
        K: Deserialize<'de> + Ord + fmt::Display,
        V: Deserialize<'de>,
    {
        type Value = BTreeMap<K, V>;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a map")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            let mut out = BTreeMap::new();
            while let Some(key) = map.next_key::<K>()? {
                if out.contains_key(&key) {
                    return Err(de::Error::custom(format!("'{key}' is defined twice")));
                }
                let value = map.next_value()?;
                out.insert(key, value);
            }
            Ok(out)
        }
    }

    d.deserialize_map(UniqueMap(PhantomData))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MINIMAL: &str = "
policies:
  default:
    description: baseline
    encryption_required: false
    public_internet_allowed: true
    require_backup_path: false
";

    fn error_of(yaml: &str) -> String {
        Policies::from_yaml(yaml, "test.yaml")
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn embedded_policies_parse_and_cover_every_tag() {
        let policies = Policies::embedded().expect("examples/policies.yaml must parse");
        for name in ["default", "pci_dss", "hipaa", "soc2", "gdpr"] {
            assert!(policies.get(name).is_some(), "{name} missing");
        }
        let gdpr = policies.get("gdpr").unwrap();
        assert_eq!(gdpr.data_residency.len(), 1);
        let eu = policies.zone(&gdpr.data_residency[0]).unwrap();
        for (cloud, region) in [
            (Cloud::Aws, "eu-west-1"),
            (Cloud::Azure, "westeurope"),
            (Cloud::Azure, "northeurope"),
            (Cloud::Gcp, "europe-west1"),
            (Cloud::Onprem, "dc3"),
        ] {
            assert!(
                eu.contains(cloud, region),
                "{cloud} {region} should be in eu"
            );
        }
        for (cloud, region) in [
            (Cloud::Aws, "us-east-1"),
            (Cloud::Azure, "eastus"),
            (Cloud::Gcp, "us-central1"),
            (Cloud::Onprem, "dc1"),
        ] {
            assert!(!eu.contains(cloud, region), "{cloud} {region} is not in eu");
        }
    }

    #[test]
    fn a_minimal_file_with_only_default_loads() {
        let p = Policies::from_yaml(MINIMAL, "test.yaml").unwrap();
        assert!(p.get("default").is_some());
        assert!(p.get("pci_dss").is_none());
    }

    #[test]
    fn a_misspelt_rule_is_refused_naming_file_key_and_line() {
        let yaml = MINIMAL.replace("encryption_required", "encryption_requird");
        let err = error_of(&yaml);
        assert!(err.contains("test.yaml"), "{err}");
        assert!(err.contains("encryption_requird"), "{err}");
        assert!(err.contains("line 5"), "{err}");
    }

    #[test]
    fn an_unknown_top_level_key_is_refused() {
        let err = error_of(&format!("{MINIMAL}extra: 1\n"));
        assert!(err.contains("extra"), "{err}");
        assert!(err.contains("line"), "{err}");
    }

    #[test]
    fn an_unknown_policy_name_is_refused_with_its_line() {
        let yaml = format!(
            "{MINIMAL}  pci:\n    description: x\n    encryption_required: true\n    public_internet_allowed: false\n    require_backup_path: false\n"
        );
        let err = error_of(&yaml);
        assert!(err.contains("unknown policy 'pci'"), "{err}");
        assert!(err.contains("pci_dss"), "{err}");
        assert!(err.contains("line 8 column 3"), "{err}");
    }

    #[test]
    fn a_missing_default_policy_is_refused() {
        let yaml = MINIMAL.replace("default:", "soc2:");
        let err = error_of(&yaml);
        assert!(err.contains("test.yaml"), "{err}");
        assert!(err.contains("`default`"), "{err}");
    }

    #[test]
    fn a_policy_defined_twice_is_refused() {
        let yaml = format!(
            "{MINIMAL}  default:\n    description: again\n    encryption_required: true\n    public_internet_allowed: true\n    require_backup_path: false\n"
        );
        let err = error_of(&yaml);
        assert!(err.contains("'default' is defined twice"), "{err}");
    }

    #[test]
    fn a_rule_left_out_is_refused_rather_than_defaulted() {
        let yaml = MINIMAL.replace("    public_internet_allowed: true\n", "");
        let err = error_of(&yaml);
        assert!(err.contains("public_internet_allowed"), "{err}");
    }

    #[test]
    fn residency_must_name_a_defined_zone() {
        let yaml = format!("{MINIMAL}    data_residency: [eu]\n");
        let err = error_of(&yaml);
        assert!(err.contains("policies.default.data_residency"), "{err}");
        assert!(err.contains("unknown zone 'eu'"), "{err}");
    }

    #[test]
    fn zone_regions_must_exist_in_their_cloud() {
        for (line, bad) in [
            ("aws: [eu-wset-1]", "eu-wset-1"),
            ("gcp: [\"eu-*\"]", "eu-*"),
            ("azure: [West-Europe]", "West-Europe"),
            ("aws: [\"*\"]", "*"),
        ] {
            let yaml = format!("zones:\n  eu:\n    description: EU\n    {line}\n{MINIMAL}");
            let err = error_of(&yaml);
            assert!(err.contains(bad), "{line}: {err}");
        }
        let yaml =
            format!("zones:\n  eu:\n    description: EU\n    aws: [eu-west-1, EU-*]\n{MINIMAL}");
        let err = error_of(&yaml);
        assert!(
            err.contains("'EU-*'") && err.contains("line 4 column 22"),
            "{err}"
        );
    }

    #[test]
    fn an_empty_zone_is_refused() {
        let yaml = format!("zones:\n  eu:\n    description: EU\n{MINIMAL}");
        let err = error_of(&yaml);
        assert!(err.contains("zones.eu lists no regions"), "{err}");
    }

    #[test]
    fn latency_ceilings_must_be_positive() {
        let yaml = format!("{MINIMAL}    max_latency_ms: -5\n");
        let err = error_of(&yaml);
        assert!(err.contains("max_latency_ms"), "{err}");
    }

    #[test]
    fn empty_and_garbage_files_get_clear_errors() {
        for text in ["", "   \n# only a comment\n", "---\n"] {
            let err = error_of(text);
            assert!(err.contains("test.yaml") && err.contains("empty"), "{err}");
        }
        for text in ["[1, 2", "policies: 7", ":::", "\t\0garbage", "- a\n- b\n"] {
            let err = error_of(text);
            assert!(err.contains("test.yaml"), "{err}");
        }
    }

    #[test]
    fn a_missing_file_is_named_in_the_error() {
        let err = Policies::load(Path::new("/nonexistent/policies.yaml")).unwrap_err();
        assert!(
            err.to_string().contains("/nonexistent/policies.yaml"),
            "{err}"
        );
    }

    #[test]
    fn a_file_on_disk_loads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("policies.yaml");
        std::fs::write(&path, MINIMAL).unwrap();
        assert!(Policies::load(&path).unwrap().get("default").is_some());
    }

    #[test]
    fn region_patterns_match_prefixes_and_exact_names() {
        let eu = RegionPattern::try_from("eu-*".to_string()).unwrap();
        assert!(eu.matches("eu-west-1") && eu.matches("EU-central-1"));
        assert!(!eu.matches("us-east-1"));
        let weu = RegionPattern::try_from("westeurope".to_string()).unwrap();
        assert!(weu.matches("westeurope") && !weu.matches("westeurope2"));
        assert!(RegionPattern::try_from("*".to_string()).is_err());
        assert!(RegionPattern::try_from("e*u".to_string()).is_err());
    }

    proptest::proptest! {
        #[test]
        fn parsing_any_text_never_panics(text in "\\PC{0,300}") {
            let _ = Policies::from_yaml(&text, "fuzz.yaml");
        }

        #[test]
        fn parsing_mangled_policy_files_never_panics(cut in 0usize..2000, insert in "\\PC{0,8}") {
            let mut text: String = EMBEDDED_TEXT.chars().take(cut).collect();
            text.push_str(&insert);
            text.extend(EMBEDDED_TEXT.chars().skip(cut + 1));
            let _ = Policies::from_yaml(&text, "fuzz.yaml");
        }
    }
}
