//! cgroup v2 resources.
