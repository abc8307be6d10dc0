//! The `pn-counter` node for Maelstrom: `maelstrom test -w pn-counter --bin glomers-pn-counter`.

fn main() {
    glomers::driver::main_for::<glomers::workload::pn_counter::PnCounter>()
}
