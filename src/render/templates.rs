//! The config templates: embedded in the binary, overridable by path, rendered with
//! strict undefined variables and explicit quoting filters.
//!
//! Templates never interpolate a value raw into a config: every value goes through a
//! filter that either proves it is a safe bare token of the target format or quotes it
//! the way that format reads one value. A value that cannot be made safe (a newline in
//! an nginx string, say) fails the render instead of producing a config that means
//! something the blueprint did not say.

use crate::check::suggest::{did_you_mean, did_you_mean_hint};
use crate::render::overrides;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use minijinja::{Environment, Error, ErrorKind, UndefinedBehavior, Value};
use serde::Serialize;

/// Every template shipped in the binary, by the path `--templates DIR` overrides it at.
pub const EMBEDDED: &[(&str, &str)] = &[
    (
        "haproxy/haproxy.cfg.j2",
        include_str!("../../templates/haproxy/haproxy.cfg.j2"),
    ),
    (
        "nginx/nginx.conf.j2",
        include_str!("../../templates/nginx/nginx.conf.j2"),
    ),
    (
        "patroni/etcd.Dockerfile.j2",
        include_str!("../../templates/patroni/etcd.Dockerfile.j2"),
    ),
    (
        "patroni/etcd.yml.j2",
        include_str!("../../templates/patroni/etcd.yml.j2"),
    ),
    (
        "patroni/patroni.yml.j2",
        include_str!("../../templates/patroni/patroni.yml.j2"),
    ),
    (
        "patroni/router.cfg.j2",
        include_str!("../../templates/patroni/router.cfg.j2"),
    ),
    (
        "pgbouncer/pgbouncer.ini.j2",
        include_str!("../../templates/pgbouncer/pgbouncer.ini.j2"),
    ),
    (
        "pgbouncer/start.sh.j2",
        include_str!("../../templates/pgbouncer/start.sh.j2"),
    ),
    (
        "postgres/Dockerfile.j2",
        include_str!("../../templates/postgres/Dockerfile.j2"),
    ),
    (
        "postgres/backup.service.j2",
        include_str!("../../templates/postgres/backup.service.j2"),
    ),
    (
        "postgres/backup.timer.j2",
        include_str!("../../templates/postgres/backup.timer.j2"),
    ),
    (
        "postgres/init-primary.sh.j2",
        include_str!("../../templates/postgres/init-primary.sh.j2"),
    ),
    (
        "postgres/pg_hba.conf.j2",
        include_str!("../../templates/postgres/pg_hba.conf.j2"),
    ),
    (
        "postgres/pgbackrest.conf.j2",
        include_str!("../../templates/postgres/pgbackrest.conf.j2"),
    ),
    (
        "postgres/postgresql.conf.j2",
        include_str!("../../templates/postgres/postgresql.conf.j2"),
    ),
    (
        "postgres/start-replica.sh.j2",
        include_str!("../../templates/postgres/start-replica.sh.j2"),
    ),
    (
        "rabbitmq/enabled_plugins.j2",
        include_str!("../../templates/rabbitmq/enabled_plugins.j2"),
    ),
    (
        "rabbitmq/rabbitmq.conf.j2",
        include_str!("../../templates/rabbitmq/rabbitmq.conf.j2"),
    ),
    (
        "rabbitmq/start.sh.j2",
        include_str!("../../templates/rabbitmq/start.sh.j2"),
    ),
    (
        "redis/cluster-init.sh.j2",
        include_str!("../../templates/redis/cluster-init.sh.j2"),
    ),
    (
        "redis/redis.conf.j2",
        include_str!("../../templates/redis/redis.conf.j2"),
    ),
    (
        "redis/start.sh.j2",
        include_str!("../../templates/redis/start.sh.j2"),
    ),
];

