//! .dockerignore (to come).
