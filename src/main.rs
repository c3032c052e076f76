// mimalloc: rendering builds and frees millions of small values; glibc's allocator
// spent about a third of the time on them (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    tierform::run()
}