/// A template problem: a bad override, a syntax error, or a failed render.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    #[error("template name `{name}` is not allowed: {reason}")]
    BadName { name: String, reason: &'static str },
    #[error("no template is named `{name}`{}", suggest(suggestion))]
    Unknown {
        name: String,
        suggestion: Option<String>,
    },
    #[error("{path}: overrides no template{}", suggest(suggestion))]
    StrayOverride {
        path: String,
        suggestion: Option<String>,
    },
    #[error("cannot read templates from {path}: {source}")]
    Io {
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} {what}: tierform reads only regular files under --templates DIR and follows no symbolic link")]
    NotRead { path: String, what: &'static str },
    #[error("template {name}: {message}")]
    Template { name: String, message: String },
}

fn suggest(s: &Option<String>) -> String {
    s.as_ref()
        .map(|s| format!(" ({})", did_you_mean_hint(s)))
        .unwrap_or_default()
}

fn template_error(name: &str, e: &Error) -> TemplateError {
    let mut message = e.to_string();
    if let Some(line) = e.line() {
        if !message.contains("line") {
            message.push_str(&format!(" (line {line})"));
        }
    }
    let mut cause = std::error::Error::source(e);
    while let Some(c) = cause {
        message.push_str(&format!(": {c}"));
        cause = c.source();
    }
    TemplateError::Template {
        name: name.to_string(),
        message,
    }
}

/// Checks a template name: a relative path of plain components.
pub fn check_name(name: &str) -> Result<(), TemplateError> {
    let bad = |reason| TemplateError::BadName {
        name: name.to_string(),
        reason,
    };
    if name.is_empty() {
        return Err(bad("it is empty"));
    }
    if name.starts_with('/') || name.starts_with('\\') || Path::new(name).is_absolute() {
        return Err(bad("it is an absolute path"));
    }
    if name.contains('\\') {
        return Err(bad("use `/` between folders"));
    }
    if name
        .split('/')
        .any(|c| c == ".." || c == "." || c.is_empty())
    {
        return Err(bad(
            "it must be a plain relative path (no `..`, `.` or `//`)",
        ));
    }
    Ok(())
}

/// The embedded template's text.
pub fn embedded(name: &str) -> Result<&'static str, TemplateError> {
    check_name(name)?;
    EMBEDDED
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, src)| *src)
        .ok_or_else(|| TemplateError::Unknown {
            name: name.to_string(),
            suggestion: closest(name),
        })
}

pub(super) fn closest(name: &str) -> Option<String> {
    let names: Vec<String> = EMBEDDED.iter().map(|(n, _)| n.to_string()).collect();
    did_you_mean(name, &names)
}

/// The template set a render uses.
pub struct Templates {
    env: Environment<'static>,
    overridden: BTreeSet<String>,
}

impl Templates {
    /// The embedded templates only.
    pub fn embedded() -> Result<Self, TemplateError> {
        Self::build(BTreeMap::new())
    }

    /// The embedded templates, with any `.j2` file under `dir` replacing the embedded
    /// template at the same relative path. A `.j2` file that matches no template is an
    /// error, so a misspelt override is never silently ignored. Overrides are read and
    /// run within the bounds of [`overrides`] (no links, fuel, output size).
    pub fn with_overrides(dir: &Path) -> Result<Self, TemplateError> {
        Self::build(overrides::read_overrides(dir)?)
    }

    fn build(overrides: BTreeMap<String, String>) -> Result<Self, TemplateError> {
        let mut env = Environment::new();
        env.set_undefined_behavior(UndefinedBehavior::Strict);
        env.set_trim_blocks(true);
        env.set_lstrip_blocks(true);
        env.set_keep_trailing_newline(true);
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::None);
        register_filters(&mut env);
        if !overrides.is_empty() {
            env.set_fuel(Some(overrides::OVERRIDE_FUEL));
        }
        let overridden = overrides.keys().cloned().collect();
        for (name, src) in EMBEDDED {
            let text = match overrides.get(*name) {
                Some(t) => t.clone(),
                None => (*src).to_string(),
            };
            env.add_template_owned(name.to_string(), text)
                .map_err(|e| template_error(name, &e))?;
        }
        Ok(Templates { env, overridden })
    }

    /// The names of the templates replaced by `--templates`.
    pub fn overridden(&self) -> &BTreeSet<String> {
        &self.overridden
    }

    /// Renders one template with a serializable context.
    pub fn render<S: Serialize>(&self, name: &str, ctx: &S) -> Result<String, TemplateError> {
        let tmpl = self
            .env
            .get_template(name)
            .map_err(|e| template_error(name, &e))?;
        let mut out = overrides::Bounded(Vec::new());
        tmpl.render_captured_to(ctx, &mut out)
            .map_err(|e| template_error(name, &e))?;
        String::from_utf8(out.0).map_err(|e| TemplateError::Template {
            name: name.to_string(),
            message: e.to_string(),
        })
    }
}

pub(super) fn relative_name(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(s) => parts.push(s.to_str()?.to_string()),
            _ => return None,
        }
    }
    Some(parts.join("/"))
}

/// Where `templates eject` writes a template: `DIR/NAME`.
pub fn eject_path(dir: &Path, name: &str) -> Result<PathBuf, TemplateError> {
    embedded(name)?;
    Ok(name.split('/').fold(dir.to_path_buf(), |p, c| p.join(c)))
}

