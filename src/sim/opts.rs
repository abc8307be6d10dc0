//! Test options: the flags of `maelstrom test`, with Maelstrom's defaults, plus our own.

use std::fmt;
use std::path::PathBuf;

/// How message latencies are drawn.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum LatencyDist {
    /// Always exactly `--latency` ms.
    Constant,
    /// A whole number of ms, uniform in `[0, 2 * latency)`.
    Uniform,
    /// Exponential with mean `--latency`, floored to whole ms.
    Exponential,
}

/// The broadcast topology Maelstrom suggests to nodes.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Topology {
    /// A square grid (the default).
    Grid,
    /// A line.
    Line,
    /// A b-ary tree filled breadth-first (tree = tree2).
    Tree(usize),
    /// Everyone is everyone's neighbour.
    Total,
}

/// `--availability`.
#[derive(Copy, Clone, Debug, PartialEq)]
pub enum Availability {
    /// Every operation must succeed.
    Total,
    /// At least this fraction of operations must succeed.
    Fraction(f64),
}

/// `--concurrency`: a thread count, or a multiple of the node count (`2n`).
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Concurrency {
    /// Exactly this many worker threads.
    Threads(usize),
    /// This many threads per node.
    PerNode(usize),
}

/// Every option of a test run.
#[derive(Clone, Debug)]
pub struct TestOpts {
    /// `-w/--workload`.
    pub workload: String,
    /// `--bin`: run real processes; `None` runs our own nodes in-process.
    pub bin: Option<PathBuf>,
    /// Words passed to the binary.
    pub bin_args: Vec<String>,
    /// `--node-count`: nodes `n0..n{N-1}`; without it the nodes are `n1..n5`.
    pub node_count: Option<usize>,
    /// `--time-limit` in seconds.
    pub time_limit: u64,
    /// `--rate`: client operations per second, over all clients.
    pub rate: f64,
    /// `--concurrency`.
    pub concurrency: Concurrency,
    /// `--latency` in milliseconds.
    pub latency: u64,
    /// `--latency-dist`.
    pub latency_dist: LatencyDist,
    /// `--nemesis partition`.
    pub partition: bool,
    /// `--nemesis-interval` in seconds.
    pub nemesis_interval: f64,
    /// `--topology`.
    pub topology: Topology,
    /// `--availability`.
    pub availability: Option<Availability>,
    /// `--consistency-models`.
    pub consistency_models: Vec<String>,
    /// `--max-txn-length`.
    pub max_txn_length: usize,
    /// `--max-writes-per-key`.
    pub max_writes_per_key: usize,
    /// `--key-count` (Elle's default of 10 when unset).
    pub key_count: Option<usize>,
    /// `--search-budget` (ours): lin-kv's linearizability search budget, in states per key.
    pub search_budget: Option<u64>,
    /// `--log-stderr`: echo node stderr to the console.
    pub log_stderr: bool,
    /// `--log-net-send`: log every message sent.
    pub log_net_send: bool,
    /// `--log-net-recv`: log every message received.
    pub log_net_recv: bool,
    /// `--seed`: the one number every random choice derives from.
    pub seed: u64,
    /// `--loss`: probability that a server-to-server message is lost (ours; Maelstrom has
    /// none).
    pub loss: f64,
    /// `--store`: where result directories go (`store`); `--no-store` writes none.
    pub store: Option<PathBuf>,
    /// `--quiet`: no progress on stderr.
    pub quiet: bool,
}

impl Default for TestOpts {
    fn default() -> Self {
        TestOpts {
            workload: "lin-kv".into(),
            bin: None,
            bin_args: Vec::new(),
            node_count: None,
            time_limit: 60,
            rate: 5.0,
            concurrency: Concurrency::PerNode(1),
            latency: 0,
            latency_dist: LatencyDist::Constant,
            partition: false,
            nemesis_interval: 10.0,
            topology: Topology::Grid,
            availability: None,
            consistency_models: vec!["strict-serializable".into()],
            max_txn_length: 4,
            max_writes_per_key: 16,
            key_count: None,
            search_budget: None,
            log_stderr: false,
            log_net_send: false,
            log_net_recv: false,
            seed: 0,
            loss: 0.0,
            store: Some(PathBuf::from("store")),
            quiet: false,
        }
    }
}

/// A command-line error, reported with usage and exit status 254 (as Maelstrom does).
#[derive(Debug, PartialEq, Eq)]
pub struct UsageError(pub String);

impl fmt::Display for UsageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl TestOpts {
    /// The node ids of the test.
    pub fn nodes(&self) -> Vec<String> {
        match self.node_count {
            Some(n) => (0..n).map(|i| format!("n{i}")).collect(),
            None => (1..=5).map(|i| format!("n{i}")).collect(),
        }
    }

