//! stub
use oci_spec::runtime::LinuxSeccomp;
/// stub
pub fn default_profile(_caps: &[String]) -> LinuxSeccomp {
    LinuxSeccomp::default()
}