fn unsafe_value(filter: &str, value: &str, why: &str) -> Error {
    Error::new(
        ErrorKind::InvalidOperation,
        format!("`{filter}` refuses {value:?}: {why}"),
    )
}

/// A bare nginx or HAProxy word: letters, digits and `._~:/[]-`, nothing that ends a
/// directive, opens a block, starts a comment or a variable, or needs quoting.
fn bare_token(filter: &str, value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    if s.is_empty() {
        return Err(unsafe_value(filter, &s, "it is empty"));
    }
    if let Some(c) = s
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || "._~:/[]-".contains(*c)))
    {
        return Err(unsafe_value(
            filter,
            &s,
            &format!("{c:?} could end or change the directive"),
        ));
    }
    Ok(s)
}

fn value_text(value: &Value) -> String {
    match value.as_str() {
        Some(s) => s.to_string(),
        None => value.to_string(),
    }
}

/// An nginx double-quoted string. nginx expands `$` in many string arguments and has
/// no escape for it, so a `$` (or any control character) is refused.
fn nginx_quote(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    if let Some(c) = s.chars().find(|c| c.is_control() || *c == '$') {
        return Err(unsafe_value(
            "nginx_quote",
            &s,
            &format!("{c:?} cannot be quoted for nginx"),
        ));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\").replace('"', "\\\"")
    ))
}

/// An HAProxy double-quoted argument: `\`, `"` and `$` escaped; control characters refused.
fn haproxy_quote(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(unsafe_value(
            "haproxy_quote",
            &s,
            &format!("{c:?} cannot be quoted for HAProxy"),
        ));
    }
    Ok(format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('$', "\\$")
    ))
}

/// A request header name as nginx's variable for it: `X-Device-Id` → `$http_x_device_id`.
fn nginx_header_var(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    if s.is_empty() || !s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(unsafe_value("nginx_header_var", &s, "not a header name"));
    }
    Ok(format!(
        "$http_{}",
        s.to_ascii_lowercase().replace('-', "_")
    ))
}

/// A name matched literally inside a regular expression, without backslashes (nginx and
/// HAProxy both treat `\` in quoted strings specially): `.` becomes `[.]`.
fn regex_literal(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    let mut out = String::new();
    for c in s.chars() {
        match c {
            c if c.is_ascii_alphanumeric() || c == '_' || c == '-' => out.push(c),
            '.' => out.push_str("[.]"),
            other => {
                return Err(unsafe_value(
                    "regex_literal",
                    &s,
                    &format!("{other:?} is not allowed in a literal"),
                ))
            }
        }
    }
    Ok(out)
}

/// Milliseconds as the shortest exact nginx/HAProxy time: `5000` → `5s`, `300000` → `5m`.
fn duration(value: &Value) -> Result<String, Error> {
    let ms = u64::try_from(value.clone()).map_err(|_| {
        unsafe_value(
            "duration",
            &value_text(value),
            "not a whole number of milliseconds",
        )
    })?;
    Ok(format_duration(ms))
}

pub use crate::model::units::format_duration;

/// Hundredths of a percent as nginx `split_clients` writes a share: `9000` → `90.00%`.
fn percent(value: &Value) -> Result<String, Error> {
    let bp = u64::try_from(value.clone())
        .map_err(|_| unsafe_value("percent", &value_text(value), "not a whole number"))?;
    Ok(format!("{}.{:02}%", bp / 100, bp % 100))
}

/// An address and port: `10.0.1.1:80`, `[::1]:80`, `api:8000`, or `8080` alone.
fn host_port(host: &Value, port: Value) -> Result<String, Error> {
    let h = value_text(host);
    let p = u16::try_from(port.clone())
        .map_err(|_| unsafe_value("host_port", &value_text(&port), "not a port"))?;
    if h.is_empty() {
        return Ok(p.to_string());
    }
    let h = bare_token("host_port", &Value::from(h))?;
    Ok(format!("{}:{p}", super::url_host(&h)))
}

/// A YAML double-quoted scalar (a JSON string, which YAML reads the same way): no
/// value can end the scalar or start another key.
fn yaml_str(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    serde_json::to_string(&s).map_err(|e| unsafe_value("yaml_str", &s, &e.to_string()))
}

/// A PostgreSQL single-quoted string: `'` doubled; control characters refused.
fn pg_quote(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    if let Some(c) = s.chars().find(|c| c.is_control()) {
        return Err(unsafe_value(
            "pg_quote",
            &s,
            &format!("{c:?} cannot be quoted for PostgreSQL"),
        ));
    }
    Ok(format!("'{}'", s.replace('\\', "\\\\").replace('\'', "''")))
}

