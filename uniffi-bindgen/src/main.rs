//! `cargo run -p uniffi-bindgen -- generate target/debug/libmobile_ffi.so --language kotlin|swift|python --out-dir OUT`

fn main() {
    uniffi::uniffi_bindgen_main()
}
