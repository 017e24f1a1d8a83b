//! `samctl`: the SAM management and integrator CLI. Everything is in
//! `sam_host::ctl`.

fn main() -> std::process::ExitCode {
    sam_host::ctl::main()
}
