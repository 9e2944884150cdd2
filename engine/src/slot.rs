//! Redis Cluster hash slots: a key's slot is CRC16 (XMODEM) of the key, or of its `{hash tag}` when the key
//! has a non-empty one, modulo 16384.

/// Number of hash slots.
pub const SLOTS: usize = 16384;

const fn table() -> [u16; 256] {
    let mut t = [0u16; 256];
    let mut i = 0;
    while i < 256 {
        let mut crc = (i as u16) << 8;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 0x8000 != 0 {
                (crc << 1) ^ 0x1021
            } else {
                crc << 1
            };
            bit += 1;
        }
        t[i] = crc;
        i += 1;
    }
    t
}

static CRC16: [u16; 256] = table();

/// CRC16-CCITT (XMODEM), as Redis Cluster uses it.
pub fn crc16(bytes: &[u8]) -> u16 {
    bytes.iter().fold(0u16, |crc, &b| {
        (crc << 8) ^ CRC16[((crc >> 8) as u8 ^ b) as usize]
    })
}

/// The part of a key that is hashed: the text between the first `{` and the next `}` when that is not empty,
/// else the whole key.
pub fn hash_tag(key: &[u8]) -> &[u8] {
    if let Some(open) = memchr::memchr(b'{', key) {
        if let Some(len) = memchr::memchr(b'}', &key[open + 1..]) {
            if len > 0 {
                return &key[open + 1..open + 1 + len];
            }
        }
    }
    key
}

/// The hash slot of a key.
#[inline]
pub fn of(key: &[u8]) -> u16 {
    crc16(hash_tag(key)) & (SLOTS as u16 - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc16_matches_the_reference_check_value() {
        // The XMODEM check value from the CRC catalogue, also in Redis' crc16.c.
        assert_eq!(crc16(b"123456789"), 0x31C3);
    }

    #[test]
    fn slots_match_redis_cluster() {
        assert_eq!(of(b"foo"), 12182);
        assert_eq!(of(b"bar"), 5061);
        assert_eq!(of(b"{user1000}.following"), of(b"{user1000}.followers"));
        assert_eq!(of(b"{user1000}.following"), of(b"user1000"));
        // An empty tag or an unclosed brace hashes the whole key.
        assert_eq!(of(b"{}foo"), crc16(b"{}foo") % 16384);
        assert_eq!(of(b"foo{bar"), crc16(b"foo{bar") % 16384);
        // Only the first tag counts.
        assert_eq!(of(b"{a}{b}"), of(b"a"));
        assert_eq!(of(b"x{}{b}"), crc16(b"x{}{b}") % 16384);
    }
}
