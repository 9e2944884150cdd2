//! Redis Cluster's key → slot mapping (CRC16/XMODEM of the key, or of its hash tag, modulo 16384), computed here
//! independently of the engine so that a test knows on its own which shard must own a key.

/// How many hash slots a Redis cluster has.
pub const SLOTS: u16 = 16384;

/// The slot of `key`: the hash tag's when the key has a non-empty one, the whole key's otherwise.
pub fn key_slot(key: &str) -> u16 {
    crc16(hash_tag(key.as_bytes())) % SLOTS
}

/// The bytes between the first `{` and the first `}` after it, if there are any; else the whole key.
fn hash_tag(key: &[u8]) -> &[u8] {
    let Some(open) = key.iter().position(|&b| b == b'{') else {
        return key;
    };
    let rest = &key[open + 1..];
    match rest.iter().position(|&b| b == b'}') {
        Some(len) if len > 0 => &rest[..len],
        _ => key,
    }
}

/// CRC16/XMODEM (polynomial 0x1021, initial value 0), the checksum Redis Cluster hashes keys with.
fn crc16(data: &[u8]) -> u16 {
    data.iter().fold(0u16, |crc, &byte| {
        (0..8).fold(crc ^ (u16::from(byte) << 8), |crc, _| {
            if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            }
        })
    })
}

/// A key named `prefix` plus a number whose slot is `slot`: the first such name, found by counting up.
pub fn key_in_slot(prefix: &str, slot: u16) -> String {
    (0u64..)
        .map(|i| format!("{prefix}{i}"))
        .find(|k| key_slot(k) == slot)
        .unwrap_or_else(|| unreachable!("every slot is reached by some number"))
}

#[test]
fn crc16_matches_the_xmodem_check_value() {
    assert_eq!(crc16(b"123456789"), 0x31C3);
}

#[test]
fn key_slots_match_the_redis_cluster_specification() {
    assert_eq!(key_slot("foo"), 12182);
    assert_eq!(key_slot("bar"), 5061);
    assert_eq!(
        key_slot("{user1000}.following"),
        key_slot("{user1000}.followers")
    );
    assert_eq!(key_slot("{user1000}.following"), key_slot("user1000"));
    // An empty tag, or a `{` without a `}`, hashes the whole key.
    assert_eq!(key_slot("{}foo"), crc16(b"{}foo") % SLOTS);
    assert_eq!(key_slot("foo{}{bar}"), crc16(b"foo{}{bar}") % SLOTS);
    assert_eq!(key_slot("foo{bar"), crc16(b"foo{bar") % SLOTS);
    // Only the first tag counts, and it may itself contain `{`.
    assert_eq!(key_slot("foo{{bar}}zap"), key_slot("{bar"));
    assert_eq!(key_slot("{a}{b}"), key_slot("a"));
}