    /// Number of worker threads (clients).
    pub fn threads(&self) -> usize {
        let n = self.nodes().len();
        match self.concurrency {
            Concurrency::Threads(t) => t,
            Concurrency::PerNode(k) => k * n,
        }
    }

    /// The shell command that reruns this test, for failure reports.
    pub fn command_line(&self) -> String {
        let mut s = format!("cargo run --release -- test -w {}", self.workload);
        if let Some(bin) = &self.bin {
            s += &format!(" --bin {}", bin.display());
        }
        if let Some(n) = self.node_count {
            s += &format!(" --node-count {n}");
        }
        s += &format!(" --time-limit {}", self.time_limit);
        s += &format!(" --rate {}", self.rate);
        match self.concurrency {
            Concurrency::PerNode(1) => {}
            Concurrency::PerNode(k) => s += &format!(" --concurrency {k}n"),
            Concurrency::Threads(t) => s += &format!(" --concurrency {t}"),
        }
        if self.latency != 0 {
            s += &format!(" --latency {}", self.latency);
        }
        match self.latency_dist {
            LatencyDist::Constant => {}
            LatencyDist::Uniform => s += " --latency-dist uniform",
            LatencyDist::Exponential => s += " --latency-dist exponential",
        }
        if self.partition {
            s += " --nemesis partition";
            if self.nemesis_interval != 10.0 {
                s += &format!(" --nemesis-interval {}", self.nemesis_interval);
            }
        }
        match self.topology {
            Topology::Grid => {}
            Topology::Line => s += " --topology line",
            Topology::Tree(b) => s += &format!(" --topology tree{b}"),
            Topology::Total => s += " --topology total",
        }
        match self.availability {
            None => {}
            Some(Availability::Total) => s += " --availability total",
            Some(Availability::Fraction(f)) => s += &format!(" --availability {f}"),
        }
        if self.consistency_models != ["strict-serializable"] {
            s += &format!(" --consistency-models {}", self.consistency_models.join(","));
        }
        if self.max_txn_length != 4 {
            s += &format!(" --max-txn-length {}", self.max_txn_length);
        }
        if self.max_writes_per_key != 16 {
            s += &format!(" --max-writes-per-key {}", self.max_writes_per_key);
        }
        if let Some(k) = self.key_count {
            s += &format!(" --key-count {k}");
        }
        if let Some(b) = self.search_budget {
            s += &format!(" --search-budget {b}");
        }
        if self.loss > 0.0 {
            s += &format!(" --loss {}", self.loss);
        }
        s += &format!(" --seed {}", self.seed);
        if !self.bin_args.is_empty() {
            s += " --";
            for a in &self.bin_args {
                s += &format!(" {a}");
            }
        }
        s
    }

