//! A bounded retry loop for calls that answer `CS_ERR_TRY_AGAIN`.
//!
//! corosync answers `CS_ERR_TRY_AGAIN` while it synchronizes a new membership
//! or while its queues are full. C programs such as pacemaker and dlm wrap
//! their calls in hand-written retry loops; [`Retry`] is that loop, bounded
//! in attempts and with a configurable back-off.

use std::ops::ControlFlow;
use std::time::Duration;

use crate::Result;

/// How often, and how patiently, to repeat a call that fails with
/// [`Error::TryAgain`](crate::Error::TryAgain).
///
/// The first attempt runs at once; after the n-th failure the loop sleeps
/// `initial_delay * multiplier^(n-1)`, capped at `max_delay`. Any other result
/// (success or another error) ends the loop at once. When every attempt
/// answered `TryAgain`, the last `TryAgain` is returned.
///
/// ```
/// use corosync::Retry;
/// use std::time::Duration;
///
/// # fn send() -> corosync::Result<()> { Ok(()) }
/// let policy = Retry::new(20).delays(Duration::from_millis(5), Duration::from_millis(500));
/// policy.run(|| send())?;
/// # Ok::<(), corosync::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retry {
    attempts: u32,
    initial_delay: Duration,
    max_delay: Duration,
    multiplier: u32,
}

impl Default for Retry {
    /// 30 attempts, sleeping 10 ms after the first failure, doubling up to
    /// 1 s: about 15 s in all before giving up.
    fn default() -> Self {
        Retry {
            attempts: 30,
            initial_delay: Duration::from_millis(10),
            max_delay: Duration::from_secs(1),
            multiplier: 2,
        }
    }
}

impl Retry {
    /// At most `attempts` attempts (at least one is always made), with the
    /// default back-off.
    pub fn new(attempts: u32) -> Self {
        Retry {
            attempts: attempts.max(1),
            ..Retry::default()
        }
    }

    /// Sleep `initial` after the first failure, growing up to `max`.
    pub fn delays(mut self, initial: Duration, max: Duration) -> Self {
        self.initial_delay = initial;
        self.max_delay = max.max(initial);
        self
    }

    /// Multiply the delay by `multiplier` after each failure (1 keeps it
    /// constant; 0 is taken as 1).
    pub fn multiplier(mut self, multiplier: u32) -> Self {
        self.multiplier = multiplier.max(1);
        self
    }

    /// The most attempts this policy makes.
    pub fn attempts(&self) -> u32 {
        self.attempts
    }

