fn main() -> std::process::ExitCode {
    tierform::cli::main()
}
