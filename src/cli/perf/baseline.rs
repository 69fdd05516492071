//! The baseline measured in the same run, since these machines are shared and noisy: a
//! plain TCP copy over 127.0.0.1 (`loopback`) or a `memcpy` of the same volume.

use std::io::{Read, Write};
use std::net::{Shutdown, TcpListener, TcpStream};
use std::time::Instant;

use super::workload::Rng;

/// What to measure the figures against.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum Baseline {
    /// One TCP connection over 127.0.0.1 copying the same bytes in 1 MiB writes.
    Loopback,
    /// `memcpy` of the same bytes between two 64 MiB buffers.
    Memcpy,
    /// No baseline.
    None,
}

impl Baseline {
    pub fn name(self) -> &'static str {
        match self {
            Baseline::Loopback => "loopback",
            Baseline::Memcpy => "memcpy",
            Baseline::None => "none",
        }
    }
}

const MIB: u64 = 1 << 20;
/// The volume is clamped to this range: big enough to time, small enough to be quick.
pub const MIN_VOLUME: u64 = 64 * MIB;
pub const MAX_VOLUME: u64 = 2048 * MIB;

/// The baseline's MB/s (10^6 bytes per second) over `volume` bytes (clamped).
pub fn measure(kind: Baseline, volume: u64) -> std::io::Result<Option<f64>> {
    let volume = volume.clamp(MIN_VOLUME, MAX_VOLUME);
    match kind {
        Baseline::Loopback => loopback(volume).map(Some),
        Baseline::Memcpy => Ok(Some(memcpy(volume))),
        Baseline::None => Ok(None),
    }
}

fn chunk(len: usize) -> Vec<u8> {
    let mut v = vec![0u8; len];
    Rng::new(42).fill(&mut v);
    v
}

fn loopback(volume: u64) -> std::io::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let addr = listener.local_addr()?;
    let reader = std::thread::spawn(move || -> std::io::Result<u64> {
        let (mut s, _) = listener.accept()?;
        let mut buf = vec![0u8; MIB as usize];
        let mut total = 0u64;
        loop {
            match s.read(&mut buf) {
                Ok(0) => return Ok(total),
                Ok(n) => total += n as u64,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
    });
    let data = chunk(MIB as usize);
    let mut w = TcpStream::connect(addr)?;
    let t0 = Instant::now();
    let mut left = volume;
    while left > 0 {
        let n = left.min(MIB) as usize;
        w.write_all(&data[..n])?;
        left -= n as u64;
    }
    w.shutdown(Shutdown::Write)?;
    let read = reader
        .join()
        .map_err(|_| std::io::Error::other("the loopback reader panicked"))??;
    let secs = t0.elapsed().as_secs_f64().max(1e-9);
    if read != volume {
        return Err(std::io::Error::other(format!(
            "loopback copy read {read} of {volume} bytes"
        )));
    }
    Ok(volume as f64 / secs / 1e6)
}

fn memcpy(volume: u64) -> f64 {
    let len = (64 * MIB) as usize;
    let src = chunk(len);
    let mut dst = vec![1u8; len];
    let t0 = Instant::now();
    let mut left = volume;
    while left > 0 {
        let n = left.min(len as u64) as usize;
        dst[..n].copy_from_slice(&src[..n]);
        std::hint::black_box(&mut dst);
        left -= n as u64;
    }
    volume as f64 / t0.elapsed().as_secs_f64().max(1e-9) / 1e6
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn baselines_measure_something() {
        assert!(measure(Baseline::Loopback, 1).unwrap().unwrap() > 0.0);
        assert!(measure(Baseline::Memcpy, 1).unwrap().unwrap() > 0.0);
        assert_eq!(measure(Baseline::None, 1).unwrap(), None);
    }
}