    /// The sleep after failed attempt number `failure` (counted from 1).
    pub fn delay_after(&self, failure: u32) -> Duration {
        let factor = self
            .multiplier
            .checked_pow(failure.saturating_sub(1))
            .unwrap_or(u32::MAX);
        self.initial_delay
            .checked_mul(factor)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// Runs `op` until it returns anything but [`Error::TryAgain`](crate::Error::TryAgain), at most
    /// [`Retry::attempts`] times, sleeping the calling thread in between.
    pub fn run<T>(&self, op: impl FnMut() -> Result<T>) -> Result<T> {
        self.run_with_sleep(op, std::thread::sleep)
    }

    /// [`Retry::run`] with a sleep function of the caller's choice (a test
    /// clock, or a loop that dispatches while it waits).
    pub fn run_with_sleep<T>(
        &self,
        mut op: impl FnMut() -> Result<T>,
        mut sleep: impl FnMut(Duration),
    ) -> Result<T> {
        let mut backoff = self.backoff();
        loop {
            match backoff.after(op()) {
                ControlFlow::Continue(delay) => sleep(delay),
                ControlFlow::Break(result) => return result,
            }
        }
    }

    /// The state of one run of this policy, for loops that sleep their own
    /// way (the async retry of `corosync::tokio`).
    pub(crate) fn backoff(&self) -> Backoff {
        Backoff {
            policy: *self,
            failures: 0,
        }
    }
}

/// One run of a [`Retry`] policy: counts the failed attempts and says what
/// comes after each.
pub(crate) struct Backoff {
    policy: Retry,
    failures: u32,
}

impl Backoff {
    /// What follows an attempt that answered `result`: `Continue(delay)` to
    /// sleep `delay` and try again (a `TryAgain` with attempts left), or
    /// `Break` with the result to return.
    pub(crate) fn after<T>(&mut self, result: Result<T>) -> ControlFlow<Result<T>, Duration> {
        match result {
            Err(err) if err.is_retryable() => {
                self.failures += 1;
                if self.failures >= self.policy.attempts {
                    ControlFlow::Break(Err(err))
                } else {
                    ControlFlow::Continue(self.policy.delay_after(self.failures))
                }
            }
            other => ControlFlow::Break(other),
        }
    }
}

/// Runs `op` with the default [`Retry`] policy.
pub fn retry<T>(op: impl FnMut() -> Result<T>) -> Result<T> {
    Retry::default().run(op)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Error;

    #[test]
    fn stops_at_success_after_try_again() {
        let mut calls = 0;
        let mut slept = Vec::new();
        let policy = Retry::new(5).delays(Duration::from_millis(1), Duration::from_millis(3));
        let out = policy.run_with_sleep(
            || {
                calls += 1;
                if calls < 4 {
                    Err(Error::TryAgain)
                } else {
                    Ok(calls)
                }
            },
            |d| slept.push(d),
        );
        assert_eq!(out, Ok(4));
        assert_eq!(
            slept,
            [1, 2, 3].map(Duration::from_millis),
            "doubling, capped at max"
        );
    }

    #[test]
    fn gives_up_after_the_attempts_with_try_again() {
        let mut calls = 0;
        let out: Result<()> = Retry::new(3).run_with_sleep(
            || {
                calls += 1;
                Err(Error::TryAgain)
            },
            |_| {},
        );
        assert_eq!(out, Err(Error::TryAgain));
        assert_eq!(calls, 3);
    }

    #[test]
    fn other_errors_are_not_retried() {
        let mut calls = 0;
        let out: Result<()> = Retry::new(10).run_with_sleep(
            || {
                calls += 1;
                Err(Error::Library)
            },
            |_| panic!("must not sleep"),
        );
        assert_eq!(out, Err(Error::Library));
        assert_eq!(calls, 1);
    }

    #[test]
    fn zero_attempts_still_makes_one_and_sleeps_for_real() {
        let mut calls = 0;
        let started = std::time::Instant::now();
        let policy = Retry::new(0).delays(Duration::from_millis(20), Duration::from_millis(20));
        assert_eq!(policy.attempts(), 1);
        let out: Result<()> = policy.run(|| {
            calls += 1;
            Err(Error::TryAgain)
        });
        assert_eq!((out, calls), (Err(Error::TryAgain), 1));
        let two = Retry::new(2).delays(Duration::from_millis(20), Duration::from_millis(20));
        let _ = two.run(|| Err::<(), _>(Error::TryAgain));
        assert!(started.elapsed() >= Duration::from_millis(20));
    }

    #[test]
    fn a_backoff_says_what_follows_each_attempt() {
        let ms = Duration::from_millis;
        let policy = Retry::new(3).delays(ms(1), ms(4));
        let mut backoff = policy.backoff();
        let try_again = || Err::<(), _>(Error::TryAgain);
        assert_eq!(backoff.after(try_again()), ControlFlow::Continue(ms(1)));
        assert_eq!(backoff.after(try_again()), ControlFlow::Continue(ms(2)));
        assert_eq!(
            backoff.after(try_again()),
            ControlFlow::Break(Err(Error::TryAgain)),
            "the third failure was the last attempt"
        );
        let mut backoff = policy.backoff();
        assert_eq!(backoff.after(Ok(5)), ControlFlow::Break(Ok(5)));
        assert_eq!(
            backoff.after::<()>(Err(Error::Library)),
            ControlFlow::Break(Err(Error::Library))
        );
    }

    #[test]
    fn huge_backoff_saturates_at_max() {
        let policy = Retry::new(100)
            .delays(Duration::from_secs(1), Duration::from_secs(7))
            .multiplier(10);
        assert_eq!(policy.delay_after(1), Duration::from_secs(1));
        assert_eq!(policy.delay_after(2), Duration::from_secs(7));
        assert_eq!(policy.delay_after(90), Duration::from_secs(7));
        assert_eq!(
            Retry::default().multiplier(0).delay_after(5),
            Duration::from_millis(10)
        );
    }
}
