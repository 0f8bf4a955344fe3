fn main() {
    println!("berth version {}", env!("CARGO_PKG_VERSION"));
}
