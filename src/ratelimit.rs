//! Rate limits per API key and per user (GCRA, through governor), by plan: a quota per minute with a
//! burst of the whole quota; and a budget of failed authentications per client address, past which
//! the address is refused. The counters live in this process: N instances behind a balancer allow
//! up to N times the quota (see ARCHITECTURE.md).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use crate::auth::Plan;
use crate::error::AppError;

type Limiter = RateLimiter<String, DefaultKeyedStateStore<String>, DefaultClock, StateInformationMiddleware>;

/// What a response tells the client about its quota (IETF draft-ietf-httpapi-ratelimit-headers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Usage {
    pub limit: u32,
    pub remaining: u32,
    /// Seconds until the quota is whole again.
    pub reset: u64,
}

impl Usage {
    /// `RateLimit-Policy`: `"default";q=1000;w=60`.
    pub fn policy_header(&self) -> String {
        format!("\"default\";q={};w=60", self.limit)
    }

    /// `RateLimit`: `"default";r=998;t=1`.
    pub fn header(&self) -> String {
        format!("\"default\";r={};t={}", self.remaining, self.reset)
    }
}

pub struct RateLimits {
    standard: (u32, Limiter),
    enterprise: (u32, Limiter),
}

fn limiter(per_minute: u32) -> (u32, Limiter) {
    let per_minute = per_minute.max(1);
    let quota = Quota::per_minute(NonZeroU32::new(per_minute).expect("at least 1"));
    (per_minute, RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>())
}

impl RateLimits {
    /// Quotas per minute for each plan.
    pub fn new(standard: u32, enterprise: u32) -> Self {
        Self { standard: limiter(standard), enterprise: limiter(enterprise) }
    }

    /// Counts one request of `principal` (on `plan`): its usage, or 429 when the quota is used up.
    pub fn check(&self, plan: Plan, principal: &str) -> Result<Usage, (Usage, AppError)> {
        let (limit, limiter) = match plan {
            Plan::Standard => &self.standard,
            Plan::Enterprise => &self.enterprise,
        };
        let limit = *limit;
        // With a burst of the whole quota, the bucket refills one request every 60/limit seconds.
        let refill = |missing: u32| (u64::from(missing) * 60).div_ceil(u64::from(limit));
        match limiter.check_key(&principal.to_string()) {
            Ok(state) => {
                let remaining = state.remaining_burst_capacity();
                Ok(Usage { limit, remaining, reset: refill(limit - remaining) })
            }
            Err(not_until) => {
                let wait = not_until.wait_time_from(limiter.clock().now());
                let retry_after = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
                let usage = Usage { limit, remaining: 0, reset: refill(limit) };
                Err((usage, AppError::RateLimited { limit, retry_after }))
            }
        }
    }

    /// Forgets principals whose buckets are full again (keeps memory bounded).
    pub fn forget_idle(&self) {
        self.standard.1.retain_recent();
        self.enterprise.1.retain_recent();
    }
}

/// Requests that failed authentication (401), counted per client address: bogus tokens, bogus API
/// keys, bogus refresh tokens, no credential at all. Past `limit` a minute, the address's requests
/// are refused with 429 until its budget has refilled enough for one more.
pub struct FailedAuth {
    limit: u32,
    limiter: RateLimiter<IpAddr, DefaultKeyedStateStore<IpAddr>, DefaultClock, StateInformationMiddleware>,
    blocked: Mutex<HashMap<IpAddr, Instant>>,
}

impl FailedAuth {
    pub fn new(per_minute: u32) -> Self {
        let limit = per_minute.max(1);
        let quota = Quota::per_minute(NonZeroU32::new(limit).expect("at least 1"));
        Self {
            limit,
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            blocked: Mutex::default(),
        }
    }

    /// `Err(429)` while `address` is refused.
    pub fn check(&self, address: IpAddr) -> Result<(), AppError> {
        let blocked = self.blocked.lock().unwrap_or_else(|e| e.into_inner()).get(&address).copied();
        match blocked.map(|until| until.saturating_duration_since(Instant::now())) {
            Some(wait) if !wait.is_zero() => Err(AppError::RateLimited {
                limit: self.limit,
                retry_after: wait.as_secs() + u64::from(wait.subsec_nanos() > 0),
            }),
            _ => Ok(()),
        }
    }

    /// Counts one failed authentication from `address`; once the budget is spent, refuses the
    /// address until it has refilled enough for one more.
    pub fn failed(&self, address: IpAddr) {
        let wait = match self.limiter.check_key(&address) {
            Ok(state) if state.remaining_burst_capacity() > 0 => return,
            // The last one: one more is allowed once a cell has refilled.
            Ok(_) => Duration::from_secs(60).div_f64(f64::from(self.limit)),
            Err(not_until) => not_until.wait_time_from(self.limiter.clock().now()),
        };
        let wait = wait.max(Duration::from_secs(1));
        self.blocked.lock().unwrap_or_else(|e| e.into_inner()).insert(address, Instant::now() + wait);
    }

    /// Forgets addresses whose budget is whole and whose refusal has ended.
    pub fn forget_idle(&self) {
        self.limiter.retain_recent();
        let now = Instant::now();
        self.blocked.lock().unwrap_or_else(|e| e.into_inner()).retain(|_, until| *until > now);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_quota_plus_one_is_refused_with_a_retry_time() {
        let limits = RateLimits::new(3, 100);
        for remaining in [2, 1, 0] {
            assert_eq!(limits.check(Plan::Standard, "key:a").unwrap().remaining, remaining);
        }
        let (usage, error) = limits.check(Plan::Standard, "key:a").unwrap_err();
        assert_eq!(usage.remaining, 0);
        assert!(matches!(error, AppError::RateLimited { limit: 3, retry_after } if (1..=20).contains(&retry_after)));
        assert!(limits.check(Plan::Standard, "key:b").is_ok(), "each principal has its own quota");
        assert_eq!(limits.check(Plan::Enterprise, "key:a").unwrap().limit, 100, "plans have their own limiters");
    }

    #[test]
    fn headers_follow_the_ietf_draft() {
        let usage = Usage { limit: 1000, remaining: 998, reset: 1 };
        assert_eq!(usage.policy_header(), "\"default\";q=1000;w=60");
        assert_eq!(usage.header(), "\"default\";r=998;t=1");
    }
}
