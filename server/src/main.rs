//! `sysops-server`: the operator binary. Everything lives in the library; see `cli`.

/// mimalloc, not glibc's allocator: under mixed load glibc's per-thread arenas kept what
/// was freed (fragmented between live blocks), so the resident size grew with the work
/// done although the live heap did not (the soak: RSS twice the heap's peak, ADR 17).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[actix_web::main]
async fn main() -> std::process::ExitCode {
    match sysops_server::cli::run().await {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
