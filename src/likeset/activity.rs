//! Time-striped counters of recent likes, answering LIKE.RATE.
//!
//! Two windows: the last minute in 10-second stripes and the last hour in
//! 10-minute stripes (stripe width 1/6 of each window). The oldest stripe of a
//! window only partly overlaps it; it is counted pro rata, the usual
//! sliding-window estimate.
//!
//! Most keys see their recent likes inside one 10-second stripe (or none), so
//! the state starts as one inline word `(stripe, count)`; the two rings (64
//! bytes) are allocated only when likes arrive in a second stripe within the
//! hour, and dropped again once the hour has passed without likes.

/// Width of a minute-window stripe, in milliseconds.
pub const MINUTE_STRIPE_MS: u64 = 10_000;
/// Minute-window stripes per hour-window stripe (10 minutes).
const HOUR_STRIPE_FACTOR: u64 = 60;
/// Stripes per window: six full stripes plus the current partial one.
const RING: usize = 7;

/// Likes added in the last 60 and 3,600 seconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Rate {
    pub minute: u64,
    pub hour: u64,
}

/// The two rings. `last` is the minute-stripe index of the newest write.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Rings {
    pub last: u32,
    pub minute: [u32; RING],
    pub hour: [u32; RING],
}

/// Recent-activity state of one like-set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Activity {
    /// Every add of the last hour fell in minute-stripe `stripe`; `count == 0` means none.
    Inline {
        stripe: u32,
        count: u32,
    },
    Rings(Box<Rings>),
}

impl Default for Activity {
    fn default() -> Self {
        Activity::Inline { stripe: 0, count: 0 }
    }
}

/// Minute-stripe index of a time. Fits u32 until the year 3331.
pub fn stripe_of(now_ms: u64) -> u32 {
    u32::try_from(now_ms / MINUTE_STRIPE_MS).unwrap_or(u32::MAX)
}

impl Activity {
    /// Records `n` likes added at `now_ms`.
    pub fn record(&mut self, now_ms: u64, n: u32) {
        if n == 0 {
            return;
        }
        let now = stripe_of(now_ms);
        if let Some(newest) = self.newest_stripe().filter(|&s| s > now) {
            // Stamps ahead of this clock (a payload from a host whose clock ran
            // ahead, or a clock step back): count them as of now, so nothing
            // drops out of the windows.
            let hour = self.rate(u64::from(newest) * MINUTE_STRIPE_MS).hour;
            *self =
                Activity::Inline { stripe: now, count: u32::try_from(hour).unwrap_or(u32::MAX) };
        }
        match self {
            Activity::Inline { stripe, count } => {
                if *count == 0 || *stripe == now || !within_hour(*stripe, now) {
                    // Same stripe, or the old likes are out of both windows.
                    if *stripe != now {
                        *count = 0;
                    }
                    *stripe = now;
                    *count = count.saturating_add(n);
                    return;
                }
                // Likes in a second stripe within the hour: spread into rings.
                let mut rings = Box::new(Rings { last: *stripe, ..Rings::default() });
                rings.minute[slot(u64::from(*stripe))] = *count;
                rings.hour[slot(u64::from(*stripe) / HOUR_STRIPE_FACTOR)] = *count;
                rings.add(now, n);
                *self = Activity::Rings(rings);
            }
            Activity::Rings(rings) => {
                if !within_hour(rings.last, now) {
                    *self = Activity::Inline { stripe: now, count: n };
                } else {
                    rings.add(now, n);
                }
            }
        }
    }

    /// Likes added in the last minute and the last hour, as of `now_ms`.
    pub fn rate(&self, now_ms: u64) -> Rate {
        self.as_ref().rate(now_ms)
    }

    fn newest_stripe(&self) -> Option<u32> {
        self.as_ref().newest_stripe()
    }

    /// A borrowed view (reads without copying the rings).
    pub fn as_ref(&self) -> ActivityRef<'_> {
        match self {
            Activity::Inline { stripe, count } => {
                ActivityRef::Inline { stripe: *stripe, count: *count }
            }
            Activity::Rings(r) => ActivityRef::Rings(r),
        }
    }

    /// Heap bytes owned (the rings, when allocated).
    pub fn heap_bytes(&self) -> usize {
        self.as_ref().heap_bytes()
    }
}

/// A borrowed activity state: what rate queries read.
#[derive(Clone, Copy, Debug)]
pub enum ActivityRef<'a> {
    Inline { stripe: u32, count: u32 },
    Rings(&'a Rings),
}

