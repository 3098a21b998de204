//! rustls client configuration: system roots, ALPN, and the explicit `insecure` opt-out.

use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{ring, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};

use super::EngineError;
use crate::spec::plan::Target;

pub fn client_config(target: &Target) -> Result<ClientConfig, EngineError> {
    let provider = Arc::new(ring::default_provider());
    let builder = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .map_err(|e| EngineError::Tls(e.to_string()))?;
    let mut config = if target.insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider)))
            .with_no_client_auth()
    } else {
        let mut roots = RootCertStore::empty();
        let found = rustls_native_certs::load_native_certs();
        let (added, _ignored) = roots.add_parsable_certificates(found.certs);
        if added == 0 {
            return Err(EngineError::Tls(
                "no trusted root certificates found on this system (install ca-certificates), or set target.insecure = true for a test gateway".into(),
            ));
        }
        builder.with_root_certificates(roots).with_no_client_auth()
    };
    config.alpn_protocols = if target.http2 {
        vec![b"h2".to_vec()]
    } else {
        vec![b"http/1.1".to_vec()]
    };
    Ok(config)
}

/// `insecure = true`: accept any certificate, still check handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// A failed handshake in words an operator can act on; rustls and webpki
/// print their errors as Rust debug text (`Other(OtherError(CaUsedAsEndEntity))`).
pub fn words(e: &std::io::Error) -> String {
    let Some(tls) = e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) else {
        return e.to_string();
    };
    use rustls::CertificateError as C;
    match tls {
        rustls::Error::InvalidCertificate(c) => {
            let what = match c {
                C::BadEncoding => "it is not a valid certificate".to_owned(),
                C::Expired | C::ExpiredContext { .. } => "it has expired".to_owned(),
                C::NotValidYet | C::NotValidYetContext { .. } => {
                    "it is not valid yet (check this machine's clock)".to_owned()
                }
                C::Revoked => "it has been revoked".to_owned(),
                C::UnknownIssuer => {
                    "it is not signed by a CA this machine trusts (a self-signed or private CA? add it to the system roots, or set target.insecure = true for a test gateway)".to_owned()
                }
                C::BadSignature => "its signature does not verify".to_owned(),
                C::NotValidForName | C::NotValidForNameContext { .. } => {
                    "it is not valid for the host name in the URL".to_owned()
                }
                C::InvalidPurpose | C::InvalidPurposeContext { .. } => {
                    "it is not meant for a TLS server (wrong key usage)".to_owned()
                }
                C::Other(o) => webpki_words(&o.to_string()),
                other => format!("{other:?}"),
            };
            format!("the server's certificate was refused: {what}")
        }
        rustls::Error::AlertReceived(a) => {
            format!("the server ended the handshake with the TLS alert '{a:?}'")
        }
        rustls::Error::InvalidMessage(_) => {
            "the server did not answer in TLS (is it plain HTTP? then use http://)".to_owned()
        }
        rustls::Error::NoApplicationProtocol => {
            "the server supports none of the offered protocols (ALPN)".to_owned()
        }
        rustls::Error::PeerIncompatible(p) => {
            format!("the server's TLS is incompatible with rustls: {p:?}")
        }
        other => other.to_string(),
    }
}

/// The server ended the handshake because it speaks none of the offered
/// protocols (ALPN): for an HTTP/2 run, it does not speak h2.
pub fn refused_alpn(e: &std::io::Error) -> bool {
    matches!(
        e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()),
        Some(rustls::Error::AlertReceived(
            rustls::AlertDescription::NoApplicationProtocol
        ))
    )
}

/// webpki's errors print as their variant names.
fn webpki_words(name: &str) -> String {
    match name {
        "CaUsedAsEndEntity" => {
            "the server presented a CA certificate as its own (it must send a leaf certificate signed by that CA)".to_owned()
        }
        "EndEntityUsedAsCa" => "a leaf certificate was used as a CA in the chain".to_owned(),
        "UnknownIssuer" => "it is not signed by a CA this machine trusts".to_owned(),
        "CertNotValidForName" => "it is not valid for the host name in the URL".to_owned(),
        "RequiredEkuNotFound" => "it is not meant for a TLS server (no serverAuth usage)".to_owned(),
        "SelfSigned" => "it is self-signed".to_owned(),
        _ => format!("{name} (from webpki)"),
    }
}
