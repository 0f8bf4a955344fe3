//! OCI whiteouts.
