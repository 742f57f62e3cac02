//! Versioned prompts: handlebars templates `prompts/<name>/v<N>.hbs`, with
//! `prompts/manifest.yaml` naming the active version of each. The repository's
//! prompts are embedded in the binary; `[llm] prompts_dir` replaces them with
//! a directory of the same layout. Rendering is strict (a variable the
//! template uses and the data lacks is an error, never an empty string) and
//! unescaped (prompts are plain text, not HTML).
//!
//! Invariants: a prompt's identity is (name, version, sha256 of its text), and
//! that triple is what every recorded call names; the active version always
//! exists (checked at load).

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The prompts switchboard ships, every version.
const EMBEDDED: &[(&str, u32, &str)] = &[
    (
        "intent_parse",
        1,
        include_str!("../../prompts/intent_parse/v1.hbs"),
    ),
    ("clarify", 1, include_str!("../../prompts/clarify/v1.hbs")),
    (
        "design_rationale",
        1,
        include_str!("../../prompts/design_rationale/v1.hbs"),
    ),
    (
        "path_explain",
        1,
        include_str!("../../prompts/path_explain/v1.hbs"),
    ),
    (
        "failover_runbook",
        1,
        include_str!("../../prompts/failover_runbook/v1.hbs"),
    ),
    (
        "digest_summary",
        1,
        include_str!("../../prompts/digest_summary/v1.hbs"),
    ),
];
const EMBEDDED_MANIFEST: &str = include_str!("../../prompts/manifest.yaml");

/// Longest vars file read (a prompt's data is small).
const MAX_VARS_BYTES: u64 = 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum PromptError {
    #[error("unknown prompt '{name}' (known: {known})")]
    UnknownPrompt { name: String, known: String },
    #[error("prompt '{name}' has no version {version} (versions: {versions})")]
    UnknownVersion {
        name: String,
        version: u32,
        versions: String,
    },
    #[error("{origin}: {detail}")]
    Manifest { origin: String, detail: String },
    #[error("{path}: {detail}")]
    File { path: String, detail: String },
    #[error("prompt {name} v{version}: {detail}")]
    Render {
        name: String,
        version: u32,
        detail: String,
    },
    #[error("vars file {origin}: {detail}")]
    Vars { origin: String, detail: String },
}

/// `manifest.yaml`: the active version of each prompt.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    active: BTreeMap<String, u32>,
}

#[derive(Debug, Clone)]
struct Entry {
    active: u32,
    versions: BTreeMap<u32, String>,
}

/// Every prompt, every version.
#[derive(Debug, Clone)]
pub struct Prompts {
    entries: BTreeMap<String, Entry>,
}

/// One row of `prompts list`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PromptInfo {
    pub name: String,
    pub active: u32,
    pub versions: Vec<u32>,
    /// sha256 of the active version's text.
    pub content_hash: String,
}

/// One version of a prompt.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Template {
    pub name: String,
    pub version: u32,
    pub content_hash: String,
    pub text: String,
}

/// A rendered prompt and what it was rendered from.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub name: String,
    pub version: u32,
    pub content_hash: String,
    pub text: String,
}

