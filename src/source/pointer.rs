//! JSON pointers (RFC 6901): the one type that builds, splits and walks up them, so
//! every pointer tierform writes escapes `~` and `/` in a name the same way.

use std::fmt;

/// A JSON pointer such as `/services/api/port`; the empty pointer is the whole document.
/// Tokens are escaped when pushed (`a/b` → `a~1b`) and unescaped when read back.
#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Pointer(String);

impl Pointer {
    /// The pointer to the whole document (the empty text).
    pub fn root() -> Pointer {
        Pointer(String::new())
    }

    /// The pointer through the given (unescaped) tokens, from the root.
    pub fn build<T: AsRef<str>>(tokens: impl IntoIterator<Item = T>) -> Pointer {
        let mut pointer = Pointer::root();
        for token in tokens {
            pointer.push(token.as_ref());
        }
        pointer
    }

    /// Appends one token (a name, or an index), escaping it.
    pub fn push(&mut self, token: impl fmt::Display) {
        use fmt::Write;
        self.0.push('/');
        // Escaped as it is formatted: no copy of the token on the way.
        let _ = write!(Escaping(&mut self.0), "{token}");
    }

    /// Appends `/` and one name, escaping it, to pointer text being built.
    pub fn push_name(text: &mut String, name: &str) {
        use fmt::Write;
        text.reserve(name.len() + 1);
        text.push('/');
        let _ = Escaping(text).write_str(name);
    }

    /// This pointer with one more token (a name, or an index).
    pub fn child(&self, token: impl fmt::Display) -> Pointer {
        let mut out = self.clone();
        out.push(token);
        out
    }

    /// The pointer of the parent (the root's parent is the root).
    pub fn parent(&self) -> Pointer {
        match self.0.rfind('/') {
            Some(i) => Pointer(self.0[..i].to_string()),
            None => Pointer::root(),
        }
    }

    /// The unescaped tokens, from the root down.
    pub fn tokens(&self) -> impl Iterator<Item = String> + '_ {
        Pointer::split(&self.0)
    }

    /// The last token, unescaped; `None` for the root.
    pub fn last(&self) -> Option<String> {
        self.tokens().last()
    }

    /// The unescaped tokens of pointer text (already escaped, as RFC 6901 writes it).
    pub fn split(text: &str) -> impl Iterator<Item = String> + '_ {
        text.split('/')
            .skip(1)
            .map(|t| t.replace("~1", "/").replace("~0", "~"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Writes what is formatted into pointer text, escaping `~` and `/`.
struct Escaping<'a>(&'a mut String);

impl fmt::Write for Escaping<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if s.contains(['~', '/']) {
            for c in s.chars() {
                match c {
                    '~' => self.0.push_str("~0"),
                    '/' => self.0.push_str("~1"),
                    c => self.0.push(c),
                }
            }
        } else {
            self.0.push_str(s);
        }
        Ok(())
    }
}

/// Pointer text, already escaped (as a diagnostic or a node's origin holds it).
impl From<&str> for Pointer {
    fn from(text: &str) -> Pointer {
        Pointer(text.to_string())
    }
}

impl From<String> for Pointer {
    fn from(text: String) -> Pointer {
        Pointer(text)
    }
}

impl From<Pointer> for String {
    fn from(pointer: Pointer) -> String {
        pointer.0
    }
}

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::Pointer;

    #[test]
    fn escapes_round_trip() {
        let p = Pointer::build(["top", "a/b", "c~d", "1"]);
        assert_eq!(p.as_str(), "/top/a~1b/c~0d/1");
        assert_eq!(
            p.tokens().collect::<Vec<_>>(),
            ["top", "a/b", "c~d", "1"].map(String::from)
        );
        assert_eq!(p.last().as_deref(), Some("1"));
        assert_eq!(p.parent().as_str(), "/top/a~1b/c~0d");
        assert_eq!(Pointer::root().parent(), Pointer::root());
        assert_eq!(Pointer::root().last(), None);
        // `~01` is `~1` escaped, not `/`.
        assert_eq!(Pointer::split("/~01").collect::<Vec<_>>(), ["~1"]);
    }
}
