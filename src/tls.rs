//! TLS set-up shared by the HTTP client and (later) MQTT over TLS.

/// Installs rustls' *ring* provider as the process default, once. We build rustls
/// without a provider of its own choice so that aws-lc (and its C build) stays out.
pub fn install_crypto_provider() {
    // Err means a provider is already installed, which is all we need.
    let _ = rustls::crypto::ring::default_provider().install_default();
}
