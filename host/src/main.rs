/// Records are allocated on a source's thread and freed on an operator's:
/// mimalloc frees across threads cheaply where glibc's malloc contends and
/// consolidates (job B spent a tenth of its operator thread in `free`).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    eddy::cli::main()
}
