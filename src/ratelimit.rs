//! Rate limits per API key and per user (GCRA, through governor), by plan: a quota per minute with a
//! burst of the whole quota. The counters live in this process: N instances behind a balancer allow
//! up to N times the quota (see ARCHITECTURE.md).

use std::num::NonZeroU32;

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
