//! Deterministic inputs for tests: a seeded RNG and a minimal executor.

use rand_core::{CryptoRng, RngCore};
use sha2::{Digest, Sha256};
use std::future::Future;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

/// A deterministic RNG (SHA-256 in counter mode over a seed). For tests only: its output is
/// predictable from the seed, which is the point.
pub struct TestRng {
    seed: u64,
    counter: u64,
    buf: [u8; 32],
    pos: usize,
}

impl TestRng {
    /// A generator for `seed`.
    pub fn new(seed: u64) -> Self {
        TestRng {
            seed,
            counter: 0,
            buf: [0; 32],
            pos: 32,
        }
    }
}

impl RngCore for TestRng {
    fn next_u32(&mut self) -> u32 {
        let mut b = [0u8; 4];
        self.fill_bytes(&mut b);
        u32::from_le_bytes(b)
    }
    fn next_u64(&mut self) -> u64 {
        let mut b = [0u8; 8];
        self.fill_bytes(&mut b);
        u64::from_le_bytes(b)
    }
    fn fill_bytes(&mut self, dest: &mut [u8]) {
        for byte in dest {
            if self.pos == 32 {
                let mut h = Sha256::new();
                h.update(self.seed.to_le_bytes());
                h.update(self.counter.to_le_bytes());
                self.buf = h.finalize().into();
                self.counter += 1;
                self.pos = 0;
            }
            *byte = self.buf[self.pos];
            self.pos += 1;
        }
    }
    fn try_fill_bytes(&mut self, dest: &mut [u8]) -> Result<(), rand_core::Error> {
        self.fill_bytes(dest);
        Ok(())
    }
}

impl CryptoRng for TestRng {}

/// Runs a future that never waits on real I/O (the in-memory store and software crypto)
/// to completion.
pub fn block_on<F: Future>(fut: F) -> F::Output {
    let mut fut = pin!(fut);
    let mut cx = Context::from_waker(Waker::noop());
    loop {
        if let Poll::Ready(v) = fut.as_mut().poll(&mut cx) {
            return v;
        }
    }
}
