//! Bounded fuzzing on the stable toolchain: every parser that reads untrusted bytes gets hundreds of thousands
//! of random and mutated inputs and must answer without panicking (the machine's toolchain cannot build
//! `cargo fuzz`, which needs nightly). Seeds are fixed, so a failure reproduces.

use ferrocache_engine::protocol::resp::{self, Parsed};
use ferrocache_engine::{protocol, security, snapshot};

/// Random bytes biased towards protocol punctuation, so inputs get past the first checks.
fn input(rng: &mut fastrand::Rng, seeds: &[&[u8]]) -> Vec<u8> {
    const ALPHABET: &[u8] = b"*$:+-\r\n 0123456789-abcdefGETSET\"'\\x~%&@#><";
    let mut out = if rng.bool() {
        seeds[rng.usize(..seeds.len())].to_vec()
    } else {
        Vec::new()
    };
    for _ in 0..rng.usize(0..8) {
        match rng.u8(0..4) {
            0 if !out.is_empty() => {
                let i = rng.usize(..out.len());
                out[i] = ALPHABET[rng.usize(..ALPHABET.len())];
            }
            1 if !out.is_empty() => {
                let i = rng.usize(..out.len());
                out.truncate(i);
            }
            2 => out.extend((0..rng.usize(0..16)).map(|_| ALPHABET[rng.usize(..ALPHABET.len())])),
            _ => out.extend((0..rng.usize(0..16)).map(|_| rng.u8(..))),
        }
    }
    out
}

#[test]
fn resp_and_inline_parsers_survive_random_input() {
    let seeds: &[&[u8]] = &[
        b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n",
        b"SET a \"b c\"\r\n",
        b"*1\r\n$-1\r\n",
        b"*0\r\n",
    ];
    let mut rng = fastrand::Rng::with_seed(1);
    let (mut ranges, mut inline) = (Vec::new(), Vec::new());
    for _ in 0..300_000 {
        let buf = input(&mut rng, seeds);
        ranges.clear();
        inline.clear();
        if let Ok(Parsed::Multibulk { len }) = resp::parse(&buf, 1 << 20, &mut ranges, &mut inline)
        {
            assert!(len <= buf.len());
            assert!(ranges.iter().all(|r| r.end <= len));
        }
    }
}

#[test]
fn memcached_parser_survives_random_input() {
    let seeds: &[&[u8]] = &[
        b"get a b c\r\n",
        b"set k 0 0 5\r\nhello\r\n",
        b"mg key v f t\r\n",
        b"ms key 3 T10\r\nabc\r\n",
    ];
    let mut rng = fastrand::Rng::with_seed(2);
    for _ in 0..300_000 {
        let buf = input(&mut rng, seeds);
        let _ = protocol::memcache::parse(&buf, 1 << 20);
    }
}

#[test]
fn acl_file_parser_survives_random_input() {
    let seeds: &[&[u8]] = &[
        b"user app on >pw ~k:* +@read -keys\n",
        b"user default on nopass ~* &* +@all\n",
    ];
    let mut rng = fastrand::Rng::with_seed(3);
    for _ in 0..100_000 {
        let buf = input(&mut rng, seeds);
        let _ = security::acl::parse_file(&String::from_utf8_lossy(&buf));
    }
}

#[test]
fn snapshot_reader_refuses_damage_without_panicking() {
    let ks = ferrocache_engine::keyspace::Keyspace::new(2, 4);
    {
        let mut held = ks.lock_key(0, b"k");
        let (shard, h) = held.shard(0, b"k");
        let e =
            ferrocache_engine::keyspace::Entry::new_str((h >> 32) as u32, b"k", b"value", None, 0);
        shard.set(h, e, 0);
    }
    let (good, _) = snapshot::file::capture(&ks, 0);
    let mut rng = fastrand::Rng::with_seed(4);
    for _ in 0..100_000 {
        let buf = input(&mut rng, &[&good]);
        let mut reader = snapshot::Reader::new();
        let mut out = Vec::new();
        let chunk = rng.usize(1..64);
        let ok =
            buf.chunks(chunk).all(|c| reader.feed(c, &mut out).is_ok()) && reader.finish().is_ok();
        if ok {
            assert_eq!(buf, good, "only the intact snapshot may load");
        }
    }
}
