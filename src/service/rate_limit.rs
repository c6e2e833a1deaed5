//! A fixed-window rate limiter in memory: at most `limit` hits per key per window. It is
//! consulted before any expensive work (a password hash), so a flood costs a map lookup.
//! The map is bounded: past `max_keys` keys, windows that ended are dropped, and if that
//! is not enough the map starts over (an attacker able to fill it from many addresses
//! gains one fresh window, not unlimited attempts: the per-address limit still applies).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use sichat_core::Clock;

pub struct RateLimiter {
    limit: u32,
    window_ms: i64,
    max_keys: usize,
    clock: Arc<dyn Clock>,
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

impl RateLimiter {
    pub fn new(limit: u32, window: std::time::Duration, clock: Arc<dyn Clock>) -> Self {
        Self {
            limit,
            window_ms: window.as_millis() as i64,
            max_keys: 100_000,
            clock,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Counts a hit for `key`: `Ok` while within the limit, else `Err(seconds)` until the
    /// window ends (at least 1).
    pub fn hit(&self, key: &str) -> Result<(), u64> {
        let now = self.clock.now_millis();
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= self.max_keys && !windows.contains_key(key) {
            let window = self.window_ms;
            windows.retain(|_, (start, _)| now - *start < window);
            if windows.len() >= self.max_keys {
                windows.clear();
            }
        }
        let entry = windows.entry(key.to_owned()).or_insert((now, 0));
        if now - entry.0 >= self.window_ms {
            *entry = (now, 0);
        }
        if entry.1 >= self.limit {
            let left_ms = entry.0 + self.window_ms - now;
            return Err(((left_ms + 999) / 1000).max(1) as u64);
        }
        entry.1 += 1;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sichat_core::clock::ManualClock;

    #[test]
    fn limits_per_key_and_window() {
        let clock = Arc::new(ManualClock::new(1_000_000));
        let limiter = RateLimiter::new(2, std::time::Duration::from_secs(60), clock.clone());
        assert!(limiter.hit("a").is_ok());
        assert!(limiter.hit("a").is_ok());
        assert_eq!(limiter.hit("a"), Err(60));
        assert!(limiter.hit("b").is_ok(), "another key has its own window");
        clock.advance(59_000);
        assert_eq!(limiter.hit("a"), Err(1));
        clock.advance(1_000);
        assert!(limiter.hit("a").is_ok(), "a new window");
    }

    #[test]
    fn the_map_is_bounded() {
        let clock = Arc::new(ManualClock::new(0));
        let mut limiter = RateLimiter::new(1, std::time::Duration::from_secs(60), clock);
        limiter.max_keys = 10;
        for i in 0..100 {
            assert!(limiter.hit(&format!("k{i}")).is_ok());
        }
        assert!(limiter.windows.lock().unwrap().len() <= 10);
    }
}
