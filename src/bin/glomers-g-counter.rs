//! The `g-counter` node for Maelstrom: `maelstrom test -w g-counter --bin glomers-g-counter`.

fn main() {
    glomers::driver::main_for::<glomers::workload::g_counter::GCounter>()
}
