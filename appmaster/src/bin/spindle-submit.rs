fn main() {
    std::process::exit(appmaster::submit::main());
}
