//! The `g-set` node for Maelstrom: `maelstrom test -w g-set --bin glomers-g-set`.

fn main() {
    glomers::driver::main_for::<glomers::workload::g_set::GSet>()
}