    /// Parses `maelstrom test`-style arguments (the words after `test`).
    ///
    /// Words that are not flags, and everything after `--`, are passed to the binary.
    pub fn parse(args: &[String]) -> Result<TestOpts, UsageError> {
        let mut o = TestOpts::default();
        let mut it = args.iter().peekable();
        let err = |s: String| Err(UsageError(s));
        while let Some(arg) = it.next() {
            let (flag, inline) = match arg.split_once('=') {
                Some((f, v)) if f.starts_with("--") => (f, Some(v.to_owned())),
                _ => (arg.as_str(), None),
            };
            if flag == "--" {
                o.bin_args.extend(it.by_ref().cloned());
                break;
            }
            if !flag.starts_with('-') {
                o.bin_args.push(arg.clone());
                continue;
            }
            let is_switch = matches!(
                flag,
                "--log-stderr" | "--log-net-send" | "--log-net-recv" | "--no-store" | "--quiet"
            );
            let value = if is_switch {
                String::new()
            } else {
                match inline.or_else(|| it.next().cloned()) {
                    Some(v) => v,
                    None => return err(format!("{flag} needs a value")),
                }
            };
            let num = |v: &str| -> Result<u64, UsageError> {
                v.parse().map_err(|_| UsageError(format!("{flag}: `{v}` is not a whole number")))
            };
            let float = |v: &str| -> Result<f64, UsageError> {
                v.parse::<f64>()
                    .ok()
                    .filter(|x| x.is_finite() && *x >= 0.0)
                    .ok_or_else(|| UsageError(format!("{flag}: `{v}` is not a number >= 0")))
            };
            match flag {
                "-w" | "--workload" => o.workload = value,
                "--bin" => o.bin = Some(PathBuf::from(value)),
                "--node-count" => {
                    let n = num(&value)?;
                    if n == 0 {
                        return err("--node-count must be positive".into());
                    }
                    o.node_count = Some(n as usize);
                }
                "--time-limit" => {
                    o.time_limit = num(&value)?;
                    if o.time_limit == 0 {
                        return err("--time-limit must be positive".into());
                    }
                }
                "--rate" => o.rate = float(&value)?,
                "--concurrency" => {
                    o.concurrency = match value.strip_suffix('n') {
                        Some(k) => Concurrency::PerNode(num(k)? as usize),
                        None => Concurrency::Threads(num(&value)? as usize),
                    };
                }
                "--latency" => o.latency = num(&value)?,
                "--latency-dist" => {
                    o.latency_dist = match value.as_str() {
                        "constant" => LatencyDist::Constant,
                        "uniform" => LatencyDist::Uniform,
                        "exponential" => LatencyDist::Exponential,
                        v => return err(format!("--latency-dist: unknown distribution `{v}`")),
                    }
                }
                "--nemesis" => {
                    for part in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                        match part {
                            "partition" => o.partition = true,
                            v => return err(format!("--nemesis: unsupported fault `{v}`")),
                        }
                    }
                }
                "--nemesis-interval" => {
                    o.nemesis_interval = float(&value)?;
                    if o.nemesis_interval <= 0.0 {
                        return err("--nemesis-interval must be positive".into());
                    }
                }
                "--topology" => {
                    o.topology = match value.as_str() {
                        "grid" => Topology::Grid,
                        "line" => Topology::Line,
                        "tree" | "tree2" => Topology::Tree(2),
                        "tree3" => Topology::Tree(3),
                        "tree4" => Topology::Tree(4),
                        "total" => Topology::Total,
                        v => return err(format!("--topology: unknown topology `{v}`")),
                    }
                }
                "--availability" => {
                    o.availability = Some(match value.as_str() {
                        "total" => Availability::Total,
                        v => match v.parse::<f64>() {
                            Ok(f) if (0.0..=1.0).contains(&f) => Availability::Fraction(f),
                            _ => return err(format!("--availability: `{v}` is not total or 0..1")),
                        },
                    })
                }
                "--consistency-models" => {
                    o.consistency_models = value
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "--max-txn-length" => o.max_txn_length = num(&value)?.max(1) as usize,
                "--max-writes-per-key" => o.max_writes_per_key = num(&value)?.max(1) as usize,
                "--key-count" => o.key_count = Some(num(&value)?.max(1) as usize),
                "--search-budget" => o.search_budget = Some(num(&value)?.max(1)),
                "--log-stderr" => o.log_stderr = true,
                "--log-net-send" => o.log_net_send = true,
                "--log-net-recv" => o.log_net_recv = true,
                "--seed" => o.seed = num(&value)?,
                "--loss" => {
                    o.loss = float(&value)?;
                    if o.loss > 1.0 {
                        return err("--loss is a probability in 0..1".into());
                    }
                }
                "--store" => o.store = Some(PathBuf::from(value)),
                "--no-store" => o.store = None,
                "--quiet" => o.quiet = true,
                f => return err(format!("unknown option {f}")),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<TestOpts, UsageError> {
        TestOpts::parse(&s.split_whitespace().map(str::to_owned).collect::<Vec<_>>())
    }

    #[test]
    fn defaults_match_maelstrom() {
        let o = parse("").unwrap();
        assert_eq!(o.workload, "lin-kv");
        assert_eq!(o.time_limit, 60);
        assert_eq!(o.rate, 5.0);
        assert_eq!(o.nodes(), ["n1", "n2", "n3", "n4", "n5"]);
        assert_eq!(o.threads(), 5);
        assert_eq!(o.nemesis_interval, 10.0);
    }

    #[test]
    fn flags_parse_and_the_command_line_round_trips() {
        let o = parse(
            "-w broadcast --bin ./node extra --node-count 25 --time-limit 20 --rate 100 \
             --latency 100 --latency-dist exponential --nemesis partition --concurrency 2n \
             --topology tree4 --availability total --seed 9 --loss 0.1 -- --weird",
        )
        .unwrap();
        assert_eq!(o.bin_args, ["extra", "--weird"]);
        assert_eq!(o.nodes().len(), 25);
        assert_eq!(o.threads(), 50);
        assert_eq!(o.topology, Topology::Tree(4));
        assert_eq!(o.latency_dist, LatencyDist::Exponential);
        assert_eq!(o.availability, Some(Availability::Total));
        let again: Vec<String> =
            o.command_line().split_whitespace().skip(5).map(str::to_owned).collect();
        let o2 = TestOpts::parse(&again).unwrap();
        assert_eq!(o2.command_line(), o.command_line());
    }

    #[test]
    fn bad_values_are_usage_errors() {
        for bad in [
            "--time-limit x",
            "--time-limit 0",
            "--latency-dist gaussian",
            "--nemesis kill",
            "--availability 2",
            "--frobnicate 1",
            "--rate",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
