//! Unit tests of the broadcast node, driven by hand through the harness.

use super::*;
use crate::node::harness::Harness;

#[test]
fn smoke() {
    let mut h = Harness::<Broadcast>::new(&[]);
    println!("{:?}", h.init("n0", &["n0"]));
    println!("{:?}", h.line(r#"{"src":"c1","dest":"n0","body":{"type":"broadcast","msg_id":1,"message":5}}"#));
    println!("{:?}", h.line(r#"{"src":"c1","dest":"n0","body":{"type":"read","msg_id":2}}"#));
}
