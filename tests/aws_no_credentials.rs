//! AWS discovery with nothing in the standard credential chain: a clear
//! `Credentials` error before any API call. Its own test binary because it
//! empties the process environment of AWS credentials.

use switchboard::providers::aws::{AwsDiscovery, AwsDiscoveryConfig};
use switchboard::topology::{DiscoveryError, InventorySource};

#[tokio::test]
async fn missing_credentials_are_a_clear_error() {
    for var in [
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "AWS_WEB_IDENTITY_TOKEN_FILE",
        "AWS_ROLE_ARN",
        "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI",
        "AWS_CONTAINER_CREDENTIALS_FULL_URI",
    ] {
        std::env::remove_var(var);
    }
    let nowhere = tempfile::tempdir().unwrap();
    std::env::set_var(
        "AWS_SHARED_CREDENTIALS_FILE",
        nowhere.path().join("credentials"),
    );
    std::env::set_var("AWS_CONFIG_FILE", nowhere.path().join("config"));
    // Never ask the instance metadata service (a link-local address).
    std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");

    let discovery = AwsDiscovery::new(AwsDiscoveryConfig {
        regions: vec!["us-east-1".into()],
        endpoint: Some("http://127.0.0.1:9".into()),
        ..AwsDiscoveryConfig::default()
    });
    match discovery.inventory().await {
        Err(e @ DiscoveryError::Credentials { .. }) => {
            let text = e.to_string();
            assert!(text.starts_with("aws: no credentials: "), "{text}");
            assert!(text.contains("AWS_ACCESS_KEY_ID"), "{text}");
        }
        other => panic!("expected a credentials error, got {other:?}"),
    }
}
