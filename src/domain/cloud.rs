//! Clouds and regions with their canonical names. "East US", "eastus" and
//! "us-east" style aliases all resolve to one canonical `Region`.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Cloud {
    Aws,
    Azure,
    Gcp,
    Onprem,
}

impl Cloud {
    pub const ALL: [Cloud; 4] = [Cloud::Aws, Cloud::Azure, Cloud::Gcp, Cloud::Onprem];

    pub fn as_str(self) -> &'static str {
        match self {
            Cloud::Aws => "aws",
            Cloud::Azure => "azure",
            Cloud::Gcp => "gcp",
            Cloud::Onprem => "onprem",
        }
    }

    /// Known regions in canonical form. On-prem "regions" are data-centre names and
    /// come from the estate, so this list is empty for `Onprem`.
    pub fn known_regions(self) -> &'static [&'static str] {
        match self {
            Cloud::Aws => AWS_REGIONS,
            Cloud::Azure => AZURE_REGIONS,
            Cloud::Gcp => GCP_REGIONS,
            Cloud::Onprem => &[],
        }
    }
}

impl fmt::Display for Cloud {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CloudError {
    #[error("unknown cloud '{0}' (expected aws, azure, gcp or onprem)")]
    UnknownCloud(String),
    #[error("unknown {cloud} region '{given}'{hint}")]
    UnknownRegion {
        cloud: Cloud,
        given: String,
        hint: String,
    },
}

impl FromStr for Cloud {
    type Err = CloudError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.trim().to_ascii_lowercase().as_str() {
            "aws" | "amazon" => Ok(Cloud::Aws),
            "azure" | "microsoft" => Ok(Cloud::Azure),
            "gcp" | "google" | "google cloud" => Ok(Cloud::Gcp),
            "onprem" | "on-prem" | "on-premises" | "on prem" | "datacenter" | "dc" => {
                Ok(Cloud::Onprem)
            }
            _ => Err(CloudError::UnknownCloud(s.chars().take(40).collect())),
        }
    }
}

const AWS_REGIONS: &[&str] = &[
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "ca-central-1",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-central-1",
    "eu-north-1",
    "eu-south-1",
    "ap-south-1",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "sa-east-1",
];

const AZURE_REGIONS: &[&str] = &[
    "eastus",
    "eastus2",
    "westus",
    "westus2",
    "westus3",
    "centralus",
    "northcentralus",
    "southcentralus",
    "canadacentral",
    "westeurope",
    "northeurope",
    "uksouth",
    "ukwest",
    "francecentral",
    "germanywestcentral",
    "swedencentral",
    "japaneast",
    "australiaeast",
    "southeastasia",
    "brazilsouth",
];

const GCP_REGIONS: &[&str] = &[
    "us-central1",
    "us-east1",
    "us-east4",
    "us-west1",
    "us-west2",
    "northamerica-northeast1",
    "europe-west1",
    "europe-west2",
    "europe-west3",
    "europe-west4",
    "europe-north1",
    "asia-east1",
    "asia-northeast1",
    "asia-southeast1",
    "australia-southeast1",
    "southamerica-east1",
];

/// A region in its cloud's canonical form (`us-east-1`, `eastus`, `us-central1`, `dc1`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Region {
    pub cloud: Cloud,
    pub name: String,
}

impl Region {
    /// Canonicalises `given` for `cloud`. Azure display names ("East US") fold to
    /// their ARM names ("eastus"); AWS and GCP names are matched case-insensitively.
    /// On-prem names are taken as written (lower-cased) and checked against the
    /// estate by the caller.
    pub fn parse(cloud: Cloud, given: &str) -> Result<Region, CloudError> {
        let folded = canonical_form(cloud, given);
        if cloud == Cloud::Onprem {
            if folded.is_empty() || folded.len() > 64 {
                return Err(CloudError::UnknownRegion {
                    cloud,
                    given: given.chars().take(40).collect(),
                    hint: String::new(),
                });
            }
            return Ok(Region {
                cloud,
                name: folded,
            });
        }
        if cloud.known_regions().contains(&folded.as_str()) {
            Ok(Region {
                cloud,
                name: folded,
            })
        } else {
            let hint = format!(" (known: {})", cloud.known_regions().join(", "));
            Err(CloudError::UnknownRegion {
                cloud,
                given: given.chars().take(40).collect(),
                hint,
            })
        }
    }

    /// Which clouds know `given` as a region name (used when an intent names a
    /// region but not the cloud).
    pub fn clouds_with(given: &str) -> Vec<Cloud> {
        [Cloud::Aws, Cloud::Azure, Cloud::Gcp]
            .into_iter()
            .filter(|c| {
                c.known_regions()
                    .contains(&canonical_form(*c, given).as_str())
            })
            .collect()
    }
}

fn canonical_form(cloud: Cloud, given: &str) -> String {
    let lower = given.trim().to_ascii_lowercase();
    match cloud {
        Cloud::Azure => lower
            .chars()
            .filter(|c| !c.is_whitespace() && *c != '-')
            .collect(),
        _ => lower,
    }
}

impl fmt::Display for Region {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn azure_display_names_fold_to_arm_names() {
        for given in ["East US", "eastus", "EASTUS", "east-us"] {
            assert_eq!(Region::parse(Cloud::Azure, given).unwrap().name, "eastus");
        }
        assert_eq!(
            Region::parse(Cloud::Azure, "West Europe").unwrap().name,
            "westeurope"
        );
    }

    #[test]
    fn unknown_regions_are_named_in_the_error() {
        let err = Region::parse(Cloud::Aws, "us-east-9").unwrap_err();
        assert!(err.to_string().contains("us-east-9"), "{err}");
        assert!("mars".parse::<Cloud>().is_err());
    }

    #[test]
    fn bare_region_names_find_their_cloud() {
        assert_eq!(Region::clouds_with("us-east-1"), vec![Cloud::Aws]);
        assert_eq!(Region::clouds_with("East US"), vec![Cloud::Azure]);
        assert_eq!(Region::clouds_with("us-central1"), vec![Cloud::Gcp]);
    }
}
