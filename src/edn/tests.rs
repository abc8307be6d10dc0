use super::*;
use crate::rng::Rng;

fn one(s: &str) -> Edn<'_> {
    read_one(s).unwrap_or_else(|e| panic!("{s:?}: {e}"))
}

fn kw(k: &str) -> Edn<'_> {
    Edn::Keyword(k)
}

#[test]
fn reads_what_jepsen_prints() {
    // An op as Jepsen 0.3.7 prints it (`(str (into {} op))`), and as a record.
    let line = r#"{:index 3, :time 1234567, :type :ok, :process 0, :f :txn, :value [[:r 1 nil] [:append 1 2] [:r 2 [1 2]]], :final? true}"#;
    let op = one(line);
    assert_eq!(op.get("index"), Some(&Edn::Int(3)));
    assert_eq!(op.get("type"), Some(&kw("ok")));
    assert_eq!(op.get("final?"), Some(&Edn::Bool(true)));
    let v = op.get("value").and_then(Edn::as_seq).unwrap();
    assert_eq!(v[0], Edn::Vector(vec![kw("r"), Edn::Int(1), Edn::Nil]));
    assert_eq!(v[2].as_seq().unwrap()[2], Edn::Vector(vec![Edn::Int(1), Edn::Int(2)]));
    let rec = one("#jepsen.history.Op{:index 0, :time 5, :type :invoke, :process :nemesis}");
    let Edn::Tagged(tag, inner) = &rec else { panic!("{rec:?}") };
    assert_eq!(*tag, "jepsen.history.Op");
    assert_eq!(inner.get("process"), Some(&kw("nemesis")));

    // A crashed op's datafied exception: symbols, nested maps, an #object.
    let ex = one(
        r#"{:via [{:type clojure.lang.ExceptionInfo, :message "throw+: {:type :timeout}", :data {:type :maelstrom.client/timeout}, :at [slingshot.support$stack_trace invoke "support.clj" 201]}], :trace [[clojure.core$apply invokeStatic "core.clj" 667]], :obj #object[java.lang.Thread 0x5e1f "Thread[main]"]}"#,
    );
    let via = ex.get("via").and_then(Edn::as_seq).unwrap();
    assert_eq!(via[0].get("type"), Some(&Edn::Symbol("clojure.lang.ExceptionInfo")));
    assert_eq!(
        via[0].get("data").and_then(|d| d.get("type")),
        Some(&kw("maelstrom.client/timeout"))
    );

    // A nemesis value with sets, and every kind of number and character.
    let grudge = one(r#"{"n1" #{"n2" "n3"}, "n2" #{}}"#);
    assert_eq!(grudge.get("n2"), Some(&Edn::Set(vec![])));
    let nums = one("[0x5e1f 1N -7 9223372036854775808 1.5 -2e3 1.5M 3/4 ##Inf ##-Inf 0 -0 +5 1.]");
    let n = &nums.as_seq().unwrap()[1..];
    assert_eq!(nums.as_seq().unwrap()[0], Edn::Int(0x5e1f));
    assert_eq!(n[0], Edn::Int(1));
    assert_eq!(n[1], Edn::Int(-7));
    assert_eq!(n[2], Edn::Number("9223372036854775808"));
    assert_eq!(n[3], Edn::Float(1.5));
    assert_eq!(n[4], Edn::Float(-2000.0));
    assert_eq!(n[5], Edn::Number("1.5M"));
    assert_eq!(n[6], Edn::Number("3/4"));
    assert_eq!(n[7], Edn::Float(f64::INFINITY));
    assert_eq!(n[8], Edn::Float(f64::NEG_INFINITY));
    assert_eq!(&n[9..], &[Edn::Int(0), Edn::Int(0), Edn::Int(5), Edn::Float(1.0)]);
    assert!(matches!(one("##NaN"), Edn::Float(x) if x.is_nan()));
    assert_eq!(one("-9223372036854775808"), Edn::Int(i64::MIN));
    assert_eq!(
        one(r"[\a \newline \space \u00e9 \( \o101 \é]"),
        Edn::Vector(['a', '\n', ' ', 'é', '(', 'A', 'é'].into_iter().map(Edn::Char).collect())
    );
    assert_eq!(
        one(r#""tab\there \"q\" \\ \b\f\r\n \u00e9\ud83d\ude00 \101""#),
        Edn::Str("tab\there \"q\" \\ \u{8}\u{c}\r\n é😀 A".into())
    );
    assert!(matches!(one(r#""plain""#), Edn::Str(Cow::Borrowed("plain"))));
    assert_eq!(one("(a/b + - / .x <=>)").as_seq().unwrap().len(), 6);
}

#[test]
fn reads_a_results_map_and_looks_through_records() {
    let text = "; a comment\n{:perf {:valid? true}, :workload #{1 2}, :r 1/2, :big 12N, \
                :ch \\a, :op #jepsen.history.Op{:index 0, :f :read}, #_ :skipped :x (1 \"s\"), \
                :nan ##NaN, :sym foo/bar, :neg -3.5e2}";
    let v = one(text);
    assert_eq!(v.at(&["perf", "valid?"]), Some(&Edn::Bool(true)));
    assert_eq!(v.get("workload"), Some(&Edn::Set(vec![Edn::Int(1), Edn::Int(2)])));
    assert_eq!(v.get("r"), Some(&Edn::Number("1/2")));
    assert_eq!(v.get("r").and_then(Edn::as_f64), Some(0.5));
    assert_eq!(v.get("big"), Some(&Edn::Int(12)));
    assert_eq!(v.get("ch"), Some(&Edn::Char('a')));
    assert_eq!(v.at(&["op", "f"]), Some(&kw("read")));
    assert_eq!(v.get("skipped"), None);
    assert_eq!(v.get("x"), Some(&Edn::List(vec![Edn::Int(1), Edn::Str("s".into())])));
    assert!(v.get("nan").and_then(Edn::as_f64).is_some_and(f64::is_nan));
    assert_eq!(v.get("sym"), Some(&Edn::Symbol("foo/bar")));
    assert_eq!(v.get("neg").and_then(Edn::as_f64), Some(-350.0));
    assert_eq!(read_all("{:a 1}\n{:a 2}\n").unwrap().len(), 2);
    for bad in ["{:a}", "[1 2", "\"open", ")", "{:a 1} 2"] {
        assert!(read_one(bad).is_err(), "{bad}");
    }
}

#[test]
fn comments_discards_and_commas_are_blank() {
    let text =
        "; a history\n[{:a 1} ; the first\n #_{:skipped true} #_ #_ 1 2\n ,,{:a 2}]\n; done\n";
    let v = read_all(text).unwrap();
    assert_eq!(v.len(), 1);
    assert_eq!(v[0].as_seq().unwrap().len(), 2);
    assert_eq!(read_all(" ;; nothing\n").unwrap(), vec![]);
}

#[test]
fn a_top_level_sequence_streams_element_by_element() {
    for (text, close) in [("[{:a 1} {:a 2}]", b']'), ("; c\n({:a 1}\n{:a 2}) ; end\n", b')')] {
        let mut r = Reader::new(text);
        assert_eq!(r.enter_seq().unwrap(), Some(close));
        let mut n = 0;
        while let Some(op) = r.next_in_seq(close).unwrap() {
            n += 1;
            assert_eq!(op.get("a"), Some(&Edn::Int(n)));
        }
        assert_eq!(n, 2);
        assert_eq!(r.next_value().unwrap(), None);
    }
    let mut r = Reader::new("{:a 1}");
    assert_eq!(r.enter_seq().unwrap(), None);
    let mut r = Reader::new("[{:a 1}");
    r.enter_seq().unwrap();
    r.next_in_seq(b']').unwrap();
    assert!(r.next_in_seq(b']').unwrap_err().msg.contains("ends before"));
}

#[test]
fn bad_input_is_an_error_with_its_place() {
    for (text, line, want) in [
        ("[1 2", 1, "never closed"),
        ("{:a 1]", 1, "closes a collection"),
        ("\n\n  )", 3, "unmatched"),
        ("{:a}", 1, "even number"),
        ("\"abc", 1, "never closed"),
        (r#""\q""#, 1, "unsupported escape"),
        (r#""\u12""#, 1, "four hex digits"),
        (r#""\ud800x""#, 1, "surrogate"),
        ("'x", 1, "reader macro"),
        ("@x", 1, "reader macro"),
        ("#(inc %)", 1, "reader macro"),
        ("#:ns{:a 1}", 1, "reader macro"),
        ("#\"re\"", 1, "regular expressions"),
        ("##Foo", 1, "symbolic value"),
        ("#tag", 1, "has no value"),
        ("#", 1, "ends after"),
        ("0xZ", 1, "invalid number"),
        ("36rZZ", 1, "radix"),
        ("017", 1, "octal"),
        ("1.2.3", 1, "invalid number"),
        ("12abc", 1, "invalid number"),
        ("1/x", 1, "invalid number"),
        (":", 1, "invalid keyword"),
        ("::auto", 1, "invalid keyword"),
        ("a/", 1, "invalid symbol"),
        ("\\", 1, "ends after"),
        ("\\abc", 1, "character literal"),
        ("[#_]", 1, "discards nothing"),
        ("a\u{1}b", 1, "invalid symbol"),
    ] {
        let e = read_all(text).expect_err(text);
        assert!(e.msg.contains(want), "{text:?}: {e}");
        assert_eq!(e.line, line, "{text:?}: {e}");
    }
    let e = read_all("{:a 1}\n{:b 2}\n{:c [1 2}\n").unwrap_err();
    assert_eq!((e.line, e.col), (3, 9), "{e}");
    assert!(read_one("1 2").unwrap_err().msg.contains("more than one"));
    assert!(read_one("").is_err());
}

#[test]
fn deep_nesting_is_an_error_not_a_stack_overflow() {
    let deep = "[".repeat(100_000);
    assert!(read_all(&deep).unwrap_err().msg.contains("nested deeper"));
    let tags = "#a ".repeat(100_000) + "1";
    assert!(read_all(&tags).unwrap_err().msg.contains("nested deeper"));
    let ok = "[".repeat(MAX_DEPTH) + &"]".repeat(MAX_DEPTH);
    assert!(read_all(&ok).is_ok());
}

#[test]
fn json_of_values_json_can_carry() {
    let mut s = String::new();
    assert!(one(r#"{:a [1 -2.5 "x\"y" nil true], "b" ()}"#).write_json(&mut s));
    assert_eq!(s, r#"{"a":[1,-2.5,"x\"y",null,true],"b":[]}"#);
    for bad in [":k", "#{1}", "sym", "\\c", "1N2", "{1 2}", "[1 :x]", "##NaN"] {
        let mut s = String::from("keep");
        if let Ok(v) = read_one(bad) {
            assert!(!v.write_json(&mut s), "{bad}");
            assert_eq!(s, "keep");
        }
    }
}

fn one_of(rng: &mut Rng, pool: &[&'static str]) -> &'static str {
    pool[rng.below(pool.len() as u64) as usize]
}

/// A random value of bounded depth (no NaN, which is not equal to itself).
fn random_value(rng: &mut Rng, depth: usize, pool: &'static [&'static str]) -> Edn<'static> {
    let pick = if depth == 0 { rng.below(9) } else { rng.below(14) };
    match pick {
        0 => Edn::Nil,
        1 => Edn::Bool(rng.chance(0.5)),
        2 => Edn::Int(rng.next_u64() as i64 >> rng.below(64)),
        3 => Edn::Float((rng.unit() - 0.5) * 10f64.powi(rng.below(40) as i32 - 20)),
        4 => Edn::Str(Cow::Owned(
            (0..rng.below(8))
                .map(|_| *rng.pick(&['a', '"', '\\', '\n', '\t', 'é', '😀', '\u{8}', ' ', ';']))
                .collect(),
        )),
        5 => Edn::Keyword(one_of(rng, pool)),
        6 => Edn::Symbol(one_of(rng, pool)),
        7 => Edn::Char(*rng.pick(&['a', '\n', ' ', '(', 'é', '\u{7}', '\\', '"'])),
        8 => Edn::Number(one_of(rng, &["123456789012345678901234567890", "1.5M", "-3/4", "7M"])),
        9 => Edn::Vector((0..rng.below(5)).map(|_| random_value(rng, depth - 1, pool)).collect()),
        10 => Edn::List((0..rng.below(5)).map(|_| random_value(rng, depth - 1, pool)).collect()),
        11 => Edn::Set((0..rng.below(5)).map(|_| random_value(rng, depth - 1, pool)).collect()),
        12 => Edn::Map(
            (0..rng.below(4))
                .map(|_| (random_value(rng, depth - 1, pool), random_value(rng, depth - 1, pool)))
                .collect(),
        ),
        _ => Edn::Tagged(
            one_of(rng, &["inst", "jepsen.history.Op", "object"]),
            Box::new(random_value(rng, depth - 1, pool)),
        ),
    }
}

const NAMES: &[&str] = &["a", "final?", "ns/name", "x.y.Z", "+", "-", "<=>", "a1", "*x*", "/"];

#[test]
fn printed_values_read_back_equal() {
    let mut rng = Rng::new(7);
    for _ in 0..3_000 {
        let v = random_value(&mut rng, 4, NAMES);
        let text = v.to_string();
        let back = read_one(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(back, v, "{text}");
    }
}

#[test]
fn mutated_input_never_panics() {
    // Fuzz-style: corrupt valid documents byte by byte; every outcome must be a value or an
    // error with a sane place.
    let mut rng = Rng::new(11);
    let alphabet: &[u8] = b"[](){}#_\"\\;:, \n0123456789.-+/eEMNa^'@`~x\xc3\xa9";
    for _ in 0..20_000 {
        let v = random_value(&mut rng, 3, NAMES);
        let mut bytes = v.to_string().into_bytes();
        for _ in 0..1 + rng.below(4) {
            let i = rng.below(bytes.len() as u64 + 1) as usize;
            match rng.below(3) {
                0 if i < bytes.len() => {
                    bytes.remove(i);
                }
                1 => bytes.insert(i, *rng.pick(alphabet)),
                _ if i < bytes.len() => bytes[i] = *rng.pick(alphabet),
                _ => {}
            }
        }
        let Ok(text) = std::str::from_utf8(&bytes) else { continue };
        match read_all(text) {
            Ok(vals) => {
                for v in vals {
                    let _ = v.to_string();
                }
            }
            Err(e) => {
                assert!(e.pos <= text.len() && e.line >= 1 && e.col >= 1, "{text:?}: {e:?}");
            }
        }
    }
}
