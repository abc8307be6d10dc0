//! The `txn-list-append` node for Maelstrom: `maelstrom test -w txn-list-append --bin glomers-txn-list-append`.

fn main() {
    glomers::driver::main_for::<glomers::workload::txn_list_append::TxnListAppend>()
}
