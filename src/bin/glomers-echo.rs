//! The `echo` node for Maelstrom: `maelstrom test -w echo --bin glomers-echo`.

fn main() {
    glomers::driver::main_for::<glomers::workload::echo::Echo>()
}
