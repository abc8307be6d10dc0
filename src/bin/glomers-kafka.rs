//! The `kafka` node for Maelstrom: `maelstrom test -w kafka --bin glomers-kafka`.

fn main() {
    glomers::driver::main_for::<glomers::workload::kafka::Kafka>()
}
