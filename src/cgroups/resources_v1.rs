//! cgroup v1 resources.
