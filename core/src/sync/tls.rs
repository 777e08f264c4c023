//! TLS to a relay (feature `tls`): rustls with the *ring* crypto provider and the platform's
//! certificate verifier. One configuration serves both clients: https through reqwest (the
//! relay client) and wss through tokio-tungstenite (the live channel).
//!
//! * **ring, not aws-lc-rs** (reqwest's default provider): the same TLS 1.2/1.3 suites,
//!   ECDHE with X25519 and the NIST curves, for 0.7 MB less in the mobile library
//!   (BENCHMARKS.md, "Mobile library size"). What aws-lc-rs adds and ring lacks is the
//!   post-quantum hybrid key exchange (X25519MLKEM768); what TLS protects here is metadata
//!   and bearer tokens, since every blob is sealed end to end before it leaves the device.
//! * **The platform verifier** (rustls-platform-verifier): the OS decides whom to trust, as
//!   for the phone's other apps — the system and user-installed roots, enterprise policy,
//!   revocation where the OS checks it — on iOS/macOS (Security.framework), Android (its
//!   `X509TrustManager`; the app must initialise rustls-platform-verifier first, see
//!   mobile-bindings/README.md) and Windows; on other Unix systems the system's CA bundle.
//!   A bundled root list (webpki-roots) would go stale with the app and ignore the
//!   device's own trust settings.

use std::sync::Arc;

use rustls::ClientConfig;
use rustls_platform_verifier::BuilderVerifierExt;

use crate::error::{Error, Result};

/// The crypto provider for every TLS connection to a relay.
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration: TLS 1.3 and 1.2, the platform's verifier, no client
/// certificate, no ALPN (each client adds its own; see [`for_http`]).
pub(crate) fn client_config() -> Result<ClientConfig> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .and_then(|b| b.with_platform_verifier())
        .map(|b| b.with_no_client_auth())
        .map_err(|e| Error::Internal(format!("tls configuration: {e}")))
}

/// The configuration as reqwest needs it: ALPN `http/1.1`, as reqwest sets it itself for a
/// client without HTTP/2 when it builds the configuration.
pub(crate) fn for_http(mut config: ClientConfig) -> ClientConfig {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    config
}
