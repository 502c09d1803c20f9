fn main() {
    std::process::exit(resourcemanager::cli::main());
}
