//! Rate limits of the platform's server: token buckets per credential (every request of an
//! authenticated caller) and per remote address (failed authentications, anonymous
//! requests).

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Token buckets by key: `rate` tokens a second, at most `burst` saved.
#[derive(Debug)]
pub struct Buckets {
    rate: f64,
    burst: f64,
    /// Most keys held; past it, full buckets are forgotten, and while none is full a new
    /// key is refused (a flood of addresses cannot grow the map).
    cap: usize,
    map: Mutex<HashMap<String, (f64, Instant)>>,
}

impl Buckets {
    /// Buckets of `rate` per second and `burst` at most, for up to `cap` keys.
    pub fn new(rate: f64, burst: f64, cap: usize) -> Buckets {
        Buckets {
            rate: rate.max(0.001),
            burst: burst.max(1.0),
            cap: cap.max(1),
            map: Mutex::new(HashMap::new()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (f64, Instant)>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn level(&self, (tokens, at): (f64, Instant), now: Instant) -> f64 {
        (tokens + now.duration_since(at).as_secs_f64() * self.rate).min(self.burst)
    }

    /// Takes a token of `key`'s bucket; when it is empty, how long until one is there.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut m = self.lock();
        if !m.contains_key(key) && m.len() >= self.cap {
            m.retain(|_, b| self.level(*b, now) < self.burst);
            if m.len() >= self.cap {
                return Err(Duration::from_secs(1));
            }
        }
        let b = m.entry(key.to_string()).or_insert((self.burst, now));
        let level = self.level(*b, now);
        if level >= 1.0 {
            *b = (level - 1.0, now);
            Ok(())
        } else {
            *b = (level, now);
            Err(Duration::from_secs_f64((1.0 - level) / self.rate))
        }
    }

    /// Whether `key` has a token left (none is taken).
    pub fn has(&self, key: &str) -> bool {
        let m = self.lock();
        m.get(key)
            .is_none_or(|b| self.level(*b, Instant::now()) >= 1.0)
    }
}

/// The server's limits by caller.
#[derive(Debug)]
pub struct Limiter {
    /// Requests per authenticated credential (anonymous callers: per remote address).
    pub per_credential: Buckets,
    /// Failed authentications per remote address.
    pub auth_failures: Buckets,
}

impl Limiter {
    /// `rate` requests a second per credential with bursts of `burst`; failed
    /// authentications 2 a second per address with bursts of 20.
    pub fn new(rate: f64, burst: f64) -> Limiter {
        Limiter {
            per_credential: Buckets::new(rate, burst, 100_000),
            auth_failures: Buckets::new(2.0, 20.0, 10_000),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_gives_its_burst_then_its_rate() {
        let b = Buckets::new(10.0, 3.0, 2);
        for _ in 0..3 {
            b.take("a").unwrap();
        }
        let wait = b.take("a").unwrap_err();
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert!(!b.has("a"));
        b.take("b").unwrap();
        // The map is full of buckets not full: a third key is refused.
        assert!(b.take("c").is_err());
        std::thread::sleep(Duration::from_millis(120));
        b.take("a").unwrap();
    }
}