impl ActivityRef<'_> {
    /// No recent likes.
    pub const NONE: ActivityRef<'static> = ActivityRef::Inline { stripe: 0, count: 0 };

    /// Likes added in the last minute and the last hour, as of `now_ms`.
    pub fn rate(self, now_ms: u64) -> Rate {
        // Never read before the newest stamp: likes stamped ahead of this
        // clock still count.
        let now_ms =
            self.newest_stripe().map_or(now_ms, |s| now_ms.max(u64::from(s) * MINUTE_STRIPE_MS));
        let r = self.raw_rate(now_ms);
        // The minute lies inside the hour; the pro-rata oldest stripes (or a
        // hand-made payload) could otherwise say more likes in the minute.
        Rate { minute: r.minute.min(r.hour), hour: r.hour }
    }

    fn raw_rate(self, now_ms: u64) -> Rate {
        match self {
            ActivityRef::Inline { stripe, count } => {
                let at = |target: u64, per: u64| -> u64 {
                    if u64::from(stripe) / per == target {
                        u64::from(count)
                    } else {
                        0
                    }
                };
                Rate {
                    minute: window(now_ms, 1, |s| at(s, 1)),
                    hour: window(now_ms, HOUR_STRIPE_FACTOR, |s| at(s, HOUR_STRIPE_FACTOR)),
                }
            }
            ActivityRef::Rings(r) => {
                let last = u64::from(r.last);
                let read = |ring: &[u32; RING], s: u64, newest: u64| -> u64 {
                    // A slot holds stripe s only if s is among the RING newest stripes.
                    if s <= newest && s + RING as u64 > newest {
                        u64::from(ring[slot(s)])
                    } else {
                        0
                    }
                };
                Rate {
                    minute: window(now_ms, 1, |s| read(&r.minute, s, last)),
                    hour: window(now_ms, HOUR_STRIPE_FACTOR, |s| {
                        read(&r.hour, s, last / HOUR_STRIPE_FACTOR)
                    }),
                }
            }
        }
    }

    /// Minute-stripe of the newest recorded like, if any.
    fn newest_stripe(self) -> Option<u32> {
        match self {
            ActivityRef::Inline { count: 0, .. } => None,
            ActivityRef::Inline { stripe, .. } => Some(stripe),
            ActivityRef::Rings(r) => Some(r.last),
        }
    }

    /// Heap bytes of the rings, when allocated.
    pub fn heap_bytes(self) -> usize {
        match self {
            ActivityRef::Inline { .. } => 0,
            ActivityRef::Rings(_) => super::allocated(std::mem::size_of::<Rings>()),
        }
    }

    pub fn to_owned(self) -> Activity {
        match self {
            ActivityRef::Inline { stripe, count } => Activity::Inline { stripe, count },
            ActivityRef::Rings(r) => Activity::Rings(Box::new(r.clone())),
        }
    }
}

/// An activity state in one word, for the packed block's header: inline
/// `stripe << 32 | count << 1 | 1` (count saturating at 2^31-1), or the
/// (even) pointer to the rings, which the word owns. Pointer-typed, so the
/// rings keep their provenance (Miri checks it with -Zmiri-strict-provenance).
#[repr(transparent)]
pub struct ActivityWord(*mut Rings);

impl ActivityWord {
    pub fn new(a: Activity) -> ActivityWord {
        ActivityWord(match a {
            Activity::Inline { stripe, count } => {
                let bits = (u64::from(stripe) << 32) | (u64::from(count.min(i32::MAX as u32)) << 1);
                std::ptr::without_provenance_mut((bits | 1) as usize)
            }
            Activity::Rings(r) => Box::into_raw(r),
        })
    }

    fn rings(&self) -> Option<*mut Rings> {
        (self.0.addr() & 1 == 0).then_some(self.0)
    }

    pub fn get(&self) -> ActivityRef<'_> {
        match self.rings() {
            // SAFETY: an even word is the pointer from Box::into_raw in `new`,
            // owned by this word until `take` or drop; the borrow of self keeps
            // it alive and unmodified for the returned lifetime.
            Some(rings) => ActivityRef::Rings(unsafe { &*rings }),
            None => {
                let bits = self.0.addr() as u64;
                ActivityRef::Inline {
                    stripe: (bits >> 32) as u32,
                    count: ((bits >> 1) as u32) & (i32::MAX as u32),
                }
            }
        }
    }

    /// Moves the state out, leaving no recent activity.
    pub fn take(&mut self) -> Activity {
        let word = std::mem::replace(self, ActivityWord::new(Activity::default()));
        let word = std::mem::ManuallyDrop::new(word);
        match word.rings() {
            // SAFETY: the pointer came from Box::into_raw in `new`; `word` is
            // forgotten (ManuallyDrop), so the Box is rebuilt exactly once.
            Some(rings) => Activity::Rings(unsafe { Box::from_raw(rings) }),
            None => word.get().to_owned(),
        }
    }
}

impl Clone for ActivityWord {
    fn clone(&self) -> ActivityWord {
        ActivityWord::new(self.get().to_owned())
    }
}

impl Drop for ActivityWord {
    fn drop(&mut self) {
        drop(self.take());
    }
}

