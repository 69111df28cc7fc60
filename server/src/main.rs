//! `sysops-server`: the operator binary. Everything lives in the library; see `cli`.

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
