//! A datastore's connection URL, the form frameworks read directly (`DATABASE_URL`,
//! `REDIS_URL`, `CELERY_BROKER_URL`, `AMQP_URL`), built from its connection variables
//! so both always agree: the same host, port, user and database, and the password as
//! a reference to the secret, never its value.

use super::{EnginePlan, EnvPart, EnvValue, EnvVar};

/// The URL of a datastore whose connection variables (`<prefix>_HOST`, …) are `vars`;
/// `None` when it has no node on the platform.
pub(super) fn url(engine: &EnginePlan, prefix: &str, vars: &[EnvVar]) -> Option<EnvValue> {
    let literal = |suffix: &str| {
        let name = format!("{prefix}_{suffix}");
        vars.iter()
            .find(|v| v.name == name)
            .and_then(|v| match &v.value {
                EnvValue::Literal(text) => Some(text.clone()),
                _ => None,
            })
    };
    let password = format!("{prefix}_PASSWORD");
    let key = vars
        .iter()
        .find(|v| v.name == password)
        .and_then(|v| match &v.value {
            EnvValue::Secret(key) => Some(key.clone()),
            _ => None,
        })?;
    let host = literal("HOST")?;
    // An IPv6 address is bracketed in a URL.
    let host = if host.contains(':') {
        format!("[{host}]")
    } else {
        host
    };
    let address = format!("@{host}:{}", literal("PORT")?);
    let (scheme, user, path) = match engine {
        EnginePlan::Postgres(_) => (
            "postgresql",
            literal("USER")?,
            format!("/{}", literal("NAME")?),
        ),
        // Redis's default user, with the password `requirepass` sets; database 0.
        EnginePlan::Redis(_) => ("redis", String::new(), "/0".to_string()),
        // The virtual host is the path, percent-encoded: `/` is `%2F`.
        EnginePlan::Rabbitmq(_) => (
            "amqp",
            literal("USER")?,
            format!(
                "/{}",
                literal("VHOST")?.replace('%', "%25").replace('/', "%2F")
            ),
        ),
    };
    Some(EnvValue::Composed(vec![
        EnvPart::Text(format!("{scheme}://{user}:")),
        EnvPart::Secret { var: password, key },
        EnvPart::Text(format!("{address}{path}")),
    ]))
}