/// sha256 of a template's text, lower-case hex.
pub fn content_hash(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

impl Prompts {
    pub fn embedded() -> Result<Prompts, PromptError> {
        let mut versions: BTreeMap<String, BTreeMap<u32, String>> = BTreeMap::new();
        for (name, version, text) in EMBEDDED {
            versions
                .entry(name.to_string())
                .or_default()
                .insert(*version, text.to_string());
        }
        let origin = "prompts/manifest.yaml (embedded)";
        Prompts::assemble(origin, parse_manifest(origin, EMBEDDED_MANIFEST)?, versions)
    }

    /// The prompts of `dir` (`manifest.yaml` and `<name>/v<N>.hbs`), or the embedded ones.
    pub fn from_dir(dir: Option<&Path>) -> Result<Prompts, PromptError> {
        match dir {
            Some(dir) => Prompts::load(dir),
            None => Prompts::embedded(),
        }
    }

    fn load(dir: &Path) -> Result<Prompts, PromptError> {
        let manifest_path = dir.join("manifest.yaml");
        let origin = manifest_path.display().to_string();
        let manifest = parse_manifest(&origin, &read(&manifest_path)?)?;
        let mut versions: BTreeMap<String, BTreeMap<u32, String>> = BTreeMap::new();
        for name in manifest.active.keys() {
            let folder = dir.join(name);
            let unreadable = |e: std::io::Error| PromptError::File {
                path: folder.display().to_string(),
                detail: e.to_string(),
            };
            for item in std::fs::read_dir(&folder).map_err(unreadable)? {
                let item = item.map_err(unreadable)?;
                let file = item.file_name();
                let Some(version) = file
                    .to_str()
                    .and_then(|f| f.strip_prefix('v'))
                    .and_then(|f| f.strip_suffix(".hbs"))
                    .and_then(|n| n.parse::<u32>().ok())
                else {
                    continue;
                };
                versions
                    .entry(name.clone())
                    .or_default()
                    .insert(version, read(&item.path())?);
            }
        }
        Prompts::assemble(&origin, manifest, versions)
    }

    fn assemble(
        origin: &str,
        manifest: Manifest,
        mut versions: BTreeMap<String, BTreeMap<u32, String>>,
    ) -> Result<Prompts, PromptError> {
        let mut entries = BTreeMap::new();
        for (name, active) in manifest.active {
            let texts = versions.remove(&name).unwrap_or_default();
            if !texts.contains_key(&active) {
                return Err(PromptError::Manifest {
                    origin: origin.to_string(),
                    detail: format!("prompt '{name}' is active at v{active}, which does not exist"),
                });
            }
            entries.insert(
                name,
                Entry {
                    active,
                    versions: texts,
                },
            );
        }
        Ok(Prompts { entries })
    }

    pub fn list(&self) -> Vec<PromptInfo> {
        self.entries
            .iter()
            .map(|(name, e)| PromptInfo {
                name: name.clone(),
                active: e.active,
                versions: e.versions.keys().copied().collect(),
                content_hash: e
                    .versions
                    .get(&e.active)
                    .map(|t| content_hash(t))
                    .unwrap_or_default(),
            })
            .collect()
    }

    /// A prompt's `version`, or its active one.
    pub fn get(&self, name: &str, version: Option<u32>) -> Result<Template, PromptError> {
        let entry = self
            .entries
            .get(name)
            .ok_or_else(|| PromptError::UnknownPrompt {
                name: name.chars().take(60).collect(),
                known: self.entries.keys().cloned().collect::<Vec<_>>().join(", "),
            })?;
        let version = version.unwrap_or(entry.active);
        let text = entry
            .versions
            .get(&version)
            .ok_or_else(|| PromptError::UnknownVersion {
                name: name.to_string(),
                version,
                versions: entry
                    .versions
                    .keys()
                    .map(|v| format!("v{v}"))
                    .collect::<Vec<_>>()
                    .join(", "),
            })?;
        Ok(Template {
            name: name.to_string(),
            version,
            content_hash: content_hash(text),
            text: text.clone(),
        })
    }

    /// Renders a prompt strictly: every variable it uses must be in `vars`.
    pub fn render(
        &self,
        name: &str,
        version: Option<u32>,
        vars: &Value,
    ) -> Result<Rendered, PromptError> {
        let template = self.get(name, version)?;
        let mut hb = handlebars::Handlebars::new();
        hb.set_strict_mode(true);
        hb.register_escape_fn(handlebars::no_escape);
        let text = hb
            .render_template(&template.text, vars)
            .map_err(|e| PromptError::Render {
                name: template.name.clone(),
                version: template.version,
                detail: e.to_string(),
            })?;
        Ok(Rendered {
            name: template.name,
            version: template.version,
            content_hash: template.content_hash,
            text,
        })
    }
}

fn parse_manifest(origin: &str, text: &str) -> Result<Manifest, PromptError> {
    serde_yaml::from_str(text).map_err(|e| PromptError::Manifest {
        origin: origin.to_string(),
        detail: e.to_string(),
    })
}

fn read(path: &Path) -> Result<String, PromptError> {
    std::fs::read_to_string(path).map_err(|e| PromptError::File {
        path: path.display().to_string(),
        detail: e.to_string(),
    })
}

/// A vars file for `prompts render`: YAML or JSON (JSON is YAML), a mapping at the top.
pub fn read_vars(path: &PathBuf) -> Result<Value, PromptError> {
    let origin = path.display().to_string();
    let bad = |detail: String| PromptError::Vars {
        origin: origin.clone(),
        detail,
    };
    let size = std::fs::metadata(path)
        .map_err(|e| bad(e.to_string()))?
        .len();
    if size > MAX_VARS_BYTES {
        return Err(bad(format!(
            "{size} bytes; at most {MAX_VARS_BYTES} are read"
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| bad(e.to_string()))?;
    parse_vars(&text).map_err(bad)
}

fn parse_vars(text: &str) -> Result<Value, String> {
    let value: Value = serde_yaml::from_str(text).map_err(|e| format!("not YAML or JSON: {e}"))?;
    if value.is_object() {
        Ok(value)
    } else {
        Err("the variables must be a mapping (name: value) at the top".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_six_embedded_prompts_are_listed_with_their_hashes() {
        let prompts = Prompts::embedded().unwrap();
        let names: Vec<String> = prompts.list().into_iter().map(|p| p.name).collect();
        assert_eq!(
            names,
            [
                "clarify",
                "design_rationale",
                "digest_summary",
                "failover_runbook",
                "intent_parse",
                "path_explain"
            ]
        );
        let explain = prompts.get("path_explain", None).unwrap();
        assert_eq!(explain.content_hash, content_hash(&explain.text));
        assert_eq!(explain.content_hash.len(), 64);
    }

    #[test]
    fn unknown_names_and_versions_are_named() {
        let prompts = Prompts::embedded().unwrap();
        let e = prompts.get("haiku", None).unwrap_err().to_string();
        assert!(
            e.contains("unknown prompt 'haiku'") && e.contains("intent_parse"),
            "{e}"
        );
        let e = prompts.get("clarify", Some(9)).unwrap_err().to_string();
        assert!(e.contains("no version 9") && e.contains("v1"), "{e}");
    }

    #[test]
    fn a_missing_variable_is_an_error_not_an_empty_string() {
        let prompts = Prompts::embedded().unwrap();
        let e = prompts
            .render("clarify", None, &json!({}))
            .unwrap_err()
            .to_string();
        assert!(e.contains("prompt clarify v1"), "{e}");
    }

    #[test]
    fn vars_are_yaml_or_json_mappings() {
        assert_eq!(parse_vars("a: 1").unwrap(), json!({"a": 1}));
        assert_eq!(parse_vars("{\"a\": [1]}").unwrap(), json!({"a": [1]}));
        assert!(parse_vars("- 1").is_err());
        assert!(parse_vars("a: [").is_err());
    }

    #[test]
    fn a_manifest_naming_a_missing_version_is_refused() {
        let mut versions = BTreeMap::new();
        versions.insert("x".to_string(), BTreeMap::from([(1, "t".to_string())]));
        let e = Prompts::assemble(
            "m",
            parse_manifest("m", "active: {x: 2}").unwrap(),
            versions,
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("v2, which does not exist"), "{e}");
    }
}
