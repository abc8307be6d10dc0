//! The `txn-rw-register` node for Maelstrom: `maelstrom test -w txn-rw-register --bin glomers-txn-rw-register`.

fn main() {
    glomers::driver::main_for::<glomers::workload::txn::Txn>()
}
