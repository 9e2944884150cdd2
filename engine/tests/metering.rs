//! Request units (ECPU): exact counts for a scripted workload, read back through INFO usage.

mod common;

use common::{run, Engine};

fn usage(c: &mut redis::Connection) -> (u64, u64) {
    let text: String = common::cmd("INFO", &["usage"]).query(c).unwrap();
    let field = |name: &str| -> u64 {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_else(|| panic!("no {name} in {text}"))
    };
    // The INFO call itself is charged: its request is "INFO" + "usage", its reply a bulk string.
    let reply = text.len() + text.len().to_string().len() + 5;
    let info_units = (9 + reply as u64).div_ceil(1024).max(1);
    (field("ecpu_total"), info_units)
}

#[test]
fn scripted_workload_costs_exactly_the_documented_units() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    let (before, info_units) = usage(&mut c);
    let mut expected = 0;
    for (key, size, set_units, get_units) in [
        ("k10", 10, 1, 1),     // SET: 3+3+10 in, 5 out; GET: 6 in, 17 out
        ("k1000", 1000, 1, 1), // SET: 1008 in, 5 out = 1013; GET: 8 in, 1009 out = 1017
        ("k1025", 1025, 2, 2), // SET: 1033 + 5 = 1038; GET: 8 + 1034 = 1042
        ("k5000", 5000, 5, 5), // SET: 5008 + 5 = 5013; GET: 8 + 5009 = 5017
    ] {
        run(&mut c, "SET", &[key, &"v".repeat(size)]).unwrap();
        run(&mut c, "GET", &[key]).unwrap();
        expected += set_units + get_units;
    }
    // MGET over 250 missing 5-byte keys: elements (250 → 3 units) outweigh bytes (4 + 1250 in, 1259 out → 3).
    let keys: Vec<String> = (0..250).map(|i| format!("m{i:04}")).collect();
    let mut args: Vec<&str> = keys.iter().map(String::as_str).collect();
    run(&mut c, "MGET", &args).unwrap();
    expected += 3;
    // 350 keys: elements give 4 units, bytes (4 + 1750 + 1759) give 4 as well.
    let more: Vec<String> = (0..350).map(|i| format!("n{i:04}")).collect();
    args = more.iter().map(String::as_str).collect();
    run(&mut c, "MGET", &args).unwrap();
    expected += 4;
    // A transaction: MULTI (1), the queued commands when they run (1 each), EXEC (1).
    redis::pipe()
        .atomic()
        .cmd("INCR")
        .arg("t")
        .cmd("INCR")
        .arg("t")
        .query::<()>(&mut c)
        .unwrap();
    expected += 1 + 2 + 1;
    // Refused commands cost nothing.
    assert!(run(&mut c, "NOSUCHCOMMAND", &[]).is_err());
    assert!(run(&mut c, "GET", &[]).is_err());
    let (after, _) = usage(&mut c);
    assert_eq!(after - before, expected + info_units);
}

#[test]
fn ecpu_never_decreases_on_resetstat_and_restart_changes_run_id() {
    let e = Engine::start(&[]);
    let mut c = e.conn();
    for i in 0..100 {
        run(&mut c, "SET", &[&format!("k{i}"), "v"]).unwrap();
    }
    let info =
        |c: &mut redis::Connection| -> String { common::cmd("INFO", &["usage"]).query(c).unwrap() };
    let field = |text: &str, name: &str| -> String {
        text.lines()
            .find_map(|l| l.strip_prefix(&format!("{name}:")))
            .unwrap()
            .trim()
            .to_string()
    };
    let first = info(&mut c);
    run(&mut c, "CONFIG", &["RESETSTAT"]).unwrap();
    let second = info(&mut c);
    let (a, b): (u64, u64) = (
        field(&first, "ecpu_total").parse().unwrap(),
        field(&second, "ecpu_total").parse().unwrap(),
    );
    assert!(b > a && a >= 100, "{a} then {b}");
    assert!(field(&second, "dataset_bytes").parse::<u64>().unwrap() > 100 * 16);
    let other = Engine::start(&[]);
    let mut c2 = other.conn();
    assert_ne!(field(&info(&mut c2), "run_id"), field(&first, "run_id"));
}

#[test]
fn metering_can_be_switched_off() {
    let e = Engine::start(&["--set", "metering=no"]);
    let mut c = e.conn();
    run(&mut c, "SET", &["k", "v"]).unwrap();
    let text: String = common::cmd("INFO", &["usage"]).query(&mut c).unwrap();
    assert!(
        text.contains("ecpu_total:0\r\n") && text.contains("metering_enabled:0"),
        "{text}"
    );
}
