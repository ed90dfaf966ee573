//! Records the libcontainer version we are built with (from Cargo.lock) for `GET /version`.

fn main() {
    let lock = std::fs::read_to_string("../Cargo.lock").unwrap_or_default();
    let mut version = "unknown".to_owned();
    let mut in_pkg = false;
    for line in lock.lines() {
        if line == "name = \"libcontainer\"" {
            in_pkg = true;
        } else if in_pkg {
            if let Some(v) = line.strip_prefix("version = \"") {
                version = v.trim_end_matches('"').to_owned();
                break;
            }
        }
    }
    println!("cargo:rustc-env=CTRD_LIBCONTAINER_VERSION={version}");
    println!("cargo:rerun-if-changed=../Cargo.lock");
}
