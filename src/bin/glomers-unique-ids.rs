//! The `unique-ids` node for Maelstrom: `maelstrom test -w unique-ids --bin glomers-unique-ids`.

fn main() {
    glomers::driver::main_for::<glomers::workload::unique_ids::UniqueIds>()
}
