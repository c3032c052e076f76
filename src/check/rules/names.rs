//! Names that must not be shared: a service and a datastore become the same host name.

use super::{store_ptr, Checker};
use crate::check::code::Code;
use crate::check::diagnostic::Diagnostic;

impl Checker<'_> {
    pub(super) fn names(&mut self) {
        for name in self.bp.datastores.keys() {
            if self.bp.services.contains_key(name) {
                self.push(
                    Diagnostic::error(
                        Code::DuplicateName,
                        store_ptr(name),
                        format!("`{name}` names both a service and a datastore"),
                    )
                    .at_key()
                    .hint("services and datastores share one namespace (they become host names): rename one"),
                );
            }
        }
    }
}
