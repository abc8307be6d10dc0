use glomers::node::{Machine, Node};
use glomers::sim::check::read_jsonl;
use glomers::sim::check::values::maelstrom_edn;
use glomers::sim::opts::{Concurrency, TestOpts};
use glomers::sim::workloads::lin_kv::{LinKvClient, subjects};
use glomers::sim::workloads::*;
fn main() {
    let a: Vec<String> = std::env::args().collect();
    let o = TestOpts {
        workload: "lin-kv".into(),
        node_count: Some(3),
        concurrency: Concurrency::PerNode(4),
        time_limit: 60,
        rate: 30.0,
        seed: 1,
        quiet: true,
        ..TestOpts::default()
    };
    let bad = a.get(2).is_some_and(|x| x == "stale");
    let make = |i: usize| -> Box<dyn Machine> {
        if bad {
            Box::new(Node::<subjects::StaleReads>::new(Vec::new(), i as u64))
        } else {
            Box::new(Node::<subjects::Proxy>::new(Vec::new(), i as u64))
        }
    };
    let out = glomers::sim::run_nodes(&o, &make).unwrap();
    println!("{}", out.summary);
    let dir = out.write_store(std::path::Path::new(&a[1]), "lin-kv").unwrap();
    let j = std::fs::read_to_string(dir.join("history.jsonl")).unwrap();
    let w = LinKvClient::new(&o);
    let (h, _) = read_jsonl(&w, &j).unwrap();
    std::fs::write(dir.join("history.edn"), maelstrom_edn(&w, &h)).unwrap();
    println!("{}", dir.display());
    let _ = kafka::KafkaClient::new(&o);
}
