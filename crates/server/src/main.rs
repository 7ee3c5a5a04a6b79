//! The `stowage` binary. It wires adapters to the domain; the HTTP service arrives with the
//! running-service work, so for now it only reports its version.

fn main() {
    #[expect(clippy::print_stdout, reason = "the CLI's output")]
    {
        println!("stowage {}", env!("CARGO_PKG_VERSION"));
    }
}
