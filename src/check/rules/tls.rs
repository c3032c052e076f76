//! TLS at the balancer: the certificate each target platform needs, its ports and
//! its HSTS header.

use super::Checker;
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;
use crate::model::{HstsSetting, Platform};
use crate::source::pointer::Pointer;

/// The longest HSTS `max_age` accepted: two years, the longest browsers' preload lists
/// ask for.
pub(crate) const MAX_HSTS_SECONDS: u64 = 2 * 365 * 86_400;

impl Checker<'_> {
    pub(super) fn tls(&mut self, targets: &[Platform]) {
        let Some(lb) = &self.bp.balancer else {
            return;
        };
        let Some(tls) = &lb.tls else {
            return;
        };
        let ptr = Pointer::build(["balancer", "tls"]);
        let cert = ptr.child("certificate");
        let files = targets
            .iter()
            .filter(|p| matches!(p, Platform::Compose | Platform::Hosts))
            .map(|p| format!("`{}`", p.as_str()))
            .collect::<Vec<_>>();
        if !files.is_empty() {
            for (field, value) in [
                ("file", &tls.certificate.file),
                ("key_file", &tls.certificate.key_file),
            ] {
                if value.is_none() {
                    self.push(
                        Diagnostic::error(
                            Code::MissingField,
                            cert.clone(),
                            format!(
                                "the certificate has no `{field}`, which {} needs",
                                files.join(" and ")
                            ),
                        )
                        .hint(format!(
                            "add `{field}:` with the absolute path of the {} on the balancer's machine (tierform mounts it read-only and never writes it)",
                            if field == "file" { "certificate (PEM, full chain)" } else { "private key (PEM)" }
                        )),
                    );
                }
            }
        }
        if targets.contains(&Platform::Kubernetes) && tls.certificate.secret.is_none() {
            self.push(
                Diagnostic::error(
                    Code::MissingField,
                    cert.clone(),
                    "the certificate has no `secret`, which `kubernetes` needs",
                )
                .hint("add `secret:` with the name of a Secret of type kubernetes.io/tls in the namespace (e.g. one cert-manager keeps)"),
            );
        }
        for (field, value) in [
            ("file", &tls.certificate.file),
            ("key_file", &tls.certificate.key_file),
        ] {
            if let Some(path) = value {
                if path.split('/').any(|part| part == "." || part == "..") || path.contains("//") {
                    self.push(
                        Diagnostic::error(
                            Code::InvalidPath,
                            cert.child(field),
                            format!("path `{path}` contains `.`, `..` or `//`"),
                        )
                        .expected(
                            "a normalized absolute path like `/etc/ssl/example.com/fullchain.pem`",
                        ),
                    );
                }
            }
        }
        if tls.certificate.file.is_some() && tls.certificate.file == tls.certificate.key_file {
            self.push(
                Diagnostic::error(
                    Code::ConflictingFields,
                    cert.child("key_file"),
                    "`key_file` is the certificate's own file",
                )
                .hint("give the private key as a file of its own (e.g. `privkey.pem` beside `fullchain.pem`)"),
            );
        }
        if tls.listen == lb.listen {
            self.push(
                Diagnostic::error(
                    Code::PortConflict,
                    ptr.child("listen"),
                    format!("HTTPS and plain HTTP both on port {}", lb.listen),
                )
                .hint("HTTPS needs a port of its own: 443 with `balancer.listen: 80` is the usual pair"),
            );
        }
        if let Some(HstsSetting::Policy(h)) = &tls.hsts {
            if let Some(age) = &h.max_age {
                let at = ptr.child("hsts").child("max_age");
                match age.millis() {
                    None => self.push(
                        Diagnostic::error(
                            Code::InvalidDuration,
                            at,
                            format!("`{age}` is not a duration"),
                        )
                        .expected("a number and a unit (ms, s, m, h, d), like `365d`"),
                    ),
                    Some(ms) if ms < 1000 => self.push(
                        Diagnostic::error(
                            Code::OutOfRange,
                            at,
                            format!("`{age}` is under a second"),
                        )
                        .hint("to send no Strict-Transport-Security header, write `hsts: false`"),
                    ),
                    Some(ms) if ms / 1000 > MAX_HSTS_SECONDS => self.push(
                        Diagnostic::error(
                            Code::OutOfRange,
                            at,
                            format!("`{age}` is longer than two years"),
                        )
                        .expected("at most `730d`"),
                    ),
                    Some(_) => {}
                }
            }
        }
    }
}
