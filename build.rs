// The web client's bundle (web/dist, made by scripts/web-build) is embedded by
// rust-embed in src/web.rs: re-embed whenever it changes. web/dist always exists
// (web/dist/.gitkeep), so a fresh clone builds without Node.
fn main() {
    println!("cargo:rerun-if-changed=web/dist");
}
