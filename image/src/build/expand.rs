//! Variable substitution (to come).
