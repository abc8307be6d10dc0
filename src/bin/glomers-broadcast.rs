//! The `broadcast` node for Maelstrom: `maelstrom test -w broadcast --bin glomers-broadcast`.

fn main() {
    glomers::driver::main_for::<glomers::workload::broadcast::Broadcast>()
}