impl Rings {
    fn add(&mut self, now: u32, n: u32) {
        let (last, now64) = (u64::from(self.last), u64::from(now));
        if now64 > last {
            clear_between(&mut self.minute, last, now64);
            clear_between(&mut self.hour, last / HOUR_STRIPE_FACTOR, now64 / HOUR_STRIPE_FACTOR);
            self.last = now;
        }
        // A clock that stepped back lands in the newest stripe: never lose a like.
        let at = u64::from(self.last);
        let m = &mut self.minute[slot(at)];
        *m = m.saturating_add(n);
        let h = &mut self.hour[slot(at / HOUR_STRIPE_FACTOR)];
        *h = h.saturating_add(n);
    }
}

fn slot(stripe: u64) -> usize {
    (stripe % RING as u64) as usize
}

/// Zeroes the slots of stripes in (old, new], at most the whole ring.
fn clear_between(ring: &mut [u32; RING], old: u64, new: u64) {
    let steps = (new - old).min(RING as u64);
    for k in 0..steps {
        ring[slot(new - k)] = 0;
    }
}

/// True when minute-stripe `stripe` still counts in the hour window at `now`.
fn within_hour(stripe: u32, now: u32) -> bool {
    let (s, n) = (u64::from(stripe) / HOUR_STRIPE_FACTOR, u64::from(now) / HOUR_STRIPE_FACTOR);
    s + RING as u64 > n
}

/// Sliding-window sum over stripes of `per` minute-stripes each: the current
/// and five previous stripes in full, the sixth previous pro rata.
fn window(now_ms: u64, per: u64, count_at: impl Fn(u64) -> u64) -> u64 {
    let width = MINUTE_STRIPE_MS * per;
    let current = now_ms / width;
    let elapsed = now_ms % width;
    let mut sum = 0;
    for back in 0..(RING as u64 - 1) {
        if let Some(s) = current.checked_sub(back) {
            sum += count_at(s);
        }
    }
    if let Some(oldest) = current.checked_sub(RING as u64 - 1) {
        sum += count_at(oldest) * (width - elapsed) / width;
    }
    sum
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_789_999_800_000; // an hour-stripe boundary (divisible by 600 s)

    #[test]
    fn inline_counts_within_one_stripe() {
        let mut a = Activity::default();
        a.record(T0, 1);
        a.record(T0 + 5_000, 2);
        assert!(matches!(a, Activity::Inline { count: 3, .. }));
        assert_eq!(a.rate(T0 + 5_000), Rate { minute: 3, hour: 3 });
        // 2 minutes later: out of the minute window, still in the hour.
        assert_eq!(a.rate(T0 + 120_000), Rate { minute: 0, hour: 3 });
        assert_eq!(a.rate(T0 + 2 * 3_600_000), Rate { minute: 0, hour: 0 });
    }

    #[test]
    fn rings_spread_and_expire() {
        let mut a = Activity::default();
        a.record(T0, 1);
        a.record(T0 + 30_000, 4);
        assert!(matches!(a, Activity::Rings(_)));
        assert_eq!(a.rate(T0 + 30_000), Rate { minute: 5, hour: 5 });
        assert_eq!(a.rate(T0 + 100_000).minute, 0);
        assert_eq!(a.rate(T0 + 100_000).hour, 5);
        // After an hour and more, the next like drops the rings again.
        a.record(T0 + 5 * 3_600_000, 1);
        assert!(matches!(a, Activity::Inline { count: 1, .. }));
        assert_eq!(a.rate(T0 + 5 * 3_600_000), Rate { minute: 1, hour: 1 });
    }

    #[test]
    fn oldest_stripe_is_pro_rata() {
        let mut a = Activity::default();
        a.record(T0, 10);
        // 65 s later the stripe [T0, T0+10s) overlaps the window by 5 s of 10.
        assert_eq!(a.rate(T0 + 65_000).minute, 5);
    }

    #[test]
    fn clock_step_back_keeps_likes() {
        let mut a = Activity::default();
        a.record(T0 + 60_000, 1);
        a.record(T0 + 20_000, 1);
        a.record(T0, 1);
        assert_eq!(a.rate(T0 + 60_000).minute, 3);
    }

    #[test]
    fn stamps_from_the_future_keep_counting() {
        for mut a in [Activity::Inline { stripe: stripe_of(T0 + 60_000), count: 3 }, {
            let mut r = Activity::default();
            r.record(T0 + 60_000, 1);
            r.record(T0 + 90_000, 2);
            r
        }] {
            assert_eq!(a.rate(T0).minute, 3);
            a.record(T0, 2);
            assert_eq!(a.rate(T0), Rate { minute: 5, hour: 5 });
            assert_eq!(a.rate(T0 + 5_000).minute, 5);
        }
    }

    #[test]
    fn long_gaps_clear_the_ring() {
        let mut a = Activity::default();
        for k in 0..40u64 {
            a.record(T0 + k * 10_000, 1);
        }
        // At a stripe boundary the window [now-60 s, now] covers 7 stripes in full.
        let r = a.rate(T0 + 39 * 10_000);
        assert_eq!(r.minute, 7);
        assert_eq!(r.hour, 40);
        // Half-way through the stripe, the oldest one counts half.
        assert_eq!(a.rate(T0 + 39 * 10_000 + 5_000).minute, 6);
    }
}
