//! unique-ids: clients call `generate`; every acknowledged id must be distinct.

use hashbrown::HashMap;
use serde::Serialize;

use super::{Check, ClientWorkload, Done, RpcResult, Step, Ty, Validity, check_schema};
use crate::proto::encode::write_val;
use crate::proto::{Kind, Val};
use crate::sim::history::{History, OpType};
use crate::sim::opts::TestOpts;

/// A generated id, kept as its compact JSON text plus its JSON type.
#[derive(Clone, Debug, Serialize)]
pub struct IdValue {
    /// Compact JSON of the id (equal ids have equal text).
    pub json: String,
    /// `int`, `string`, ... (ids of different types cannot be ordered).
    pub kind: &'static str,
}

/// The unique-ids client workload.
#[derive(Debug, Default)]
pub struct UniqueIdsClient;

const GENERATE_OK: &[(&str, Ty)] = &[("id", Ty::Any)];

fn kind_name(v: Val<'_, '_>) -> &'static str {
    match v.kind() {
        Kind::Int => "int",
        Kind::Float => "float",
        Kind::Str => "string",
        Kind::Null => "null",
        Kind::Bool => "bool",
        Kind::Array => "array",
        Kind::Object => "object",
    }
}

impl ClientWorkload for UniqueIdsClient {
    type Value = Option<IdValue>;

    fn reusable_client(&self) -> bool {
        true
    }

    fn final_phase(&self) -> bool {
        false
    }

    fn next_op(
        &mut self,
        _: usize,
        _: &mut crate::rng::Rng,
    ) -> Option<(&'static str, Self::Value)> {
        Some(("generate", None))
    }

    fn next_final(
        &mut self,
        _: usize,
        _: &mut crate::rng::Rng,
    ) -> Option<(&'static str, Self::Value)> {
        None
    }

    fn begin(
        &mut self,
        _: usize,
        _: &'static str,
        _: &Self::Value,
        _: &mut Vec<u8>,
    ) -> Step<Self::Value> {
        Step::Send("generate")
    }

    fn on_reply(
        &mut self,
        _: usize,
        _: &'static str,
        _: &Self::Value,
        result: RpcResult<'_, '_, '_>,
        _: &mut Vec<u8>,
    ) -> Step<Self::Value> {
        if let Some(done) = result.failure(None, false) {
            return done;
        }
        let RpcResult::Reply(msg) = result else { unreachable!("failure() handled errors") };
        if let Err(why) = check_schema(msg, "generate_ok", GENERATE_OK) {
            return Done::err(OpType::Info, None, format!("malformed-rpc-response: {why}"));
        }
        let id = msg.get("id").expect("schema checked");
        let mut json = Vec::new();
        write_val(&mut json, id);
        let json = String::from_utf8(json).expect("encoder writes UTF-8");
        Done::ok(Some(IdValue { json, kind: kind_name(id) }))
    }

    fn check(&self, history: &History<Self::Value>, _: &TestOpts) -> Check {
        #[derive(Serialize)]
        struct Result {
            valid: Validity,
            attempted_count: usize,
            acknowledged_count: usize,
            duplicated_count: usize,
            duplicated: Vec<(String, usize)>,
            kinds: Vec<&'static str>,
        }
        let attempted_count = history.invocations();
        let mut counts: HashMap<&str, usize> = HashMap::new();
        let mut kinds: Vec<&'static str> = Vec::new();
        let mut acknowledged_count = 0;
        for op in &history.ops {
            if let (OpType::Ok, Some(id)) = (op.kind, &op.value) {
                acknowledged_count += 1;
                *counts.entry(id.json.as_str()).or_default() += 1;
                if !kinds.contains(&id.kind) {
                    kinds.push(id.kind);
                }
            }
        }
        let mut duplicated: Vec<(String, usize)> =
            counts.iter().filter(|(_, n)| **n > 1).map(|(k, n)| ((*k).to_owned(), *n)).collect();
        duplicated.sort();
        let duplicated_count = duplicated.len();
        // Maelstrom computes the id range with `compare`, which throws on ids of mixed or
        // unorderable types: the verdict is then unknown.
        let orderable =
            kinds.len() <= 1 && kinds.iter().all(|k| matches!(*k, "int" | "float" | "string"));
        let valid = if duplicated_count > 0 {
            Validity::False
        } else if !orderable {
            Validity::Unknown
        } else {
            Validity::True
        };
        let mut summary = vec![format!(
            "unique-ids: {acknowledged_count} acknowledged of {attempted_count}, {duplicated_count} duplicated"
        )];
        if !orderable {
            summary.push(format!("ids of types {kinds:?} cannot be ordered: verdict unknown"));
        }
        duplicated.truncate(48);
        Check::new(
            valid,
            summary,
            &Result {
                valid,
                attempted_count,
                acknowledged_count,
                duplicated_count,
                duplicated,
                kinds,
            },
        )
    }
}
