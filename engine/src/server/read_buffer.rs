//! The read buffer of a client connection, for both protocols and both I/O paths (tokio and io_uring).
//!
//! Requests are parsed where they landed: a read appends to the buffer's free tail, the requests a batch
//! executed are drained from its front, and a partial request stays for the next read. A request that
//! announced its size (a large bulk string, a data block) gets room for all of it before the next read, so it
//! arrives without a regrowth per read.

/// The room a read gets at least, and the size buffers start at.
pub const READ_CHUNK: usize = 16 * 1024;

/// The capacity past which an emptied buffer gives its memory back.
pub const SHRINK_ABOVE: usize = 1 << 20;

/// The bytes a client sent that are not executed yet, and room for the next read.
pub struct ReadBuffer {
    buf: Vec<u8>,
    /// The buffer length a partial request announced it needs (0: not announced).
    want: usize,
    /// Gives back the memory of a large request once it is consumed, and grows for a partial request only
    /// when it needs more than the capacity (Memcached connections).
    compacting: bool,
}

impl ReadBuffer {
    /// An empty buffer that keeps the capacity it grows to (Redis connections, which report it in
    /// `CLIENT LIST`).
    pub fn new() -> ReadBuffer {
        ReadBuffer {
            buf: Vec::with_capacity(READ_CHUNK),
            want: 0,
            compacting: false,
        }
    }

    /// An empty buffer that gives back the memory a large request took once it is consumed (Memcached
    /// connections).
    pub fn compacting() -> ReadBuffer {
        ReadBuffer {
            compacting: true,
            ..ReadBuffer::new()
        }
    }

    /// Gives back the memory of a large request once everything read was executed, as Redis trims an idle
    /// client's query buffer (the next read starts from a fresh chunk).
    #[inline]
    pub fn release_if_empty(&mut self) {
        if self.buf.is_empty() && self.want == 0 && self.buf.capacity() > SHRINK_ABOVE {
            self.buf.shrink_to(READ_CHUNK);
        }
    }

    /// Makes room for the next read.
    #[inline]
    pub fn reserve(&mut self) {
        let short = if self.compacting {
            if self.buf.is_empty() && self.buf.capacity() > SHRINK_ABOVE {
                self.buf.shrink_to(READ_CHUNK);
            }
            self.want > self.buf.capacity()
        } else {
            self.want > self.buf.len()
        };
        let spare = self.buf.capacity() - self.buf.len();
        if spare < READ_CHUNK / 4 || short {
            self.buf
                .reserve(READ_CHUNK.max(self.want.saturating_sub(self.buf.len())));
        }
    }

    /// The free tail of the buffer, as a pointer and a length for the kernel to write into.
    #[inline]
    pub fn read_space(&mut self) -> (*mut u8, usize) {
        let spare = self.buf.spare_capacity_mut();
        (spare.as_mut_ptr().cast(), spare.len())
    }

    /// Takes `n` bytes that a read put into [`ReadBuffer::read_space`].
    ///
    /// # Safety
    /// The first `n` bytes of the read space must have been written.
    #[inline]
    pub unsafe fn commit_read(&mut self, n: usize) {
        debug_assert!(n <= self.buf.capacity() - self.buf.len());
        // SAFETY: the caller guarantees that these bytes were written.
        unsafe { self.buf.set_len(self.buf.len() + n) };
    }

    /// Drops the first `n` bytes (the requests a batch executed) and remembers the buffer length the partial
    /// request left behind announced (`want`, 0 when unknown).
    #[inline]
    pub fn consume(&mut self, n: usize, want: usize) {
        self.buf.drain(..n);
        self.want = want;
    }

    /// The bytes not executed yet.
    #[inline]
    pub fn bytes(&self) -> &[u8] {
        &self.buf
    }

    /// The bytes as a vector, for readers that append to it themselves (tokio's `read_buf`, a blocked
    /// client's wait).
    #[inline]
    pub fn vec_mut(&mut self) -> &mut Vec<u8> {
        &mut self.buf
    }

    /// How many bytes are not executed yet.
    #[inline]
    pub fn len(&self) -> usize {
        self.buf.len()
    }

    /// True when every byte received was executed.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    /// The memory the buffer holds.
    #[inline]
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Copies `bytes` into the read space, as the kernel would.
    fn receive(b: &mut ReadBuffer, bytes: &[u8]) {
        b.reserve();
        let (ptr, len) = b.read_space();
        assert!(len >= bytes.len());
        // SAFETY: `ptr` points to at least `len` writable bytes, and exactly `bytes.len()` are committed.
        unsafe {
            ptr.copy_from_nonoverlapping(bytes.as_ptr(), bytes.len());
            b.commit_read(bytes.len());
        }
    }

    #[test]
    fn reads_append_and_executed_requests_leave_from_the_front() {
        let mut b = ReadBuffer::new();
        receive(&mut b, b"PING\r\nGE");
        receive(&mut b, b"T k\r\n");
        assert_eq!(b.bytes(), b"PING\r\nGET k\r\n");
        b.consume(6, 0);
        assert_eq!(b.bytes(), b"GET k\r\n");
        assert_eq!(b.len(), 7);
        b.consume(7, 0);
        assert!(b.is_empty());
    }

    #[test]
    fn an_announced_request_gets_room_for_all_of_it() {
        for mut b in [ReadBuffer::new(), ReadBuffer::compacting()] {
            receive(&mut b, b"$100000\r\n");
            b.consume(0, 100_011);
            b.reserve();
            assert!(b.read_space().1 >= 100_011 - b.len());
        }
    }

    #[test]
    fn only_a_compacting_buffer_gives_back_the_memory_of_a_large_request() {
        for (mut b, kept) in [(ReadBuffer::new(), true), (ReadBuffer::compacting(), false)] {
            // Announced by the request's header.
            b.consume(0, 2 * SHRINK_ABOVE);
            receive(&mut b, &vec![b'x'; 2 * SHRINK_ABOVE]);
            b.consume(2 * SHRINK_ABOVE, 0);
            b.reserve();
            assert_eq!(b.capacity() > SHRINK_ABOVE, kept);
            assert!(b.read_space().1 >= READ_CHUNK / 4);
        }
    }
}
