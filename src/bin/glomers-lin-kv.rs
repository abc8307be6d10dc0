//! The `lin-kv` node for Maelstrom (Raft): `maelstrom test -w lin-kv --bin glomers-lin-kv`.

fn main() {
    glomers::driver::main_for::<glomers::workload::lin_kv::LinKv>()
}