/// A lowercase SQL identifier, as validation admits them: `[a-z_][a-z0-9_]*`.
fn sql_ident(value: &Value) -> Result<String, Error> {
    let s = value_text(value);
    let ok = s.starts_with(|c: char| c.is_ascii_lowercase() || c == '_')
        && s.chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_')
        && s.len() <= 63;
    if !ok {
        return Err(unsafe_value(
            "sql_ident",
            &s,
            "not a lowercase SQL identifier",
        ));
    }
    Ok(s)
}

/// A lowercase SQL identifier, double-quoted for SQL statements, so a name like `user`
/// or `select` is a name and not a keyword.
fn sql_quoted_ident(value: &Value) -> Result<String, Error> {
    Ok(format!("\"{}\"", sql_ident(value)?))
}

/// Bytes for people: `512Mi`, `1.5Gi`.
fn bytes(value: &Value) -> Result<String, Error> {
    let n = u64::try_from(value.clone())
        .map_err(|_| unsafe_value("bytes", &value_text(value), "not a whole number"))?;
    Ok(crate::model::units::format_bytes(n))
}

fn register_filters(env: &mut Environment<'static>) {
    env.add_filter("redis_token", |v: Value| bare_token("redis_token", &v));
    env.add_filter("pg_token", |v: Value| bare_token("pg_token", &v));
    env.add_filter("ini_token", |v: Value| bare_token("ini_token", &v));
    env.add_filter("pg_quote", |v: Value| pg_quote(&v));
    env.add_filter("sql_ident", |v: Value| sql_ident(&v));
    env.add_filter("sql_quoted_ident", |v: Value| sql_quoted_ident(&v));
    env.add_filter("bytes", |v: Value| bytes(&v));
    env.add_filter("nginx_token", |v: Value| bare_token("nginx_token", &v));
    env.add_filter("haproxy_token", |v: Value| bare_token("haproxy_token", &v));
    env.add_filter("nginx_quote", |v: Value| nginx_quote(&v));
    env.add_filter("haproxy_quote", |v: Value| haproxy_quote(&v));
    env.add_filter("nginx_header_var", |v: Value| nginx_header_var(&v));
    env.add_filter("regex_literal", |v: Value| regex_literal(&v));
    env.add_filter("duration", |v: Value| duration(&v));
    env.add_filter("percent", |v: Value| percent(&v));
    env.add_filter("host_port", host_port);
    env.add_filter("yaml_str", |v: Value| yaml_str(&v));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(check_name("nginx/nginx.conf.j2").is_ok());
        for bad in ["", "/etc/passwd", "../x", "a/../b", "a//b", "./a", "a\\b"] {
            assert!(check_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn filters_refuse_what_would_inject() {
        let t = |s: &str| bare_token("t", &Value::from(s));
        assert_eq!(t("/api/v1").unwrap(), "/api/v1");
        for bad in [
            "a;b", "a b", "{", "}", "#x", "$x", "a\nb", "'q'", "\"q\"", "",
        ] {
            assert!(t(bad).is_err(), "{bad:?}");
        }
        assert_eq!(nginx_quote(&Value::from("a\"b\\")).unwrap(), r#""a\"b\\""#);
        assert!(nginx_quote(&Value::from("$host")).is_err());
        assert!(nginx_quote(&Value::from("a\nb")).is_err());
        assert_eq!(haproxy_quote(&Value::from("a$b")).unwrap(), r#""a\$b""#);
        assert_eq!(
            nginx_header_var(&Value::from("X-Device-Id")).unwrap(),
            "$http_x_device_id"
        );
        assert_eq!(regex_literal(&Value::from("a.b-c")).unwrap(), "a[.]b-c");
        assert!(regex_literal(&Value::from("a(b")).is_err());
    }

    #[test]
    fn durations_and_percentages() {
        assert_eq!(format_duration(5_000), "5s");
        assert_eq!(format_duration(300_000), "5m");
        assert_eq!(format_duration(3_600_000), "1h");
        assert_eq!(format_duration(1_500), "1500ms");
        assert_eq!(percent(&Value::from(9000)).unwrap(), "90.00%");
        assert_eq!(percent(&Value::from(3333)).unwrap(), "33.33%");
        assert_eq!(
            host_port(&Value::from("::1"), Value::from(80)).unwrap(),
            "[::1]:80"
        );
        assert_eq!(
            host_port(&Value::from(""), Value::from(8080)).unwrap(),
            "8080"
        );
    }
}
