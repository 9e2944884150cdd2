//! Sorted sets against a model: thousands of random ZADD (with NX/XX/GT/LT/CH), ZINCRBY, ZREM, ZPOPMIN and reads
//! (ZSCORE, ZRANK, ZREVRANK, ZRANGE by rank, ZRANGEBYSCORE with exclusive bounds, ZCOUNT, ZCARD) run on the real
//! binary and on a plain in-memory model; every reply must match. Ties in score exercise the member order.

mod common;

use std::collections::BTreeMap;

use common::Engine;

/// The model: member → score; order is (score, member).
#[derive(Default)]
struct Model {
    scores: BTreeMap<String, i64>,
}

impl Model {
    fn ordered(&self) -> Vec<(i64, String)> {
        let mut v: Vec<(i64, String)> = self.scores.iter().map(|(m, s)| (*s, m.clone())).collect();
        v.sort();
        v
    }

    fn rank(&self, member: &str) -> Option<usize> {
        self.ordered().iter().position(|(_, m)| m == member)
    }

    /// ZADD with flags; returns the reply.
    fn zadd(&mut self, flags: &[&str], score: i64, member: &str) -> i64 {
        let has = |f: &str| flags.contains(&f);
        let old = self.scores.get(member).copied();
        let update = match old {
            None => !has("XX"),
            Some(old) => !has("NX") && (!has("GT") || score > old) && (!has("LT") || score < old),
        };
        if !update {
            return 0;
        }
        self.scores.insert(member.to_string(), score);
        match old {
            None => 1,
            Some(old) if has("CH") && old != score => 1,
            Some(_) => 0,
        }
    }
}

fn range(model: &Model, start: i64, stop: i64) -> Vec<String> {
    let all = model.ordered();
    let n = all.len() as i64;
    // Like Redis: negative indexes count from the end; a start before the first element is clamped to it,
    // a stop before it leaves the range empty.
    let s = if start < 0 { (n + start).max(0) } else { start };
    let e = if stop < 0 { n + stop } else { stop.min(n - 1) };
    if e < 0 || s > e || s >= n {
        return Vec::new();
    }
    all[s as usize..=e as usize]
        .iter()
        .map(|(_, m)| m.clone())
        .collect()
}

fn within(score: i64, min: (i64, bool), max: (i64, bool)) -> bool {
    let lo = if min.1 { score > min.0 } else { score >= min.0 };
    let hi = if max.1 { score < max.0 } else { score <= max.0 };
    lo && hi
}

fn bound(b: (i64, bool)) -> String {
    if b.1 {
        format!("({}", b.0)
    } else {
        b.0.to_string()
    }
}

