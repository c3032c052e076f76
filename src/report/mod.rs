//! Reports on plans, beside rendering: the phase diff, capacity, and the field
//! reference.

pub mod capacity;
pub mod diff;
pub mod explain;
pub mod reference;