#[test]
fn random_sorted_set_commands_match_a_model() {
    let e = Engine::start(&[]);
    let mut con = e.conn();
    for seed in 1..=4u64 {
        let mut rng = fastrand::Rng::with_seed(seed);
        let key = format!("z{seed}");
        let mut model = Model::default();
        for step in 0..2500 {
            let member = format!("m{}", rng.u32(0..40));
            let score = rng.i64(-20..20);
            let ctx = format!("seed {seed} step {step}");
            match rng.u32(0..12) {
                0..=3 => {
                    let choices: [&[&str]; 8] = [
                        &[],
                        &["NX"],
                        &["XX"],
                        &["GT"],
                        &["LT"],
                        &["XX", "GT"],
                        &["CH"],
                        &["GT", "CH"],
                    ];
                    let flags = choices[rng.usize(0..choices.len())];
                    let mut c = redis::cmd("ZADD");
                    c.arg(&key).arg(flags).arg(score).arg(&member);
                    let got: i64 = c.query(&mut con).unwrap();
                    assert_eq!(
                        got,
                        model.zadd(flags, score, &member),
                        "{ctx}: ZADD {flags:?} {score} {member}"
                    );
                }
                4 => {
                    let got: String = redis::cmd("ZINCRBY")
                        .arg(&key)
                        .arg(score)
                        .arg(&member)
                        .query(&mut con)
                        .unwrap();
                    let s = model.scores.entry(member.clone()).or_insert(0);
                    *s += score;
                    assert_eq!(got, s.to_string(), "{ctx}: ZINCRBY");
                }
                5 => {
                    let got: i64 = common::cmd("ZREM", &[&key, &member])
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(
                        got,
                        model.scores.remove(&member).is_some() as i64,
                        "{ctx}: ZREM"
                    );
                }
                6 => {
                    let got: Option<String> = common::cmd("ZSCORE", &[&key, &member])
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(
                        got,
                        model.scores.get(&member).map(|s| s.to_string()),
                        "{ctx}: ZSCORE"
                    );
                }
                7 => {
                    let got: Option<usize> = common::cmd("ZRANK", &[&key, &member])
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(got, model.rank(&member), "{ctx}: ZRANK {member}");
                    let got: Option<usize> = common::cmd("ZREVRANK", &[&key, &member])
                        .query(&mut con)
                        .unwrap();
                    let want = model.rank(&member).map(|r| model.scores.len() - 1 - r);
                    assert_eq!(got, want, "{ctx}: ZREVRANK {member}");
                }
                8 => {
                    let (start, stop) = (rng.i64(-45..45), rng.i64(-45..45));
                    let got: Vec<String> = redis::cmd("ZRANGE")
                        .arg(&key)
                        .arg(start)
                        .arg(stop)
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(
                        got,
                        range(&model, start, stop),
                        "{ctx}: ZRANGE {start} {stop}; server {:?} model {:?}",
                        redis::cmd("ZRANGE")
                            .arg(&key)
                            .arg(0)
                            .arg(-1)
                            .arg("WITHSCORES")
                            .query::<Vec<String>>(&mut con)
                            .unwrap(),
                        model.ordered()
                    );
                }
                9 => {
                    let min = (rng.i64(-22..22), rng.bool());
                    let max = (rng.i64(-22..22), rng.bool());
                    let got: Vec<String> = redis::cmd("ZRANGEBYSCORE")
                        .arg(&key)
                        .arg(bound(min))
                        .arg(bound(max))
                        .query(&mut con)
                        .unwrap();
                    let want: Vec<String> = model
                        .ordered()
                        .into_iter()
                        .filter(|(s, _)| within(*s, min, max))
                        .map(|(_, m)| m)
                        .collect();
                    assert_eq!(got, want, "{ctx}: ZRANGEBYSCORE {min:?} {max:?}");
                    let count: usize = redis::cmd("ZCOUNT")
                        .arg(&key)
                        .arg(bound(min))
                        .arg(bound(max))
                        .query(&mut con)
                        .unwrap();
                    assert_eq!(count, want.len(), "{ctx}: ZCOUNT");
                }
                10 => {
                    let n = rng.usize(1..4);
                    let got: Vec<String> = redis::cmd("ZPOPMIN")
                        .arg(&key)
                        .arg(n)
                        .query(&mut con)
                        .unwrap();
                    let mut want = Vec::new();
                    for (s, m) in model.ordered().into_iter().take(n) {
                        model.scores.remove(&m);
                        want.push(m);
                        want.push(s.to_string());
                    }
                    assert_eq!(got, want, "{ctx}: ZPOPMIN {n}");
                }
                _ => {
                    let got: usize = redis::cmd("ZCARD").arg(&key).query(&mut con).unwrap();
                    assert_eq!(got, model.scores.len(), "{ctx}: ZCARD");
                    let exists: bool = redis::cmd("EXISTS").arg(&key).query(&mut con).unwrap();
                    assert_eq!(
                        exists,
                        !model.scores.is_empty(),
                        "{ctx}: an empty sorted set deletes its key"
                    );
                }
            }
        }
    }
}
